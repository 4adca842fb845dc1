"""Batches that fail to apply: released again after a growing delay, given up after `max_attempts`.

A failure to apply is a bug, not bad input (bad input is reported and counted inside the batch). The
batch goes back to its source after 1, 2, 4 ... seconds (at most a minute), so a bug never becomes a
hot loop; after `max_attempts` it is quarantined: the source is told to give it up (acknowledged, or
left to SQS's dead-letter queue), it is counted and logged, and an alert on the monitor says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable

from monitor.model import Alert
from monitor.pipeline.quarantine import quarantine_alert
from monitor.pipeline.stats import PipelineStats
from monitor.pipeline.tasks import printable, quietly, run_to_completion
from monitor.sources.base import Batch

log = logging.getLogger("trailsentry.pipeline")

RETRY_BASE_SECONDS = 1.0
_RETRY_CAP_SECONDS = 60.0
_REMEMBERED_FAILURES = 10_000  # origins whose failed attempts are counted (oldest forgotten first)


async def release(batch: Batch, reason: str) -> None:
    """Hand a batch back to its source for redelivery (a failure to do so is logged: the source redelivers
    on its own, by visibility timeout or cursor)."""
    try:
        await batch.release(reason)
    except Exception as exc:
        log.error("releasing %s from source %s failed: %s: %s", printable(batch.origin), batch.source,
                  type(exc).__name__, printable(str(exc)))


class Retries:
    def __init__(self, stats: PipelineStats, max_attempts: int, base_seconds: float,
                 clock: Callable[[], float]) -> None:
        self.stats = stats
        self.max_attempts = max(1, max_attempts)
        self.base_seconds = base_seconds
        self._clock = clock
        self._failures: OrderedDict[str, int] = OrderedDict()  # origin -> failed attempts
        self._held: set[asyncio.Task[None]] = set()  # failed batches waiting for their retry delay

    def succeeded(self, batch: Batch) -> None:
        self._failures.pop(batch.origin, None)

    async def failed(self, batch: Batch, exc: Exception) -> Alert | None:
        """Release the batch later, or quarantine it: then the monitor's alert to record."""
        counters = self.stats.source(batch.source)
        attempts = self._failures.pop(batch.origin, 0) + 1
        log.error("batch %s from source %s failed to apply (attempt %d of %d): %s: %s", printable(batch.origin),
                  batch.source, attempts, self.max_attempts, type(exc).__name__, printable(str(exc)))
        if attempts >= self.max_attempts:
            counters.batches_quarantined += 1
            log.error("batch %s from source %s quarantined after %d failed attempts; its events were not checked",
                      printable(batch.origin), batch.source, attempts)
            await quietly("quarantining a batch", batch.quarantine or batch.ack)
            return quarantine_alert(batch, exc, attempts, self._clock())
        self._failures[batch.origin] = attempts
        while len(self._failures) > _REMEMBERED_FAILURES:
            self._failures.popitem(last=False)
        counters.batches_failed += 1
        delay = min(_RETRY_CAP_SECONDS, self.base_seconds * 2 ** (attempts - 1))
        task = asyncio.create_task(self._release_later(batch, delay, f"failed: {type(exc).__name__}"))
        self._held.add(task)
        task.add_done_callback(self._held.discard)
        return None

    async def _release_later(self, batch: Batch, delay: float, reason: str) -> None:
        try:
            await asyncio.sleep(delay)
        finally:
            await run_to_completion(release(batch, reason))

    async def release_held(self) -> None:
        """Release at once every batch waiting for its retry delay (shutdown)."""
        for task in list(self._held):
            task.cancel()
        if self._held:
            await asyncio.gather(*self._held, return_exceptions=True)
