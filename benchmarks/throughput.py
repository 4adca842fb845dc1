"""Throughput of `trailsentry scan` against a bare gunzip + orjson loop, as whole processes.

    python -m benchmarks.throughput            # builds or reuses the corpora, prints the table
    python -m benchmarks.throughput --profile  # the scan in-process under cProfile, top functions

Each variant runs as its own process (wall clock, best of `--repeat`), on the
full corpus and on one a quarter of its size, so the peak RSS (ru_maxrss of
the child) shows whether memory grows with the corpus:

- bare:                  read each file, gunzip, orjson.loads; nothing else
- bare, GC paused:       the same with the cyclic collector disabled around each parse; the parsed
                         batch is still alive when it resumes, so its next run walks the batch once
- bare, GC paused+freed: the batch is also dropped before the collector resumes (the floor)
- bare, ISA-L:            the floor again, inflating with ISA-L (`isal`) as trailsentry does when it is
                         installed: the honest floor for the scan below
- scan:                  `trailsentry scan --format jsonl --no-progress DIR > /dev/null`, every
                         detector on (scan pauses the collector and frees each batch the same way)
- scan, mission only:    the same with only the foundation's eight mission detectors enabled, so the
                         whole catalog's own cost shows
- scan, baseline:        the scan of an earlier commit (`--baseline REV`, by default the foundation's,
                         whose figures head RESULTS.md), extracted with `git archive` and timed in the
                         same rounds: figures taken in different sessions on a shared machine cannot be compared,
                         so the catalog's bar (within 10% of the foundation) is checked against a re-run

`--memory-size N` (e.g. 2000000) also scans a corpus of N events once: the
engine remembers up to 2 x dedupe_capacity (500,000) eventIDs, so its peak RSS
grows until about 1,000,000 events and must stay flat after.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import platform
import pstats
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.corpus import DEFAULT_DIR, DEFAULT_OBJECT_BYTES, Manifest, build_corpus

# The bare loop, kept as small as possible: what any CloudTrail reader must at least do.
BARE_LOOP = """
import gc, os, sys, zlib
import orjson
root, mode = sys.argv[1], sys.argv[2]
if mode == "isal":
    from isal import isal_zlib
    def inflate(data):
        return isal_zlib.decompressobj(wbits=31).decompress(data)
else:
    def inflate(data):
        return zlib.decompress(data, 16 + zlib.MAX_WBITS)
paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".json.gz"))
events = 0
for path in paths:
    with open(path, "rb") as handle:
        data = handle.read()
    if mode != "plain":
        gc.disable()
    records = orjson.loads(inflate(data))["Records"]
    events += len(records)
    if mode in ("freed", "isal"):
        del records
    if mode != "plain":
        gc.enable()
print(events)
"""

_SCANNED = re.compile(r"scanned (\d+) file\(s\), [\d,]+ bytes, ([\d,]+) events")


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    cpu_seconds: float  # user + system time of the child: steadier than wall time on a shared machine
    max_rss_bytes: int
    events: int


@dataclass(frozen=True, slots=True)
class Result:
    variant: str
    size: str
    best: Run
    runs: tuple[Run, ...]

    def rate(self) -> float:
        return self.best.events / self.best.seconds

    def cpu_rate(self) -> float:
        best_cpu = min(run.cpu_seconds for run in self.runs)
        return self.best.events / best_cpu


VARIANTS = ("bare", "bare-gc-paused", "bare-gc-freed", "bare-isal", "scan", "scan-mission")
BASELINE = "scan-baseline"
# The foundation's commit: its benchmark results are the first table of benchmarks/RESULTS.md.
FOUNDATION_REVISION = "73a28c3"
REPOSITORY = Path(__file__).resolve().parent.parent
LABELS = {
    "bare": "bare loop (gunzip + orjson.loads)",
    "bare-gc-paused": "bare loop, GC paused around each parse",
    "bare-gc-freed": "bare loop, GC paused, batch freed first",
    "bare-isal": "bare loop, GC paused+freed, ISA-L inflate",
    "scan": "trailsentry scan, every detector",
    "scan-mission": "trailsentry scan, mission detectors only",
    BASELINE: "trailsentry scan of the baseline commit",
}
_BARE_MODES = {"bare": "plain", "bare-gc-paused": "paused", "bare-gc-freed": "freed", "bare-isal": "isal"}
MISSION = ("root-console-login", "root-activity", "console-login-failure-burst", "console-password-spray",
           "access-denied-burst", "access-key-created", "console-login-without-mfa", "non-mfa-sensitive-call")
_MISSION_CONFIG = Path(os.environ.get("TMPDIR", "/tmp")) / "trailsentry-bench-mission.yaml"


def _mission_config() -> Path:
    """A config that disables every built-in detector but the mission's eight."""
    from monitor.rules.builtin import builtin_detectors

    lines = ["detectors:", *(f"  {d.id}: {{enabled: false}}" for d in builtin_detectors() if d.id not in MISSION)]
    _MISSION_CONFIG.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return _MISSION_CONFIG


def _trailsentry() -> list[str]:
    script = Path(sys.executable).parent / "trailsentry"
    return [str(script)] if script.exists() else [sys.executable, "-m", "monitor"]


def command(variant: str, directory: Path) -> list[str]:
    if variant in _BARE_MODES:
        return [sys.executable, "-c", BARE_LOOP, str(directory), _BARE_MODES[variant]]
    if variant == BASELINE:
        return [sys.executable, "-m", "monitor", "scan", "--format", "jsonl", "--no-progress", str(directory)]
    config = ["--config", str(_mission_config())] if variant == "scan-mission" else []
    return [*_trailsentry(), "scan", "--format", "jsonl", "--no-progress", *config, str(directory)]


def extract_revision(revision: str, into: Path) -> Path:
    """The `monitor` and `detectors` packages of a commit, for the baseline scan (which runs on this venv)."""
    archive = subprocess.run(["git", "-C", str(REPOSITORY), "archive", "--format=tar", revision, "monitor",
                              "detectors"], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def _scan_events(stderr: str) -> int:
    match = _SCANNED.search(stderr)
    if match is None:
        raise RuntimeError(f"scan printed no summary: {stderr[-2000:]}")
    return int(match.group(2).replace(",", ""))


def measure(variant: str, directory: Path, baseline: Path | None = None) -> Run:
    """Run with os.wait4 so the child's own rusage (not the sum over all children) is read.

    `baseline` is where the baseline commit was extracted (only for the baseline variant): its packages
    come first on the path, and it runs from there.
    """
    env = None if baseline is None else {**os.environ, "PYTHONPATH": str(baseline)}
    started = time.perf_counter()
    child = subprocess.Popen(command(variant, directory),
                             stdout=subprocess.DEVNULL if variant.startswith("scan") else subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, cwd=baseline)
    # Drain the pipes before reaping: a full pipe would block the child.
    out = child.stdout.read() if child.stdout is not None else b""
    err = child.stderr.read() if child.stderr is not None else b""
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{variant} failed ({child.returncode}): {err.decode(errors='replace')[-2000:]}")
    events = int(out) if not variant.startswith("scan") else _scan_events(err.decode())
    return Run(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, events)


def bench(directory: Path, size: str, repeat: int, variants: Sequence[str] = VARIANTS,
          baseline: Path | None = None) -> list[Result]:
    runs: dict[str, list[Run]] = {v: [] for v in variants}
    for round_number in range(repeat):
        for variant in variants:  # interleaved, so drift on a shared machine hits every variant alike
            run = measure(variant, directory, baseline if variant == BASELINE else None)
            runs[variant].append(run)
            print(f"  {size} round {round_number + 1}: {variant:<15} {run.seconds:6.2f}s cpu {run.cpu_seconds:6.2f}s "
                  f"{run.events / run.seconds:>10,.0f} events/s  rss {run.max_rss_bytes / 2**20:,.0f} MiB",
                  file=sys.stderr)
    return [Result(v, size, min(runs[v], key=lambda r: r.seconds), tuple(runs[v])) for v in variants]


def paired_ratio(scan: Result, bare: Result) -> float:
    """The median over rounds of scan's rate over the bare loop's rate in the same round.

    Runs of one round are seconds apart, so a neighbour's load on a shared
    machine tends to slow both; the median of the pairs is steadier than the
    ratio of two best times that may come from different rounds.
    """
    ratios = sorted((b.seconds / s.seconds) for s, b in zip(scan.runs, bare.runs, strict=True))
    middle = len(ratios) // 2
    return ratios[middle] if len(ratios) % 2 else (ratios[middle - 1] + ratios[middle]) / 2


def report(results: Sequence[Result], manifests: dict[str, Manifest], revision: str = "") -> str:
    lines = [f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
             f"Python {platform.python_version()}, {platform.system()} {platform.release()}"]
    for size, manifest in manifests.items():
        lines.append(f"{size} corpus: {manifest.events:,} events, {manifest.objects} objects, "
                     f"{manifest.bytes_uncompressed / 1e6:,.0f} MB uncompressed "
                     f"({manifest.bytes_compressed / 1e6:,.0f} MB gzipped)")
    lines.append("")
    lines.append(f"{'corpus':<8} {'variant':<42} {'wall s':>7} {'events/s':>10} {'CPU events/s':>13} "
                 f"{'peak RSS':>10}")
    for result in results:
        lines.append(f"{result.size:<8} {LABELS[result.variant]:<42} {result.best.seconds:7.2f} "
                     f"{result.rate():10,.0f} {result.cpu_rate():13,.0f} "
                     f"{max(r.max_rss_bytes for r in result.runs) / 2**20:>6,.0f} MiB")
    lines.append("")
    by_key = {(r.size, r.variant): r for r in results}
    for size in manifests:
        if (size, "bare") not in by_key:
            continue
        scan = by_key[(size, "scan")]
        lines.append(f"{size}: scan events/s relative to each bare loop")
        for variant in _BARE_MODES:
            bare = by_key[(size, variant)]
            lines.append(f"  vs {LABELS[variant]:<42} {scan.rate() / bare.rate():.2f}x best wall, "
                         f"{scan.cpu_rate() / bare.cpu_rate():.2f}x best CPU, "
                         f"{paired_ratio(scan, bare):.2f}x median of rounds")
        for other, label in (("scan-mission", "mission detectors only"), (BASELINE, f"baseline {revision}")):
            result = by_key.get((size, other))
            if result is not None:
                lines.append(f"  whole catalog vs {label}: {scan.rate() / result.rate():.3f}x best wall, "
                             f"{scan.cpu_rate() / result.cpu_rate():.3f}x best CPU, "
                             f"{paired_ratio(scan, result):.3f}x median of rounds")
    return "\n".join(lines) + "\n"


def profile(directory: Path, top: int) -> None:
    """Run the scan in-process under cProfile (slower than real: the profiler taxes every call)."""
    from monitor import cli

    profiler = cProfile.Profile()
    sink = io.TextIOWrapper(open(os.devnull, "wb"))  # noqa: SIM115 - closed below
    try:
        with contextlib.redirect_stdout(sink):
            profiler.runcall(cli.main, ["scan", "--format", "jsonl", "--no-progress", str(directory)])
    finally:
        sink.close()
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the full corpus")
    parser.add_argument("--corpus-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--object-bytes", type=int, default=DEFAULT_OBJECT_BYTES)
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant; the best counts")
    parser.add_argument("--only-full", action="store_true", help="skip the quarter-size corpus")
    parser.add_argument("--memory-size", type=int, default=0, metavar="N",
                        help="also scan a corpus of N events once, for peak RSS (e.g. 2000000)")
    parser.add_argument("--profile", action="store_true", help="profile the scan in-process instead")
    parser.add_argument("--top", type=int, default=30, help="functions shown by --profile")
    parser.add_argument("--baseline", default=FOUNDATION_REVISION, metavar="REV",
                        help="git revision whose scan is timed in the same rounds (default: the foundation's "
                             f"{FOUNDATION_REVISION}; 'none' to skip)")
    args = parser.parse_args(argv)

    sizes = {"full": args.events} if args.only_full or args.profile else {"full": args.events,
                                                                           "quarter": args.events // 4}
    if args.memory_size and not args.profile:
        sizes["memory"] = args.memory_size
    manifests: dict[str, Manifest] = {}
    directories: dict[str, Path] = {}
    for size, events in sizes.items():
        directories[size] = args.corpus_dir / f"events-{events}"
        manifests[size] = build_corpus(directories[size], events, object_bytes=args.object_bytes)
    if args.profile:
        profile(directories["full"], args.top)
        return 0
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="trailsentry-baseline-") as scratch:
        baseline = None if args.baseline == "none" else extract_revision(args.baseline, Path(scratch))
        variants = VARIANTS if baseline is None else (*VARIANTS, BASELINE)
        for size in sizes:
            print(f"timing {size} corpus ({directories[size]})", file=sys.stderr)
            if size == "memory":
                results.extend(bench(directories[size], size, 1, ("scan",)))
            else:
                results.extend(bench(directories[size], size, args.repeat, variants, baseline))
    for result in results:
        expected = manifests[result.size].events
        if result.best.events != expected:
            raise RuntimeError(f"{result.variant} saw {result.best.events} events, the corpus has {expected}")
    sys.stdout.write(report(results, manifests, args.baseline))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
