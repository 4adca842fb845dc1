"""Throughput of `trailsentry scan` against a bare gunzip + orjson loop, as whole processes.

    python -m benchmarks.throughput            # builds or reuses the corpora, prints the table
    python -m benchmarks.throughput --profile  # the scan in-process under cProfile, top functions

Each variant runs as its own process (wall clock, best of `--repeat`, interleaved so a neighbour's load
hits every variant alike), on the full corpus and on one a quarter of its size, so the peak RSS shows
whether memory grows with the corpus:

- bare:                  read each file, gunzip (zlib), orjson.loads; nothing else: what any CloudTrail
                         reader must at least do, and the reference the targets are stated against
- bare, ISA-L floor:     the same with ISA-L inflate, the cyclic collector paused and each batch freed
                         before it resumes: the fastest the parse underneath trailsentry could go
- scan, 1 worker:        `trailsentry scan --workers 1 --format jsonl --no-progress DIR > /dev/null`,
                         every detector on, the learners included
- scan, 2 workers:       the same with `--workers 2` (worker processes decode and detect; this process
                         applies their findings to the state in order)
- scan, mission only:    one worker with only the eight mission detectors enabled, so the whole catalog's
                         own cost shows

The peak RSS is the largest resident set of any one process of the run (with workers: the main process
or a worker, whichever is larger). `--memory-size N` (e.g. 2000000) also scans a corpus of N events once:
the engine remembers up to 2 x dedupe_capacity (500,000) eventIDs, so its peak RSS grows until about
1,000,000 events and must stay flat after.
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
    if mode == "isal":
        gc.disable()
    records = orjson.loads(inflate(data))["Records"]
    events += len(records)
    if mode == "isal":
        del records
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


VARIANTS = ("bare", "bare-isal", "scan", "scan-2", "scan-mission")
LABELS = {
    "bare": "bare loop (zlib gunzip + orjson.loads)",
    "bare-isal": "bare loop, ISA-L, GC paused, batch freed",
    "scan": "trailsentry scan, whole catalog, 1 worker",
    "scan-2": "trailsentry scan, whole catalog, 2 workers",
    "scan-mission": "trailsentry scan, mission only, 1 worker",
}
_BARE_MODES = {"bare": "plain", "bare-isal": "isal"}
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
    config = ["--config", str(_mission_config())] if variant == "scan-mission" else []
    workers = "2" if variant == "scan-2" else "1"
    return [*_trailsentry(), "scan", "--workers", workers, "--format", "jsonl", "--no-progress", *config,
            str(directory)]


def _scan_events(stderr: str) -> int:
    match = _SCANNED.search(stderr)
    if match is None:
        raise RuntimeError(f"scan printed no summary: {stderr[-2000:]}")
    return int(match.group(2).replace(",", ""))


def measure(variant: str, directory: Path) -> Run:
    """Run with os.wait4, which gives the child's rusage: its CPU time including the worker processes it
    waited for, and the largest resident set among them."""
    started = time.perf_counter()
    child = subprocess.Popen(command(variant, directory),
                             stdout=subprocess.DEVNULL if variant.startswith("scan") else subprocess.PIPE,
                             stderr=subprocess.PIPE)
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


def bench(directory: Path, size: str, repeat: int, variants: Sequence[str] = VARIANTS) -> list[Result]:
    runs: dict[str, list[Run]] = {v: [] for v in variants}
    for round_number in range(repeat):
        for variant in variants:  # interleaved, so drift on a shared machine hits every variant alike
            run = measure(variant, directory)
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


def report(results: Sequence[Result], manifests: dict[str, Manifest]) -> str:
    lines = [f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
             f"Python {platform.python_version()}, {platform.system()} {platform.release()}"]
    for size, manifest in manifests.items():
        lines.append(f"{size} corpus: {manifest.events:,} events, {manifest.objects} objects, "
                     f"{manifest.bytes_uncompressed / 1e6:,.0f} MB uncompressed "
                     f"({manifest.bytes_compressed / 1e6:,.0f} MB gzipped)")
    lines.append("")
    lines.append(f"{'corpus':<8} {'variant':<44} {'wall s':>7} {'events/s':>10} {'CPU events/s':>13} "
                 f"{'peak RSS':>10}")
    for result in results:
        lines.append(f"{result.size:<8} {LABELS[result.variant]:<44} {result.best.seconds:7.2f} "
                     f"{result.rate():10,.0f} {result.cpu_rate():13,.0f} "
                     f"{max(r.max_rss_bytes for r in result.runs) / 2**20:>6,.0f} MiB")
    lines.append("")
    by_key = {(r.size, r.variant): r for r in results}
    for size in manifests:
        if (size, "bare") not in by_key:
            continue
        lines.append(f"{size}:")
        for variant, against, target in (("scan", "bare", "target >= 1.2x"), ("scan", "bare-isal", ""),
                                          ("scan-2", "scan", "target >= 1.7x"),
                                          ("scan", "scan-mission", "the whole catalog's cost")):
            mine, theirs = by_key.get((size, variant)), by_key.get((size, against))
            if mine is None or theirs is None:
                continue
            note = f"  ({target})" if target else ""
            lines.append(f"  {LABELS[variant]} / {LABELS[against]}: {mine.rate() / theirs.rate():.2f}x best wall, "
                         f"{paired_ratio(mine, theirs):.2f}x median of rounds{note}")
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
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--profile", action="store_true", help="profile the scan in-process instead")
    parser.add_argument("--top", type=int, default=30, help="functions shown by --profile")
    args = parser.parse_args(argv)
    variants = [variant for variant in args.variants.split(",") if variant]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variant(s): {', '.join(sorted(unknown))}")

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
    for size in sizes:
        print(f"timing {size} corpus ({directories[size]})", file=sys.stderr)
        if size == "memory":
            results.extend(bench(directories[size], size, 1, ("scan",)))
        else:
            results.extend(bench(directories[size], size, args.repeat, variants))
    for result in results:
        expected = manifests[result.size].events
        if result.best.events != expected:
            raise RuntimeError(f"{result.variant} saw {result.best.events} events, the corpus has {expected}")
    sys.stdout.write(report(results, manifests))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
