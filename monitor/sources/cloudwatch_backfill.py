"""The back-fill of `cloudwatch-live-tail`: the spans no Live Tail session covered, read with FilterLogEvents.

Spans come from the time between sessions, sampled updates, released batches
and, before the first session, the time since the checkpoint. Each is read once
it has settled (`settle_seconds`), minus an overlap for late ingestion, per log
group so one failing group is retried alone; while no session is up the
uncovered time is polled like the `cloudwatch-logs` source, so an outage loses
nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from monitor.aws.backoff import Backoff
from monitor.sources.base import SourceStats
from monitor.sources.cloudwatch_common import RecentKeys, Sleep, content_key, count_error, filter_pages, now_ms
from monitor.sources.settings import LiveTailSettings, group_name

# Back-fill reads at most this much per request window, so a long outage is caught up in steps.
MAX_BACKFILL_SECONDS = 3600.0

EmitEvents = Callable[[list[dict[str, Any]], list[bytes], str], Awaitable[None]]


class Backfill:
    def __init__(self, source: str, settings: LiveTailSettings, stats: SourceStats, seen: RecentKeys, *,
                 client: Callable[[], Awaitable[Any]], emit: EmitEvents, saved: Callable[[], None],
                 clock: Callable[[], float], sleep: Sleep) -> None:
        self._source = source
        self._settings = settings
        self.stats = stats
        self._seen = seen
        self._client = client
        self._emit = emit
        self._saved = saved  # persist the checkpoint after a read
        self._clock = clock
        self._sleep = sleep
        self._backoff = Backoff(0.5, 30.0)
        self._names = list(dict.fromkeys(group_name(g) for g in settings.log_groups))
        # Spans to read, per log group name, as FilterLogEvents read windows (group, start_ms, end_ms),
        # overlap included.
        self._gaps: list[tuple[str, int, int]] = []
        self._gap_added = asyncio.Event()
        self.filling: int | None = None  # start of the span being read
        # Start of the time no session has covered (None while a session is live).
        self.uncovered_since: int | None = None

    def covered_from(self, received_ms: int) -> None:
        """A session started: what was uncovered until now is a span to read."""
        if self.uncovered_since is not None:
            self.add_gap(self.uncovered_since, received_ms)
            self.uncovered_since = None

    def uncovered_from(self, start_ms: int) -> None:
        """A session ended: from `start_ms` on nothing is covered (polled until the next session)."""
        self.uncovered_since = start_ms
        self._gap_added.set()

    def marks(self) -> list[int]:
        """The starts of what is not yet read, for the watermark."""
        marks = [start for _, start, _ in self._gaps]
        marks += [mark for mark in (self.filling, self.uncovered_since) if mark is not None]
        return marks

    async def run(self) -> None:
        """Read each span once it has settled; while no session is up, poll the uncovered time. Until cancelled."""
        settle = int(self._settings.fetch.settle_seconds * 1000)
        while True:
            now = now_ms(self._clock)
            horizon = now - settle
            ready = [g for g in self._gaps if g[2] <= horizon]
            polling = self.uncovered_since is not None and self.uncovered_since < horizon
            if polling and self.uncovered_since is not None:
                # No session up: poll the uncovered time so an outage does not delay events indefinitely.
                ready.extend((name, self.uncovered_since, horizon) for name in self._group_names())
            if ready:
                self._gaps = [g for g in self._gaps if g[2] > horizon]
                await self._read(ready, horizon, polling)
                # Pacing, not backoff: under sustained sampling this is a poller with the same cost.
                await asyncio.sleep(self._settings.interval_seconds)
                continue
            self._gap_added.clear()
            wait = self._settings.interval_seconds
            if self._gaps:
                wait = min(wait, max(0.0, (min(g[2] for g in self._gaps) - horizon) / 1000))
            try:
                async with asyncio.timeout(wait):
                    await self._gap_added.wait()
            except TimeoutError:
                pass

    async def _read(self, spans: list[tuple[str, int, int]], horizon: int, polling: bool) -> None:
        self.stats.add("backfills")
        for name, start, end in _merge(spans):
            self.filling = start
            try:
                ok = await self._read_span(name, start, end)
            finally:
                self.filling = None
            if not ok:
                self.add_gap(start, end, name)  # this group alone is read again at the next turn
        if polling and self.uncovered_since is not None:
            # Polled through the outage so far (failed groups kept their own gap): re-read only the overlap next.
            overlap = int(self._settings.fetch.overlap_seconds * 1000)
            self.uncovered_since = max(self.uncovered_since, horizon - overlap)
        self._saved()

    async def _read_span(self, name: str, start: int, end: int) -> bool:
        client = await self._client()
        step = int(MAX_BACKFILL_SECONDS * 1000)
        window_start = start
        while window_start <= end:
            window_end = min(end, window_start + step)
            try:
                async for events in filter_pages(client, name, window_start, window_end,
                                                 self._settings.fetch, source=self._source, stats=self.stats,
                                                 backoff=self._backoff, sleep=self._sleep):
                    fresh: list[dict[str, Any]] = []
                    keys: list[bytes] = []
                    for event in events:
                        key = content_key(name, event)
                        if self._seen.add(key):
                            fresh.append(event)
                            keys.append(key)
                    self.stats.add("log_events_duplicate", len(events) - len(fresh))
                    if fresh:
                        self.stats.add("log_events_backfilled", len(fresh))
                        await self._emit(fresh, keys, f"cloudwatch-logs:{name}@{window_end}")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                count_error(self.stats, self._source, "FilterLogEvents", name, exc)
                return False
            window_start = window_end + 1
        return True

    def add_gap(self, start: int, end: int, group: str | None = None) -> None:
        """Mark [start, end] for back-fill, in one log group or in all of them."""
        if end < start:
            return
        for name in (group,) if group is not None else self._group_names():
            self._gaps.append((name, start, end))
        self._gap_added.set()

    def _group_names(self) -> list[str]:
        return self._names


def _merge(spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Overlapping or touching spans of the same log group as one, in order."""
    merged: list[tuple[str, int, int]] = []
    for name, start, end in sorted(spans):
        if merged and merged[-1][0] == name and start <= merged[-1][2] + 1:
            merged[-1] = (name, merged[-1][1], max(merged[-1][2], end))
        else:
            merged.append((name, start, end))
    return merged
