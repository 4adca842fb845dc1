"""Ordered: alert when a key's matches hold every step of a sequence, in order, within the window.

Sigma's `temporal_ordered` correlation. A key's state is the distinct-count shape, each step (the
Hit's value) mapped to its recent (time, eventID) pairs, so a sequence is found whatever order the
events arrive in (within the allowed lateness). A chain takes, from each start, the earliest event of
every next step at or after the one before; events of one second count as in order, but one event
never stands for two steps. Like a threshold, a completed sequence opens an episode that later matches
of the key join, and the key starts afresh.
"""

from __future__ import annotations

from typing import Any

from monitor.engine.findings import Finding
from monitor.engine.kinds.base import Batch, Fired, StatefulKind
from monitor.engine.kinds.distinct import MAX_TIMES_PER_VALUE, SEEN, Seen, recent
from monitor.model.detector import Ordered

Entry = tuple[float, str]


class OrderedKind(StatefulKind):
    prefix = "ordered"
    codec = SEEN

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self.detector.state, Ordered)
        self.spec = self.detector.state
        self.steps = frozenset(self.spec.steps)

    def apply(self, finding: Finding, ts: float, batch: Batch) -> None:
        key, value = finding.key, finding.value
        assert key is not None
        event_id = batch.event_ids[finding.position]
        if self.join_open_episode(finding, ts, key, batch):
            return
        if value not in self.steps:
            return  # joins an open episode, never counts toward a new one
        spec = self.spec
        window = float(spec.window_seconds)
        stored: Seen | None = self.store.get(self.space, key)
        seen: Seen = recent(stored, batch.watermark - self.lateness - window) if stored else {}
        seen[value] = tuple(sorted((*seen.get(value, ()), (ts, event_id)))[-MAX_TIMES_PER_VALUE:])
        chain = in_order(seen, spec.steps, window)
        if chain is None:
            newest = max(times[-1][0] for times in seen.values())
            self.store.put(self.space, key, seen, self.expiry(newest, window))
            return
        self.store.delete(self.space, key)
        fired = Fired(start=chain[0][0], count=len(chain), event_ids=[eid for _, eid in chain],
                      context={spec.label: list(spec.steps), "window_seconds": spec.window_seconds})
        self.open_episode(finding, ts, key, fired, batch)


def in_order(seen: Seen, steps: tuple[str, ...], window: float) -> list[Entry] | None:
    """The first chain of entries, one per step in order, spanning at most `window`; None when there is none."""
    for start in seen.get(steps[0], ()):
        chain = [start]
        for step in steps[1:]:
            after = chain[-1]
            found = next((entry for entry in seen.get(step, ()) if entry[0] >= after[0]
                          and entry[1] != after[1] and entry not in chain), None)
            if found is None or found[0] - start[0] > window:
                break
            chain.append(found)
        else:
            return chain
    return None
