"""Threshold: alert when `count` matches of one key fall within `window_seconds` of event time.

The window of a key is a sorted tuple of (time, eventID), so events arriving out of order (within
the allowed lateness) count exactly as if they had arrived in order. Once a window fires, later
matches of the key fold into the episode it opened, and the window starts afresh.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from operator import itemgetter
from typing import Any

from monitor.engine.findings import Finding
from monitor.engine.kinds.base import Batch, Fired, StatefulKind
from monitor.engine.state.store import Codec
from monitor.model.detector import Threshold

# A key that never fires still cannot grow without bound.
MAX_ENTRIES_PER_KEY = 10_000

Entries = tuple[tuple[float, str], ...]
# Saved as [[time, event id], ...].
ENTRIES = Codec(dump=lambda entries: [list(entry) for entry in entries],
                load=lambda data: tuple((float(ts), str(event_id)) for ts, event_id in data))


_TIME = itemgetter(0)


def add_entry(entries: list[tuple[float, str]], ts: float, event_id: str) -> None:
    """Insert in time order; events of the same second keep their arrival order."""
    insort(entries, (ts, event_id), key=_TIME)


def fire_within(entries: list[tuple[float, str]], ts: float, window: float,
                need: int) -> list[tuple[float, str]] | None:
    """The entries of the first `window`-long span around `ts` that holds >= `need` of them, or None."""
    first = bisect_left(entries, ts - window, key=_TIME)
    last = bisect_right(entries, ts, key=_TIME)
    for index in range(first, last):
        end = bisect_right(entries, entries[index][0] + window, key=_TIME)
        if end - index >= need:
            return entries[index:end]
    return None


class ThresholdKind(StatefulKind):
    prefix = "threshold"
    codec = ENTRIES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self.detector.state, Threshold)
        self.spec = self.detector.state

    def apply(self, finding: Finding, ts: float, batch: Batch) -> None:
        key = finding.key
        assert key is not None
        event_id = batch.event_ids[finding.position]
        if self.join_open_episode(finding, ts, key, batch):
            return
        window = float(self.spec.window_seconds)
        stored: Entries | None = self.store.get(self.space, key)
        entries = list(stored) if stored else []
        add_entry(entries, ts, event_id)
        horizon = batch.watermark - self.lateness - window
        if entries[0][0] < horizon:
            entries = [entry for entry in entries if entry[0] >= horizon] or [(ts, event_id)]
        if len(entries) > MAX_ENTRIES_PER_KEY:
            del entries[0]
        inside = fire_within(entries, ts, window, self.spec.count)
        if inside is None:
            self.store.put(self.space, key, tuple(entries), self.expiry(entries[-1][0], window))
            return
        self.store.delete(self.space, key)
        fired = Fired(start=inside[0][0], count=len(inside), event_ids=[eid for _, eid in inside],
                      context={"threshold": self.spec.count, "window_seconds": self.spec.window_seconds})
        self.open_episode(finding, ts, key, fired, batch)
