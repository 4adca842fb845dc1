"""Keyed event-time windows: "N events" and "N distinct values" per group key.

Matches are kept sorted by event time, so events that arrive out of order
(within the lateness allowance) count exactly as if they had arrived in
order. A window fires when some interval of `window` seconds holds enough
matches; the caller then folds later matches into an episode and clears the
key. Entries older than the watermark minus window and lateness are pruned,
so memory is bounded by the matches of the last window per key.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field
from typing import Any

# A key that never fires still cannot grow without bound.
MAX_ENTRIES_PER_KEY = 10_000
MAX_TIMES_PER_VALUE = 8


@dataclass(frozen=True, slots=True)
class Fired:
    start: float
    count: int
    event_ids: list[str]
    values: list[str] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)  # what the alert should add to its context


class CountWindows:
    """Fires when >= `count` matches of one key fall within `window` seconds."""

    def __init__(self, count: int, window: float) -> None:
        self.count = count
        self.window = window
        self._times: dict[str, list[float]] = {}
        self._ids: dict[str, dict[float, list[str]]] = {}

    def add(self, key: str, ts: float, event_id: str) -> Fired | None:
        times = self._times.setdefault(key, [])
        insort(times, ts)
        self._ids.setdefault(key, {}).setdefault(ts, []).append(event_id)
        if len(times) > MAX_ENTRIES_PER_KEY:
            self._drop_oldest(key, times)
        need = self.count
        window = self.window
        first = bisect_left(times, ts - window)
        last = bisect_right(times, ts)
        for index in range(first, last):
            start = times[index]
            end = bisect_right(times, start + window)
            if end - index >= need:
                return self._fire(key, times[index:end])
        return None

    def _fire(self, key: str, times: list[float]) -> Fired:
        ids_by_time = self._ids.pop(key)
        del self._times[key]
        event_ids: list[str] = []
        for ts in dict.fromkeys(times):
            event_ids.extend(ids_by_time.get(ts, ()))
        return Fired(start=times[0], count=len(times), event_ids=event_ids)

    def _drop_oldest(self, key: str, times: list[float]) -> None:
        oldest = times.pop(0)
        ids = self._ids[key]
        bucket = ids.get(oldest)
        if bucket:
            bucket.pop(0)
            if not bucket:
                del ids[oldest]

    def prune(self, horizon: float) -> None:
        """Forget matches older than `horizon` (event time)."""
        for key in list(self._times):
            times = self._times[key]
            cut = bisect_left(times, horizon)
            if not cut:
                continue
            ids = self._ids[key]
            for ts in times[:cut]:
                ids.pop(ts, None)
            del times[:cut]
            if not times:
                del self._times[key]
                del self._ids[key]

    def __len__(self) -> int:
        return len(self._times)

    def snapshot(self) -> dict[str, list[list[Any]]]:
        """Plain data for the checkpoint store: key -> [[time, event id], ...] in time order."""
        state: dict[str, list[list[Any]]] = {}
        for key, ids_by_time in self._ids.items():
            state[key] = [[ts, event_id] for ts in sorted(ids_by_time) for event_id in ids_by_time[ts]]
        return state

    def restore(self, state: dict[str, list[list[Any]]]) -> None:
        for key, entries in state.items():
            for ts, event_id in entries:
                insort(self._times.setdefault(key, []), float(ts))
                self._ids.setdefault(key, {}).setdefault(float(ts), []).append(str(event_id))


class DistinctWindows:
    """Fires when >= `count` distinct values of one key fall within `window` seconds."""

    def __init__(self, count: int, window: float) -> None:
        self.count = count
        self.window = window
        # key -> value -> sorted recent times (and the event id of each)
        self._values: dict[str, dict[str, list[tuple[float, str]]]] = {}

    def add(self, key: str, ts: float, event_id: str, value: str) -> Fired | None:
        values = self._values.setdefault(key, {})
        if value not in values and len(values) >= MAX_ENTRIES_PER_KEY:
            return None
        seen = values.setdefault(value, [])
        insort(seen, (ts, event_id))
        if len(seen) > MAX_TIMES_PER_VALUE:
            del seen[0]
        if len(values) < self.count:
            return None  # too few distinct values in all of the key's memory: no window can hold enough
        window = self.window
        starts = sorted({t for times in values.values() for t, _ in times if ts - window <= t <= ts})
        for start in starts:
            end = start + window
            inside = {v: times for v, times in values.items() if any(start <= t <= end for t, _ in times)}
            if len(inside) >= self.count:
                del self._values[key]
                event_ids = [eid for times in inside.values() for t, eid in times if start <= t <= end]
                count = sum(1 for times in inside.values() for t, _ in times if start <= t <= end)
                return Fired(start=start, count=count, event_ids=event_ids, values=sorted(inside))
        return None

    def prune(self, horizon: float) -> None:
        # Runs every batch over every key: most values have nothing old, one comparison tells.
        for key in list(self._values):
            values = self._values[key]
            for value in list(values):
                times = values[value]
                if times[0][0] >= horizon:
                    continue
                cut = bisect_left(times, (horizon, ""))
                if cut >= len(times):
                    del values[value]
                else:
                    del times[:cut]
            if not values:
                del self._values[key]

    def __len__(self) -> int:
        return len(self._values)

    def snapshot(self) -> dict[str, dict[str, list[list[Any]]]]:
        """Plain data for the checkpoint store: key -> value -> [[time, event id], ...]."""
        return {key: {value: [[ts, event_id] for ts, event_id in times] for value, times in values.items()}
                for key, values in self._values.items()}

    def restore(self, state: dict[str, dict[str, list[list[Any]]]]) -> None:
        for key, values in state.items():
            target = self._values.setdefault(key, {})
            for value, times in values.items():
                target[value] = sorted((float(ts), str(event_id)) for ts, event_id in times)
