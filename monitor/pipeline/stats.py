"""What the pipeline counts: plain integers per source and per group commit, read by the metrics
collector at scrape time; each batch's lags go to the `BatchObserver` the composition root gave."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from monitor.sources.base import Batch


class BatchObserver(Protocol):
    """Told each processed batch's lags in seconds (the metrics' histograms); given by the composition root."""

    def __call__(self, source: str, *, ingest_lag: float | None, delivery_lag: float | None) -> None: ...


@dataclass(slots=True)
class SourceCounters:
    """What the pipeline saw from one source. Plain integers, bumped once per batch."""

    batches: int = 0  # processed and acknowledged
    batches_failed: int = 0  # released for redelivery
    batches_quarantined: int = 0  # given up after repeated failures
    events: int = 0
    bytes: int = 0
    duplicates: int = 0
    alerts: int = 0
    ack_errors: int = 0
    restarts: int = 0  # the source's task crashed and was restarted (counted by the app)
    queued: int = 0  # batches of this source waiting in the queue now
    issues: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    newest_event_time: float = 0.0  # epoch seconds of the newest event processed
    last_batch_at: float = 0.0  # wall clock when the last batch was processed


class PipelineStats:
    def __init__(self, queue: asyncio.Queue[Batch]) -> None:
        self._queue = queue
        self.sources: dict[str, SourceCounters] = {}
        self.alerts_recorded = 0
        self.record_failures = 0
        self.checkpoints = 0
        self.checkpoint_failures = 0
        self.commits = 0  # groups made durable (outbox, then state)
        self.commit_failures = 0
        self.batches_committed = 0
        self.conflicts = 0  # shared state: group commits refused because another replica changed what they read

    def source(self, name: str) -> SourceCounters:
        counters = self.sources.get(name)
        if counters is None:
            counters = self.sources[name] = SourceCounters()
        return counters

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    @property
    def queue_capacity(self) -> int:
        return self._queue.maxsize
