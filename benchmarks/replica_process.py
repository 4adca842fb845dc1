"""One process of the replica benchmark (benchmarks/replicas.py): the pipeline of one replica, or of
one process with the embedded store, taking objects from a shared cursor until the backlog is done.

It runs in a spawned process, so everything it receives is picklable and it reports its `Share`
through a queue.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

from benchmarks.durability import load_objects
from monitor.alerts.secrets import SecretRef
from monitor.alerts.service import Alerting
from monitor.alerts.settings import AlertingSettings
from monitor.checkpoint import CheckpointStore
from monitor.config.service import ServiceSettings
from monitor.engine import Engine
from monitor.engine.settings import EngineSettings
from monitor.engine.state.embedded import EmbeddedStore
from monitor.engine.state.store import StateStore
from monitor.pipeline import Pipeline
from monitor.replicas.runtime import Replication
from monitor.replicas.settings import StateSettings
from monitor.rules.builtin import builtin_detectors
from monitor.sources.base import Batch

PREFIX = "trailsentry-bench:"
URL_ENV = "TRAILSENTRY_BENCH_REDIS_URL"
SOURCE = "bench"


@dataclass(frozen=True, slots=True)
class Spec:
    """What one process runs (picklable: it crosses into a spawned process)."""

    index: int
    corpus: str
    split: int
    folder: str
    redis_url: str  # "": the embedded store
    queue_batches: int


@dataclass(slots=True)
class Share:
    """One process's part of a run, from the barrier to its last acknowledgement."""

    index: int
    started: float  # time.monotonic(), the same clock in every process
    finished: float
    cpu_seconds: float
    events: int
    duplicates: int
    batches: int
    commits: int
    conflicts: int
    releases: int
    round_trips: dict[str, int]
    trip_seconds: dict[str, list[float]]



def replica_process(spec: Spec, cursor: Synchronized[int], barrier: Any, results: Any, stop: Any) -> None:
    """The body of one spawned process: its share goes to `results` when done; it stops on `stop`."""
    logging.basicConfig(level=logging.ERROR)  # no sink: every alert would warn "goes to no sink"
    objects = load_objects(Path(spec.corpus), spec.split)
    Path(spec.folder).mkdir(parents=True, exist_ok=True)
    asyncio.run(_serve(spec, objects, cursor, barrier, results, stop))


async def _serve(spec: Spec, objects: list[tuple[str, bytes]], cursor: Synchronized[int], barrier: Any,
                 results: Any, stop: Any) -> None:
    folder = Path(spec.folder)
    settings = EngineSettings()
    service = ServiceSettings()
    alerting = Alerting(AlertingSettings(sinks=()), db_path=folder / "trailsentry.outbox.sqlite")
    checkpoints = CheckpointStore(folder / "trailsentry.sqlite")
    samples: defaultdict[str, list[float]] = defaultdict(list)
    replication: Replication | None = None
    store: StateStore
    if spec.redis_url:
        os.environ[URL_ENV] = spec.redis_url
        state = StateSettings(backend="redis", url=SecretRef(env=URL_ENV, where="benchmark"), key_prefix=PREFIX)
        replication = Replication(state, folder, lateness=float(settings.lateness_seconds))
        replication.trips.observe_with(lambda operation, seconds: samples[operation].append(seconds))
        store = replication.store
    else:
        store = EmbeddedStore(folder / "trailsentry.sqlite", settings.dedupe_capacity)
    engine = Engine(builtin_detectors(), settings, store=store)
    pipeline = Pipeline(engine, alerting, checkpoints, queue_batches=spec.queue_batches,
                        group_batches=service.commit_batches, group_seconds=service.commit_seconds,
                        shared=replication.store if replication is not None else None)
    pipeline.restore_state()
    await alerting.start()
    if replication is not None:
        await replication.start(alerting, alerting)
    consumer = asyncio.create_task(pipeline.run())

    outstanding = 0
    releases = 0
    taken_all = False
    done = asyncio.Event()

    def settle() -> None:
        nonlocal outstanding
        outstanding -= 1
        if taken_all and outstanding == 0:
            done.set()

    async def ack() -> None:
        settle()

    async def release(reason: str) -> None:  # not expected: counted, and the run fails its event count
        nonlocal releases
        releases += 1
        logging.getLogger("benchmark").error("batch released: %s", reason)
        settle()

    await asyncio.to_thread(barrier.wait)
    trips_before = Counter(replication.trips.counts) if replication is not None else Counter()
    samples.clear()
    cpu_started, started = time.process_time(), time.monotonic()
    while (index := _take(cursor)) < len(objects):
        origin, data = objects[index]
        outstanding += 1
        await pipeline.emit(Batch(source=SOURCE, origin=origin, data=data, ack=ack, release=release))
    taken_all = True
    if outstanding:
        await done.wait()
    finished, cpu_seconds = time.monotonic(), time.process_time() - cpu_started
    counters = pipeline.stats.source(SOURCE)
    share = Share(index=spec.index, started=started, finished=finished, cpu_seconds=cpu_seconds,
                  events=counters.events, duplicates=counters.duplicates, batches=counters.batches,
                  commits=pipeline.stats.commits, conflicts=pipeline.stats.conflicts, releases=releases,
                  round_trips=dict((Counter(replication.trips.counts) - trips_before) if replication else {}),
                  trip_seconds={operation: list(found) for operation, found in samples.items()})
    results.put(share)
    await asyncio.to_thread(stop.wait)  # every replica done and the alert stream delivered into an outbox
    consumer.cancel()
    await asyncio.gather(consumer, return_exceptions=True)
    pipeline.close()
    if replication is not None:
        await replication.stop()
    await alerting.stop()


def _take(cursor: Synchronized[int]) -> int:
    with cursor.get_lock():
        index: int = cursor.value
        cursor.value = index + 1
    return index
