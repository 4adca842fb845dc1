"""What sharing state in Redis costs: a backlog through 1, 2 and 3 replicas against one process, and latency.

    python -m benchmarks.replicas                    # the quarter corpus; writes benchmarks/REPLICAS.md
    python -m benchmarks.replicas --replicas 2 --repeat 1 --latency-objects 50 --no-write   # a quick look

Throughput. Each replica is its own process (spawned, so N replicas get N interpreters and N GILs)
running the real `Pipeline` with every built-in detector, group commit as `run` configures it and a
durable outbox with no sink (as benchmarks/durability.py does). A Redis replica has the real
`Replication` of `trailsentry run`: the `RedisStore` (one `fetch` round trip per batch, one `commit`
per group), its leases, and alert delivery from the shared stream into the outbox of the replica
holding the lease. The one-process reference has the embedded SQLite store, as `run` without a
`state` section. Redis is a real redis-server on loopback with AOF (`--fsync`, default everysec as
the deploy files recommend).

Work is handed out as SQS hands messages to competing consumers: a shared cursor that each process
advances to take the next object when its pipeline queue has room (at most `queue_batches` ahead, so
the backlog is shared evenly). Every process loads the corpus before a barrier; the clock runs from
the barrier to the last acknowledgement. CPU time is each process's own (every thread), and
redis-server's from /proc.

Latency. benchmarks/latency.py's measurement (objects landing in moto's S3 one every 0.1 s, time from
PutObject to the alert reaching a sink) with N `App`s on the one SQS queue sharing state in Redis.
The replicas run in this process (as `trailsentry demo --replicas N` runs them), so they share one
core: an upper bound on what separate processes would see.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import platform
import queue
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from benchmarks.corpus import DEFAULT_DIR, DEFAULT_OBJECT_BYTES, build_corpus
from benchmarks.latency import Latency, emulator_process, measure_latency
from benchmarks.replica_process import PREFIX, URL_ENV, Share, Spec, replica_process
from monitor.demo.emulator import use_dummy_credentials
from monitor.replicas.store import Keys

REPORT = Path(__file__).resolve().parent / "REPLICAS.md"
WAIT_SECONDS = 600.0


@dataclass(slots=True)
class Run:
    replicas: int  # 0: one process with the embedded store
    seconds: float
    cpu_seconds: float
    redis_cpu_seconds: float
    events: int
    duplicates: int
    batches: int
    commits: int
    conflicts: int
    releases: int
    round_trips: Counter[str]
    trip_seconds: dict[str, list[float]]
    alert_ids: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        return "1 process, embedded store" if not self.replicas else f"{self.replicas} replica(s), Redis"

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def rate_per_cpu(self) -> float:
        return self.events / self.cpu_seconds


# --- a run ---------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def redis_server(directory: Path, port: int, *, fsync: str = "always") -> Iterator[subprocess.Popen[bytes]]:
    """A fresh redis-server on loopback with AOF (fsync `always`: as durable as the embedded store's SQLite)."""
    directory.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", "",
         "--appendonly", "yes", "--appendfsync", fsync, "--logfile", str(directory / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        client.close()
        yield server
    finally:
        server.terminate()
        server.wait(timeout=20)


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(corpus: Path, replicas: int, scratch: Path, port: int, *, split: int = 0, queue_batches: int = 2,
             fsync: str = "always") -> Run:
    """One run: one embedded-store process (`replicas` = 0) or `replicas` Redis replicas over the whole corpus."""
    if not replicas:
        return _run(corpus, 1, scratch, "", None, split, queue_batches)
    with redis_server(scratch / "redis", port, fsync=fsync) as server:
        return _run(corpus, replicas, scratch, f"redis://127.0.0.1:{port}/0", server, split, queue_batches)


def _run(corpus: Path, count: int, scratch: Path, url: str, server: subprocess.Popen[bytes] | None, split: int,
         queue_batches: int) -> Run:
    context = multiprocessing.get_context("spawn")
    cursor = context.Value("q", 0)
    barrier = context.Barrier(count + 1)
    results = context.Queue()
    stop = context.Event()
    processes = [context.Process(target=replica_process, daemon=True, args=(
        Spec(index, str(corpus), split, str(scratch / f"replica-{index}"), url, queue_batches),
        cursor, barrier, results, stop)) for index in range(count)]
    for process in processes:
        process.start()
    try:
        barrier.wait(timeout=WAIT_SECONDS)
        redis_cpu = cpu_seconds_of(server.pid) if server is not None else 0.0
        client = redis.Redis.from_url(url) if url else None
        shares = _collect(results, processes, stop, client)
        if server is not None:
            redis_cpu = cpu_seconds_of(server.pid) - redis_cpu
        for process in processes:
            process.join(timeout=WAIT_SECONDS)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
    shares.sort(key=lambda share: share.index)
    samples: defaultdict[str, list[float]] = defaultdict(list)
    for share in shares:
        for operation, found in share.trip_seconds.items():
            samples[operation].extend(found)
    return Run(
        replicas=count if url else 0,
        seconds=max(s.finished for s in shares) - min(s.started for s in shares),
        cpu_seconds=sum(s.cpu_seconds for s in shares), redis_cpu_seconds=redis_cpu,
        events=sum(s.events for s in shares), duplicates=sum(s.duplicates for s in shares),
        batches=sum(s.batches for s in shares), commits=sum(s.commits for s in shares),
        conflicts=sum(s.conflicts for s in shares), releases=sum(s.releases for s in shares),
        round_trips=sum((Counter(s.round_trips) for s in shares), Counter()), trip_seconds=dict(samples),
        alert_ids=recorded_alert_ids(scratch))


def _collect(results: Any, processes: list[Any], stop: Any, client: redis.Redis | None) -> list[Share]:
    """Every process's share once all are done; then (Redis) wait until the alert stream is delivered."""
    shares: list[Share] = []
    deadline = time.monotonic() + WAIT_SECONDS
    while len(shares) < len(processes):
        try:
            shares.append(results.get(timeout=1.0))
        except queue.Empty:
            if any(p.exitcode is not None for p in processes) or time.monotonic() > deadline:
                raise RuntimeError("a benchmark process failed (its log is above)") from None
    if client is not None:
        stream = Keys(PREFIX).alerts
        while client.xlen(stream):  # read by the delivery lease holder, recorded, then deleted
            if time.monotonic() > deadline:
                raise RuntimeError("the alert stream was not delivered")
            time.sleep(0.05)
    stop.set()
    return shares


def recorded_alert_ids(scratch: Path) -> set[str]:
    """The ids of the alerts in every process's outbox."""
    found: set[str] = set()
    for path in scratch.glob("replica-*/trailsentry.outbox.sqlite"):
        with contextlib.closing(sqlite3.connect(path)) as db:
            found.update(str(row[0]) for row in db.execute("SELECT id FROM outbox_alerts"))
    return found


# --- the benchmark -------------------------------------------------------------------------------------------------


def bench(corpus: Path, counts: list[int], repeat: int, port: int, fsync: str) -> dict[int, list[Run]]:
    """Every configuration `repeat` times, rounds interleaved (a noisy machine slows all of them alike)."""
    runs: dict[int, list[Run]] = {count: [] for count in counts}
    for round_number in range(repeat):
        for count in counts:
            with tempfile.TemporaryDirectory(prefix="trailsentry-replicas-") as scratch:
                run = run_once(corpus, count, Path(scratch), port, fsync=fsync)
            runs[count].append(run)
            print(f"  round {round_number + 1}: {run.label:<26} {run.seconds:6.2f}s {run.rate:>9,.0f} events/s "
                  f"{run.conflicts} conflicts {len(run.alert_ids)} alerts", file=sys.stderr)
    return runs


def check(runs: dict[int, list[Run]]) -> None:
    """Every run saw every event once and released nothing."""
    reference = runs[min(runs)][0]
    for found in runs.values():
        for run in found:
            if run.releases or run.events != reference.events or run.duplicates != reference.duplicates:
                raise RuntimeError(f"{run.label}: {run.events} events, {run.duplicates} duplicates, "
                                   f"{run.releases} releases; one process: {reference.events} events")


def alerts_compared(runs: dict[int, list[Run]]) -> str:
    """How many runs recorded exactly the alert ids of one process.

    The backlog is handed out in key order (account, region, then time), so event time jumps back
    hours at every account and many events sit at the edge of the allowed lateness. Replicas judge
    lateness by the watermark they fetched, which another replica's commit may since have moved on
    (README, Replicas: limits), so a burst one process drops as too late can still fire.
    """
    reference = runs[min(runs)][0].alert_ids
    compared = [run for count, found in runs.items() if count for run in found]
    same = sum(run.alert_ids == reference for run in compared)
    text = f"{same} of {len(compared)} replica runs recorded exactly the {len(reference)} alert ids of one process"
    differing = [f"{run.label}: {len(run.alert_ids - reference)} more, {len(reference - run.alert_ids)} fewer"
                 for run in compared if run.alert_ids != reference]
    return text + (f" (otherwise: {'; '.join(differing)})" if differing else "") + "."


async def replica_latency(endpoint: str, url: str, replicas: int, objects: int, scratch: Path) -> Latency:
    os.environ[URL_ENV] = url
    state = {"backend": "redis", "url_env": URL_ENV, "key_prefix": "trailsentry-latency:"}
    return await measure_latency(endpoint, objects, 0.1, 200, scratch, replicas=replicas, state=state)


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def report(runs: dict[int, list[Run]], latency: Latency | None, latency_replicas: int, fsync: str) -> str:
    best = {count: min(found, key=lambda run: run.seconds) for count, found in runs.items()}
    reference = best[min(best)]
    lines = [f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
             f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
             f"redis-server AOF appendfsync {fsync}",
             f"{reference.batches:,} objects, {reference.events:,} events, every built-in detector; "
             f"best of {len(runs[min(runs)])} interleaved rounds", "",
             "| configuration | events/s | vs 1 process | CPU s (trailsentry + Redis) | commits | conflicts "
             "| round trips / batch | round trips / 1k events | fetch p50 / p99 | commit p50 / p99 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for count in sorted(best):
        run = best[count]
        trips = run.round_trips["fetch"] + run.round_trips["commit"]
        per_batch = f"{trips / run.batches:.2f}" if count else "-"
        per_events = f"{1000 * trips / run.events:.2f}" if count else "-"
        timing = {op: (f"{_ms(quantile(run.trip_seconds.get(op, []), 0.5))} / "
                       f"{_ms(quantile(run.trip_seconds.get(op, []), 0.99))}") if count else "-"
                  for op in ("fetch", "commit")}
        lines.append(f"| {run.label} | {run.rate:,.0f} | {run.rate / reference.rate:.2f}x | "
                     f"{run.cpu_seconds:.1f} + {run.redis_cpu_seconds:.1f} | {run.commits:,} | {run.conflicts} | "
                     f"{per_batch} | {per_events} | {timing['fetch']} | {timing['commit']} |")
    lines += ["", "Round trips count `fetch` (what a batch's detectors read, before they apply it) and `commit` "
              "(a group's state changes and alerts, one Lua script); leases and the alert stream add a few per "
              "second whatever the load. Every configuration processed every event once; " + alerts_compared(runs)]
    if latency is not None:
        lines += ["", f"Latency with {latency_replicas} replicas sharing state in Redis (PutObject to the alert at "
                  f"the sink, {len(latency.samples)} objects, one every 0.1 s): p50 {_ms(latency.quantile(0.5))}, "
                  f"p90 {_ms(latency.quantile(0.9))}, p99 {_ms(latency.quantile(0.99))}, "
                  f"max {_ms(max(latency.samples))}."]
    return "\n".join(lines) + "\n"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replicas", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=250_000, help="events in the corpus")
    parser.add_argument("--corpus-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3], help="replica counts to measure")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fsync", choices=("always", "everysec"), default="everysec")
    parser.add_argument("--latency-objects", type=int, default=250, help="0: no latency run")
    parser.add_argument("--latency-replicas", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help=f"do not write {REPORT.name}")
    args = parser.parse_args(argv)
    if not shutil.which("redis-server"):
        parser.error("needs redis-server on the PATH (apt-get install redis-server)")
    directory = args.corpus_dir / f"events-{args.events}"
    build_corpus(directory, args.events, object_bytes=DEFAULT_OBJECT_BYTES)
    port = free_port()
    runs = bench(directory, [0, *args.replicas], args.repeat, port, args.fsync)
    check(runs)
    latency = None
    if args.latency_objects:
        print(f"latency with {args.latency_replicas} replicas over {args.latency_objects} objects ...",
              file=sys.stderr)
        use_dummy_credentials()
        with tempfile.TemporaryDirectory(prefix="trailsentry-replicas-") as scratch, emulator_process() as endpoint, \
                redis_server(Path(scratch) / "redis", port, fsync=args.fsync):
            latency = asyncio.run(replica_latency(endpoint, f"redis://127.0.0.1:{port}/0", args.latency_replicas,
                                                  args.latency_objects, Path(scratch)))
    text = report(runs, latency, args.latency_replicas, args.fsync)
    sys.stdout.write(text)
    if not args.no_write:
        REPORT.write_text(text)
        print(f"written to {REPORT}", file=sys.stderr)
    return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


if __name__ == "__main__":
    raise SystemExit(main())
