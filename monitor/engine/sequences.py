""""A follows N B's": prior events remembered per key, a trigger event fires when enough preceded it."""

from __future__ import annotations

from bisect import bisect_left, insort
from typing import Any

from monitor.engine.windows import MAX_ENTRIES_PER_KEY, Fired


class PrecededWindows:
    def __init__(self, count: int, window: float) -> None:
        self.count = count
        self.window = window
        self._priors: dict[str, list[tuple[float, str]]] = {}

    def prior(self, key: str, ts: float, event_id: str) -> None:
        priors = self._priors.setdefault(key, [])
        insort(priors, (ts, event_id))
        if len(priors) > MAX_ENTRIES_PER_KEY:
            del priors[0]

    def trigger(self, key: str, ts: float, event_id: str) -> Fired | None:
        """Fire when >= count priors of the key fall within the window before `ts`."""
        priors = self._priors.get(key)
        if not priors:
            return None
        first = bisect_left(priors, (ts - self.window, ""))
        inside = [entry for entry in priors[first:] if entry[0] <= ts]
        if len(inside) < self.count:
            return None
        del self._priors[key]
        ids = [eid for _, eid in inside if eid]
        if event_id:
            ids.append(event_id)
        return Fired(start=inside[0][0], count=len(inside) + 1, event_ids=ids)

    def prune(self, horizon: float) -> None:
        for key in list(self._priors):
            priors = self._priors[key]
            cut = bisect_left(priors, (horizon, ""))
            if cut:
                del priors[:cut]
                if not priors:
                    del self._priors[key]

    def __len__(self) -> int:
        return len(self._priors)

    def snapshot(self) -> dict[str, list[list[Any]]]:
        return {key: [[ts, eid] for ts, eid in priors] for key, priors in self._priors.items()}

    def restore(self, state: dict[str, list[list[Any]]]) -> None:
        for key, entries in state.items():
            self._priors[key] = sorted((float(ts), str(eid)) for ts, eid in entries)
