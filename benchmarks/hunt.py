"""What reading history straight from S3 costs: `scan s3://...` against `scan` of the same files on disk.

    python -m benchmarks.hunt                       # the quarter corpus, 3 rounds; writes benchmarks/HUNT.md
    python -m benchmarks.hunt --events 50000 --rounds 1 --no-write        # a quick look

Throughput. The benchmark corpus (benchmarks/corpus.py: real CloudTrail's statistics, 2 MB objects in an
organization trail's layout) is uploaded to moto's S3 server (a child process on loopback), then the real
command runs as a user runs it, in a process of its own, once on the local folder and once on the bucket
with the same workers; wall time from start to exit, best and median of the rounds. The emulator shares the
machine's cores with the scan, which real S3 does not.

Listing. A bucket holding a year of one organization trail (6 accounts, 3 regions, one small object per
folder and day: listing cost depends on the folders, not on what they hold) is hunted over 30 days and over
the year with `--dry-run`; the S3 list calls are counted, against the calls a listing of the whole bucket
would take for a real year (288 objects per folder and day, 1,000 keys per call).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiobotocore.session import get_session

from benchmarks.corpus import BENCH_ACCOUNTS, BENCH_REGIONS, DEFAULT_DIR, build_corpus
from benchmarks.latency import emulator_process
from monitor.demo.builders import EXAMPLE_ORGANIZATION
from monitor.demo.emulator import use_dummy_credentials
from monitor.workers.pool import default_workers

REPORT = Path(__file__).resolve().parent / "HUNT.md"
REPO = Path(__file__).resolve().parent.parent
BUCKET = "hunt-bench"
YEAR_BUCKET = "hunt-bench-year"
OBJECTS_PER_FOLDER_DAY = 288  # CloudTrail's five-minute delivery


@dataclass
class Timing:
    seconds: list[float]
    events: int
    objects: int
    output: bytes
    cpu: float = 0.0  # of the scan's processes, per round (the median round's)
    emulator_cpu: float = 0.0

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


async def upload(endpoint: str, files: dict[str, bytes], bucket: str, concurrency: int = 32) -> int:
    async with get_session().create_client("s3", region_name="us-east-1", endpoint_url=endpoint) as s3:
        await s3.create_bucket(Bucket=bucket)
        limit = asyncio.Semaphore(concurrency)

        async def put(key: str, body: bytes) -> None:
            async with limit:
                await s3.put_object(Bucket=bucket, Key=key, Body=body)

        await asyncio.gather(*(put(key, body) for key, body in files.items()))
    return len(files)


async def upload_year(endpoint: str) -> int:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    keys = []
    for offset in range(365):
        day = start + timedelta(days=offset)
        for account in BENCH_ACCOUNTS:
            for region in BENCH_REGIONS:
                folder = f"AWSLogs/{EXAMPLE_ORGANIZATION}/{account}/CloudTrail/{region}/{day:%Y/%m/%d}"
                keys.append(f"{folder}/{account}_CloudTrail_{region}_{day:%Y%m%d}T1205Z_bench.json.gz")
    async with get_session().create_client("s3", region_name="us-east-1", endpoint_url=endpoint) as s3:
        await s3.create_bucket(Bucket=YEAR_BUCKET)
        limit = asyncio.Semaphore(32)

        async def put(key: str) -> None:
            async with limit:
                await s3.put_object(Bucket=YEAR_BUCKET, Key=key, Body=b"")

        await asyncio.gather(*(put(key) for key in keys))
    return len(keys)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float:
    """CPU seconds a running process has used (from /proc; 0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _emulator_pid(endpoint: str) -> int:
    port = endpoint.rsplit(":", 1)[1].encode()
    for folder in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            command = (folder / "cmdline").read_bytes().split(b"\0")
            if b"moto.server" in command and port in command:
                return int(folder.name)
    return 0


def scan(*args: str, env: dict[str, str]) -> tuple[float, bytes, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "monitor", "scan", "--format", "jsonl", "--no-progress", *args],
                          cwd=REPO, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"scan {' '.join(args)} failed: {done.stderr.decode()[-2000:]}")
    return elapsed, done.stdout, done.stderr.decode()


def _count(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"no {pattern!r} in: {text[-1000:]}")
    return int(found[1].replace(",", ""))


def measure(arguments: list[str], rounds: int, env: dict[str, str], emulator: int) -> Timing:
    seconds: list[float] = []
    cpu: list[float] = []
    emulator_cpu: list[float] = []
    output = b""
    events = objects = 0
    for _ in range(rounds):
        before, emulator_before = _children_cpu(), _process_cpu(emulator)
        elapsed, output, err = scan(*arguments, env=env)
        seconds.append(elapsed)
        cpu.append(_children_cpu() - before)
        emulator_cpu.append(_process_cpu(emulator) - emulator_before)
        events = _count(r"scanned [\d,]+ file\(s\), [\d,]+ bytes, ([\d,]+) events", err)
        objects = _count(r"scanned ([\d,]+) file", err)
    return Timing(seconds, events, objects, output, statistics.median(cpu), statistics.median(emulator_cpu))


def dry_run_calls(endpoint: str, since: str, until: str, env: dict[str, str]) -> int:
    _, out, _ = scan(f"s3://{YEAR_BUCKET}", "--org", "--since", since, "--until", until, "--dry-run",
                     env={**env, "AWS_ENDPOINT_URL": endpoint})
    return _count(r"listing took ([\d,]+) S3 list call", out.decode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=250_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--no-write", action="store_true", help=f"print only; do not write {REPORT.name}")
    args = parser.parse_args(argv)
    use_dummy_credentials()
    corpus = DEFAULT_DIR / f"events-{args.events}"
    manifest = build_corpus(corpus, args.events)
    # The delivery days the corpus covers (its folders ..../YYYY/MM/DD/object).
    days = sorted({datetime(*map(int, path.parts[-4:-1]), tzinfo=UTC) for path in corpus.rglob("*.json.gz")})
    since, until = days[0].strftime("%Y-%m-%d"), (days[-1] + timedelta(days=1)).strftime("%Y-%m-%d")
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRAILSENTRY_")}
    with emulator_process() as endpoint:
        files = {path.relative_to(corpus).as_posix(): path.read_bytes() for path in sorted(corpus.rglob("*.json.gz"))}
        uploaded = asyncio.run(upload(endpoint, files, BUCKET))
        del files
        year_objects = asyncio.run(upload_year(endpoint))
        s3_env = {**env, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1"}
        emulator = _emulator_pid(endpoint)
        runs: list[tuple[int, Timing, Timing]] = []
        for workers in sorted({1, args.workers}):
            count = ["--workers", str(workers)]
            local = measure([*count, str(corpus)], args.rounds, env, emulator)
            remote = measure([f"s3://{BUCKET}", "--org", "--since", since, "--until", until, *count], args.rounds,
                             s3_env, emulator)
            if remote.events != local.events or remote.objects != local.objects != uploaded:
                raise RuntimeError(f"the hunt read {remote.objects} objects / {remote.events} events, the local "
                                   f"scan {local.objects} / {local.events}")
            runs.append((workers, local, remote))
        month_calls = dry_run_calls(endpoint, "2025-06-01", "2025-07-01", env)
        year_calls = dry_run_calls(endpoint, "2025-01-01", "2026-01-01", env)
    folders = len(BENCH_ACCOUNTS) * len(BENCH_REGIONS)
    whole_bucket_calls = folders * 365 * OBJECTS_PER_FOLDER_DAY // 1000
    lines = [
        f"# Hunting in S3: `scan s3://...` against `scan` of the same files ({time.strftime('%Y-%m-%d')})",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} vCPU, Python {platform.python_version()}; "
        f"`python -m benchmarks.hunt --events {args.events} --rounds {args.rounds} --workers {args.workers}`.",
        f"Corpus: {manifest.events:,} events in {uploaded} objects ({manifest.bytes_compressed / 1e6:,.0f} MB "
        f"compressed), benchmarks/corpus.py; moto's S3 server in a child process on loopback.",
        "",
        "| command | workers | best s | median s | objects/s (best) | events/s (best) | vs local (best / median) "
        "| CPU s: scan + emulator |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for workers, local, remote in runs:
        for name, timing in (("scan FOLDER (local disk)", local), ("scan s3://BUCKET --org", remote)):
            lines.append(
                f"| `{name}` | {workers} | {timing.best:.2f} | {timing.median:.2f} | "
                f"{timing.objects / timing.best:,.0f} | {timing.events / timing.best:,.0f} | "
                f"{local.best / timing.best:.2f}x / {local.median / timing.median:.2f}x | "
                f"{timing.cpu:.1f} + {timing.emulator_cpu:.1f} |")
    lines += [
        "",
        f"Listing a bucket that holds a year of one organization trail ({folders} account/region folders; "
        f"{year_objects:,} objects here, one per folder and day):",
        "",
        "| `--since .. --until` | S3 list calls |",
        "|---|---:|",
        f"| 30 days | {month_calls:,} |",
        f"| 365 days | {year_calls:,} |",
        f"| listing the whole bucket of a real year ({OBJECTS_PER_FOLDER_DAY} objects per folder and day) | "
        f"{whole_bucket_calls:,} |",
        "",
        "The same alerts from both: "
        + ("yes" if all(_alerts(local.output) == _alerts(remote.output) for _, local, remote in runs) else "NO") + ".",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        REPORT.write_text(text, encoding="utf-8")
    return 0


def _alerts(output: bytes) -> list[bytes]:
    # A hunt marks its alerts; the rest of each line is the local scan's.
    return sorted(line.replace(b',"mode":"hunt"', b"").replace(b'{"mode":"hunt"}', b"{}").replace(
        b'"mode":"hunt",', b"") for line in output.splitlines())


if __name__ == "__main__":
    raise SystemExit(main())
