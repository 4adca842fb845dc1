"""What the durability guarantee costs the live pipeline: the same batches with and without it.

    python -m benchmarks.durability                       # the quarter corpus, objects as CloudTrail writes them
    python -m benchmarks.durability --split 100           # the same events in objects of ~100 events

Both variants run the real `Pipeline` in this process, with every built-in detector, group commit
as `run` configures it, and an outbox with no sink (delivery is not what is measured):

- durable:  the embedded state store and the outbox in SQLite files with `synchronous=FULL`, as `run`
            has them: each group commit writes the alerts, then every state change, then acknowledges;
- volatile: the in-memory store (its `persist` keeps nothing) and an in-memory outbox: what the
            pipeline would cost if a crash were allowed to lose state.

The producer hands over every batch at once (a backlog); the clock stops when the last batch is
acknowledged. Rounds are interleaved, and the best of each variant counts.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson

from benchmarks.corpus import DEFAULT_DIR, DEFAULT_OBJECT_BYTES, build_corpus
from monitor.alerts.service import Alerting
from monitor.alerts.settings import AlertingSettings
from monitor.checkpoint import CheckpointStore
from monitor.engine import Engine
from monitor.engine.settings import EngineSettings
from monitor.engine.state.embedded import EmbeddedStore
from monitor.engine.state.memory import MemoryStore
from monitor.engine.state.store import StateStore
from monitor.pipeline import Pipeline
from monitor.rules.builtin import builtin_detectors
from monitor.sources.base import Batch

VARIANTS = ("durable", "volatile")


@dataclass(frozen=True, slots=True)
class Run:
    variant: str
    seconds: float
    events: int
    batches: int
    commits: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def load_objects(directory: Path, split: int) -> list[tuple[str, bytes]]:
    """Every object of the corpus (gzipped CloudTrail files), or their events re-cut into objects of `split`."""
    paths = sorted(p for p in directory.rglob("*.json.gz"))
    objects: list[tuple[str, bytes]] = []
    for path in paths:
        data = path.read_bytes()
        if not split:
            objects.append((str(path), data))
            continue
        records = orjson.loads(gzip.decompress(data))["Records"]
        for start in range(0, len(records), split):
            part = gzip.compress(orjson.dumps({"Records": records[start:start + split]}), compresslevel=6)
            objects.append((f"{path}#{start}", part))
    return objects


@contextmanager
def stores(variant: str, directory: Path) -> Iterator[tuple[StateStore, Alerting, CheckpointStore]]:
    settings = EngineSettings()
    alerting_settings = AlertingSettings(sinks=())
    if variant == "durable":
        state = directory / "trailsentry.sqlite"
        store: StateStore = EmbeddedStore(state, settings.dedupe_capacity)
        alerting = Alerting(alerting_settings, db_path=directory / "trailsentry.outbox.sqlite")
        checkpoints = CheckpointStore(state)
    else:
        store = MemoryStore(settings.dedupe_capacity)
        alerting = Alerting(alerting_settings, db_path=":memory:")
        checkpoints = CheckpointStore(":memory:")
    try:
        yield store, alerting, checkpoints
    finally:
        alerting.outbox.close()


async def run_once(variant: str, objects: list[tuple[str, bytes]], scratch: Path) -> Run:
    with stores(variant, scratch) as (store, alerting, checkpoints):
        engine = Engine(builtin_detectors(), EngineSettings(), store=store)
        pipeline = Pipeline(engine, alerting, checkpoints)
        acknowledged = asyncio.Event()
        remaining = len(objects)

        async def ack() -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0:
                acknowledged.set()

        async def release(reason: str) -> None:
            raise RuntimeError(f"a batch was released: {reason}")

        consumer = asyncio.create_task(pipeline.run())
        started = time.perf_counter()
        for origin, data in objects:
            await pipeline.emit(Batch(source="bench", origin=origin, data=data, ack=ack, release=release))
        await acknowledged.wait()
        seconds = time.perf_counter() - started
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        pipeline.close()
        return Run(variant, seconds, engine.stats.events_in, len(objects), pipeline.stats.commits)


def bench(objects: list[tuple[str, bytes]], repeat: int) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {variant: [] for variant in VARIANTS}
    for round_number in range(repeat):
        for variant in VARIANTS:
            with tempfile.TemporaryDirectory(prefix="trailsentry-durability-") as scratch:
                run = asyncio.run(run_once(variant, objects, Path(scratch)))
            runs[variant].append(run)
            print(f"  round {round_number + 1}: {variant:<9} {run.seconds:6.2f}s {run.rate:>9,.0f} events/s "
                  f"{run.commits} commits", file=sys.stderr)
    return runs


def report(runs: dict[str, list[Run]], objects: list[tuple[str, bytes]]) -> str:
    best = {variant: min(found, key=lambda run: run.seconds) for variant, found in runs.items()}
    events = best["durable"].events
    lines = [f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
             f"Python {platform.python_version()}, {platform.system()} {platform.release()}",
             f"{len(objects)} objects, {events:,} events (~{events // max(len(objects), 1):,} per object)", "",
             f"{'variant':<10} {'best s':>7} {'events/s':>10} {'commits':>8} {'batches/commit':>15}"]
    for variant in VARIANTS:
        run = best[variant]
        lines.append(f"{variant:<10} {run.seconds:7.2f} {run.rate:10,.0f} {run.commits:8,} "
                     f"{run.batches / max(run.commits, 1):15.1f}")
    cost = 1 - best["durable"].rate / best["volatile"].rate
    lines.append(f"\nthe guarantee costs {cost:.0%} of the volatile pipeline's throughput")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.durability", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=250_000, help="events in the corpus")
    parser.add_argument("--corpus-dir", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--split", type=int, default=0, metavar="N", help="re-cut the events into objects of N")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    directory = args.corpus_dir / f"events-{args.events}"
    build_corpus(directory, args.events, object_bytes=DEFAULT_OBJECT_BYTES)
    objects = load_objects(directory, args.split)
    runs = bench(objects, args.repeat)
    for variant, found in runs.items():
        if any(run.events != runs["durable"][0].events for run in found):
            raise RuntimeError(f"{variant} saw a different number of events")
    sys.stdout.write(report(runs, objects))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
