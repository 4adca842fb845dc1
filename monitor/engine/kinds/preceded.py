"""Preceded: alert on a trigger that follows >= `count` prior events of the same key within the window.

Prior events (`Hit.prior`) are only remembered; a trigger checks the window before it and, when it
fires, clears the key's memory (each failure burst explains one success). A trigger may name its own
threshold (`Hit.priors_needed`: one failure is enough before root signs in).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from monitor.engine.findings import Finding
from monitor.engine.kinds.base import Batch, Fired, StatefulKind
from monitor.engine.kinds.threshold import ENTRIES, MAX_ENTRIES_PER_KEY, add_entry
from monitor.model.detector import Preceded


class PrecededKind(StatefulKind):
    prefix = "preceded"
    codec = ENTRIES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self.detector.state, Preceded)
        self.spec = self.detector.state

    def apply(self, finding: Finding, ts: float, batch: Batch) -> None:
        key = finding.key
        assert key is not None
        event_id = batch.event_ids[finding.position]
        window = float(self.spec.window_seconds)
        stored: tuple[tuple[float, str], ...] | None = self.store.get(self.space, key)
        priors = list(stored) if stored else []
        if finding.prior:
            add_entry(priors, ts, event_id)
            horizon = batch.watermark - self.lateness - window
            priors = [entry for entry in priors if entry[0] >= horizon][-MAX_ENTRIES_PER_KEY:] or [(ts, event_id)]
            self.store.put(self.space, key, tuple(priors), self.expiry(priors[-1][0], window))
            return
        first = bisect_left(priors, (ts - window, ""))
        inside = [entry for entry in priors[first:] if entry[0] <= ts]
        needed = self.spec.count if finding.priors_needed is None else max(1, finding.priors_needed)
        if len(inside) < needed:
            return
        self.store.delete(self.space, key)
        fired = Fired(start=inside[0][0], count=len(inside) + 1, event_ids=[*(e for _, e in inside if e), event_id],
                      context={self.spec.label: len(inside), "window_seconds": self.spec.window_seconds})
        self.fold_or_open(finding, ts, key, fired, batch)
