"""The pipeline's side of a state store shared by replicas: fetch before applying, commit with redo.

    detect ──► fetch what the batch reads ──► apply (engine thread) ──► group ──► commit_shared ──► ack
                     (one round trip)                                              │  (one round trip:
                                                                                   │   state, eventIDs,
                            conflict: undo the group, fetch afresh, apply again ◄──┘   alerts, at once)

The alerts of the group travel with its state in the same atomic commit (to the replica that holds
the delivery lease), so an alert exists exactly when its state change does, whichever replica made
it. The monitor's own alerts (a quarantined batch) go to this replica's outbox directly.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from monitor.decode import DecodeLimits
from monitor.engine import Engine
from monitor.engine.detect import Detection
from monitor.engine.findings import SliceFindings, drain
from monitor.engine.state.store import SharedStateStore, StateConflict
from monitor.model import Alert
from monitor.pipeline.applied import Applied
from monitor.pipeline.stats import PipelineStats
from monitor.pipeline.tasks import newest_per_id
from monitor.sources.base import Batch
from monitor.workers import Job, detect_locally

log = logging.getLogger("trailsentry.pipeline")

# A group that keeps losing to other replicas (all of them busy on one key) is given up and released.
MAX_CONFLICTS_PER_COMMIT = 20

InWorker = Callable[..., Awaitable[Any]]


def detect_all(detection: Detection, limits: DecodeLimits, batch: Batch,
               findings: Iterator[SliceFindings] | None) -> list[SliceFindings]:
    """The findings of a whole batch (from the worker processes, or detected here): what it will read is
    fetched before any of it is applied."""
    if findings is None:
        return list(detect_locally(detection, Job(origin=batch.origin, data=batch.data), limits))
    try:
        return list(findings)
    except BaseException:
        drain(findings)
        raise


class SharedCommit:
    def __init__(self, store: SharedStateStore, engine: Engine, in_worker: InWorker, stats: PipelineStats) -> None:
        self.store = store
        self.engine = engine
        self._in_worker = in_worker
        self.stats = stats

    async def fetch_for(self, slices: list[SliceFindings], newest: float = 0.0) -> None:
        """Load what applying `slices` reads, and the episodes that end by then (or by `newest`)."""
        applier = self.engine.applier
        wanted = applier.wanted(slices)
        wanted.newest = max(wanted.newest, newest)
        await self.store.fetch(wanted, applier.lateness)
        more = applier.wanted_next(slices)  # what the fetched state points to (attack sequences: actors)
        if more is not None:
            more.newest = wanted.newest
            await self.store.fetch(more, applier.lateness)

    async def commit(self, group: list[Applied]) -> int:
        """Commit the group's state changes and alerts at once, applying it again after each conflict.
        Returns how many alerts were committed."""
        for _ in range(MAX_CONFLICTS_PER_COMMIT):
            alerts = newest_per_id([alert for applied in group for alert in applied.alerts])
            try:
                await self.store.commit_shared(alerts)
                return len(alerts)
            except StateConflict:
                self.stats.conflicts += 1
            await self._in_worker(self.engine.forget_unpersisted)
            await self._apply_again(group)
        raise StateConflict(f"another replica changed this group's state {MAX_CONFLICTS_PER_COMMIT} times in a row")

    async def _apply_again(self, group: list[Applied]) -> None:
        slices = [found for applied in group for found in applied.slices or ()]
        await self.fetch_for(slices, max((applied.closed_at for applied in group), default=0.0))
        await self._in_worker(self._reapply, group)

    def _reapply(self, group: list[Applied]) -> None:
        """On the engine thread: every batch of the group again, in order, on the fetched state."""
        engine = self.engine
        for applied in group:
            alerts: list[Alert] = []
            if applied.slices is None:
                alerts = engine.close_expired(applied.closed_at)
            else:
                with engine.batch():
                    for found in applied.slices:
                        alerts.extend(engine.apply(found, again=True).alerts)
            applied.alerts = alerts
