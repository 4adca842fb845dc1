"""Distinct count: alert when `count` distinct values of one key fall within `window_seconds`.

A key's state maps each value to its recent (time, eventID) pairs (a few per value), so a window is
checked around any arriving time, out of order included. Like a threshold, a firing window opens an
episode that later matches of the key join.
"""

from __future__ import annotations

from typing import Any

from monitor.engine.findings import Finding
from monitor.engine.kinds.base import Batch, Fired, StatefulKind
from monitor.engine.state.store import Codec
from monitor.model.alert import MAX_EVENT_IDS
from monitor.model.detector import DistinctCount

MAX_VALUES_PER_KEY = 10_000
MAX_TIMES_PER_VALUE = 8

Seen = dict[str, tuple[tuple[float, str], ...]]
# Saved as {value: [[time, event id], ...]}.
SEEN = Codec(dump=lambda seen: {value: [list(entry) for entry in times] for value, times in seen.items()},
             load=lambda data: {str(value): tuple((float(ts), str(eid)) for ts, eid in times)
                                for value, times in dict(data).items()})


class DistinctKind(StatefulKind):
    prefix = "distinct"
    codec = SEEN

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self.detector.state, DistinctCount)
        self.spec = self.detector.state

    def apply(self, finding: Finding, ts: float, batch: Batch) -> None:
        key, value = finding.key, finding.value
        assert key is not None
        event_id = batch.event_ids[finding.position]
        if self.join_open_episode(finding, ts, key, batch):
            return
        if value is None:
            return  # joins an open episode, never counts toward a new one
        spec = self.spec
        window = float(spec.window_seconds)
        stored: Seen | None = self.store.get(self.space, key)
        seen: Seen = recent(stored, batch.watermark - self.lateness - window) if stored else {}
        if value not in seen and len(seen) >= MAX_VALUES_PER_KEY:
            return
        times = sorted((*seen.get(value, ()), (ts, event_id)))[-MAX_TIMES_PER_VALUE:]
        seen[value] = tuple(times)
        fired = _fire(seen, ts, window, spec.count) if len(seen) >= spec.count else None
        if fired is None:
            newest = max(times[-1][0] for times in seen.values())
            self.store.put(self.space, key, seen, self.expiry(newest, window))
            return
        self.store.delete(self.space, key)
        fired.context = {"distinct_count": len(fired.values), spec.label: fired.values[:MAX_EVENT_IDS],
                         "window_seconds": spec.window_seconds}
        self.open_episode(finding, ts, key, fired, batch)


def recent(stored: Seen, horizon: float) -> Seen:
    """A copy keeping only times at or after the horizon (and values that still have one)."""
    kept: Seen = {}
    for value, times in stored.items():
        if times[0][0] >= horizon:
            kept[value] = times
        else:
            recent = tuple(entry for entry in times if entry[0] >= horizon)
            if recent:
                kept[value] = recent
    return kept


def _fire(seen: Seen, ts: float, window: float, need: int) -> Fired | None:
    starts = sorted({t for times in seen.values() for t, _ in times if ts - window <= t <= ts})
    for start in starts:
        end = start + window
        inside = {v: times for v, times in seen.items() if any(start <= t <= end for t, _ in times)}
        if len(inside) >= need:
            reads = [eid for times in inside.values() for t, eid in times if start <= t <= end]
            # One event may read several values (GetParameters of 41 names): each counts, its id is listed once.
            return Fired(start=start, count=len(reads), event_ids=list(dict.fromkeys(reads)), values=sorted(inside))
    return None
