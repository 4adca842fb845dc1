"""Follow CloudTrail's CloudWatch Logs delivery by polling FilterLogEvents.

Every `interval_seconds`, each log group is read over the window
[checkpoint - overlap, now - settle]: the overlap catches events ingested late
(FilterLogEvents selects by event timestamp), the settle margin skips the last
seconds that may still be ingesting. Each page becomes one batch; events whose
CloudWatch `eventId` was already emitted are skipped. The per-group checkpoint
moves to the window end once every page of that window is acknowledged; until
then the group is not read again, so a group has at most one window in flight.

The eventId memory is not persisted: after a restart the overlap is read once
more and the engine's persisted eventID de-duplication keeps the alerts single,
while the checkpoint store stays O(log groups).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from monitor.aws.backoff import Backoff
from monitor.sources.base import Batch, Emit, Source, SourceContext, SourceStats
from monitor.sources.cloudwatch_common import (
    RecentKeys,
    Sleep,
    count_error,
    filter_pages,
    landed_at,
    now_ms,
    page_bytes,
)
from monitor.sources.settings import CloudWatchLogsSettings

KIND = "cloudwatch-logs"

log = logging.getLogger(__name__)

# A long outage is caught up in windows of this size, so progress is checkpointed along the way.
MAX_WINDOW_SECONDS = 3600.0


def create(name: str, settings: CloudWatchLogsSettings, context: SourceContext) -> Source:
    return CloudWatchLogsSource(name, settings, context)


@dataclass(slots=True)
class _Window:
    """One read of one log group; the checkpoint moves to `end_ms` when all its pages are acknowledged."""

    group: str
    start_ms: int
    end_ms: int
    outstanding: int = 0
    fetched: bool = False  # every page was read and emitted
    failed: bool = False  # a page was released or a read failed: read this span again


class CloudWatchLogsSource:
    def __init__(
        self,
        name: str,
        settings: CloudWatchLogsSettings,
        context: SourceContext,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self.kind = KIND
        self.stats = SourceStats()
        self._settings = settings
        self._context = context
        self._clock = clock
        self._sleep = sleep
        self._backoff = backoff or Backoff(0.5, 30.0)
        self._seen = RecentKeys(settings.fetch.recent_event_ids)
        self._pending: dict[str, _Window] = {}
        self._healthy = False
        self._client: Any = None

    def ready(self) -> bool:
        return self._healthy

    async def run(self, emit: Emit) -> None:
        while True:
            await self.poll_once(emit)
            await self._sleep(self._settings.interval_seconds)

    async def close(self) -> None:
        self._context.checkpoints.commit()

    def checkpoint(self, group: str) -> int | None:
        """The acknowledged position of a group, epoch milliseconds."""
        value = self._context.checkpoints.get(self.name, group)
        try:
            return None if value is None else int(value)
        except ValueError:
            log.warning("source %s: ignoring unreadable checkpoint %r for log group %s", self.name, value, group)
            return None

    async def poll_once(self, emit: Emit) -> None:
        """Read one window of every log group that has no window in flight."""
        if self._client is None:
            self._client = await self._context.clients.client("logs", self._settings.aws)
        succeeded = failed = 0
        for group in self._settings.log_groups:
            if group in self._pending:
                continue  # the previous window still waits for acknowledgements
            if await self._read_window(group, emit):
                succeeded += 1
            else:
                failed += 1
        if succeeded:
            self._healthy = True
        elif failed:
            self._healthy = False

    async def _read_window(self, group: str, emit: Emit) -> bool:
        fetch = self._settings.fetch
        now = now_ms(self._clock)
        end = now - int(fetch.settle_seconds * 1000)
        cursor = self.checkpoint(group)
        if cursor is not None:
            start = cursor - int(fetch.overlap_seconds * 1000)
        elif fetch.start_at is not None:
            start = int(fetch.start_at * 1000)
        else:
            start = now - int(fetch.overlap_seconds * 1000)
        end = min(end, start + int(MAX_WINDOW_SECONDS * 1000))
        if end <= start:
            return True
        window = _Window(group, start, end)
        self._pending[group] = window
        page_number = 0
        try:
            async for events in filter_pages(self._client, group, start, end, fetch, source=self.name,
                                             stats=self.stats, backoff=self._backoff, sleep=self._sleep):
                fresh = [e for e in events if self._seen.add(_event_key(e))]
                self.stats.add("log_events_duplicate", len(events) - len(fresh))
                if not fresh:
                    continue
                page_number += 1
                await self._emit_page(window, page_number, fresh, emit)
        except asyncio.CancelledError:
            window.failed = True
            raise
        except Exception as exc:
            window.failed = True
            count_error(self.stats, self.name, "FilterLogEvents", group, exc)
            return False
        finally:
            window.fetched = True
            self._settle(window)
        return True

    async def _emit_page(self, window: _Window, number: int, events: list[dict[str, Any]], emit: Emit) -> None:
        keys = [_event_key(e) for e in events]
        data = page_bytes(events)
        resolved = False

        async def ack() -> None:
            nonlocal resolved
            if resolved:
                return
            resolved = True
            window.outstanding -= 1
            self._settle(window)

        async def release(reason: str) -> None:
            nonlocal resolved
            if resolved:
                return
            resolved = True
            window.outstanding -= 1
            window.failed = True
            # Forget the keys so the re-read of this window emits these events again.
            for key in keys:
                self._seen.discard(key)
            self.stats.add("batches_released")
            log.info("source %s: page of %s released (%s); it will be read again", self.name, window.group, reason)
            self._settle(window)

        window.outstanding += 1
        batch = Batch(
            source=self.name,
            origin=f"cloudwatch-logs:{window.group}@{window.end_ms}#{number}",
            data=data,
            ack=ack,
            release=release,
            landed_at=landed_at(events),
        )
        self.stats.add("batches_emitted")
        self.stats.add("bytes_read", len(data))
        try:
            await emit(batch)
        except BaseException:
            # Not handed over: nobody will ack it, so the window must be read again.
            await release("not emitted")
            raise

    def _settle(self, window: _Window) -> None:
        if not window.fetched or window.outstanding > 0:
            return
        if self._pending.get(window.group) is window:
            del self._pending[window.group]
        if window.failed:
            return
        checkpoints = self._context.checkpoints
        checkpoints.put(self.name, window.group, str(window.end_ms))
        checkpoints.commit()


def _event_key(event: dict[str, Any]) -> str:
    event_id = event.get("eventId")
    if isinstance(event_id, str) and event_id:
        return event_id
    # Without an eventId (never seen from CloudWatch), fall back to the event's own content.
    return f"{event.get('logStreamName')}\0{event.get('timestamp')}\0{event.get('message')}"
