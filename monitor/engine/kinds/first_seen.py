"""First seen: alert when a key shows a value not seen for it within its history.

Per key the store holds (first seen, last activity, {value: last seen}); per detector, the first event
time it saw (learning is counted from it, or from the key's own first sighting). History runs on
event time, so a scan of old logs learns exactly as the live service would have. A value seen again
within `granularity` of its last sighting changes nothing, so a known value costs one lookup and is
not written back: that is what keeps a learner that sees every person's every call cheap.

Detection folds a slice's repeats of one key and value into one finding; they are replayed here in
order, so the result is the one event-by-event processing gives. Repeats that join an open episode
(`fold_repeats`) are handed back one finding per event, in event order (`apply.py`), so the episode
lists event ids as they happened.
"""

from __future__ import annotations

from typing import Any

from monitor.engine.findings import Finding
from monitor.engine.kinds.base import NEVER, STARTED, Batch, Fired, StatefulKind
from monitor.engine.state.store import Codec, StateStore
from monitor.model.alert import MAX_EVENT_IDS, clip
from monitor.model.detector import FirstSeen

# Last-seen times move at this granularity at most: a value seen again within the hour is not rewritten.
GRANULARITY = 3600.0

Row = tuple[float, float, dict[str, float]]  # first seen, last activity, value -> last seen
ROW = Codec(dump=list, load=lambda data: (float(data[0]), float(data[1]),
                                          {str(v): float(seen) for v, seen in dict(data[2]).items()}))


def first_seen_granularity(spec: FirstSeen) -> float:
    """How far apart two sightings of a known value must be for the second to change anything."""
    # Short histories need a finer grain, so that a value in steady use never looks expired.
    return min(GRANULARITY, spec.history_seconds / 8)


def note_start(store: StateStore, detector_id: str, ts: float) -> float:
    """Record an event time for a learning detector; the first event time it ever saw."""
    started: float | None = store.get(STARTED, detector_id)
    if started is None or ts < started:
        store.put(STARTED, detector_id, ts, NEVER)
        return ts
    return started


def evict_least_active(store: StateStore, space: str, limit: int) -> None:
    """Past `limit` keys, drop the least recently active tenth at once (rare and amortised)."""
    if store.size(space) < limit:
        return
    ordered = sorted(store.items(space), key=lambda item: item[1][1])
    for key, _ in ordered[: max(1, len(ordered) // 10)]:
        store.delete(space, key)


class FirstSeenKind(StatefulKind):
    prefix = "history"
    codec = ROW
    sweep_every = 3600.0
    learns = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self.detector.state, FirstSeen)
        self.spec = self.detector.state
        self.granularity = first_seen_granularity(self.spec)

    def apply(self, finding: Finding, ts: float, batch: Batch) -> None:
        """The finding's event, then its repeats: detection folded only those within the granularity of the
        first, so with the first event applied, its repeats change nothing but an episode's count."""
        key, value = finding.key, finding.value
        assert key is not None and value is not None
        fresh = batch.fresh
        positions = [p for p in (finding.position, *finding.repeats) if fresh[p]] if batch.duplicates else None
        if positions == []:
            return  # every one of them was applied before
        first = finding.position if positions is None else positions[0]
        when = batch.times[first]
        new = self.observe(key, value, when, finding.standalone)
        if finding.quiet:
            return  # learned, never alerted on nor counted
        repeats = finding.repeats if positions is None else positions[1:]
        if new:
            self._new_value(finding, key, value, when, batch.event_ids[first], batch)
        else:
            repeats = [first, *repeats]
        if repeats and self.spec.fold_repeats:
            self._fold_repeats(finding, key, value, max(batch.times[p] for p in repeats),
                               [batch.event_ids[p] for p in repeats], batch, self.spec.label)

    def observe(self, key: str, value: str, ts: float, standalone: bool) -> bool:
        """Record one sighting; True when it is new for the key and learning is over (or it tells alone)."""
        store = self.store
        known: Row | None = store.get(self.space, key)
        if known is not None:
            last = known[2].get(value)
            if last is not None and -self.granularity <= ts - last <= self.granularity:
                return False
        spec = self.spec
        started = note_start(store, self.id, ts)
        if known is not None and ts - max(known[2].values(), default=known[1]) > spec.history_seconds:
            known = None  # every value expired: the key is learned afresh
        if known is None:
            evict_least_active(store, self.space, spec.max_keys)
            self._put(key, (ts, ts, {value: ts}))
            if standalone:
                return True  # a value telling on its own, even for a key never seen
            return spec.min_distinct <= 1 and not spec.learn_per_key and ts >= started + spec.learning_seconds
        first, latest, values = known
        last = values.get(value)
        if last is not None and ts - last <= spec.history_seconds:
            if ts > last or ts < first:
                self._put(key, (min(first, ts), max(latest, ts), {**values, value: max(last, ts)}))
            return False
        horizon = ts - spec.history_seconds
        kept = {v: seen for v, seen in values.items() if seen >= horizon}
        kept[value] = ts
        if len(kept) > spec.max_values:
            del kept[min(kept, key=kept.__getitem__)]
        self._put(key, (min(first, ts), max(latest, ts), kept))
        learned_from = first if spec.learn_per_key else started
        if spec.min_distinct > 1 and len(kept) < spec.min_distinct:  # kept: the values within the history
            return False
        return ts >= learned_from + spec.learning_seconds or standalone or self.bursting(key, ts, started)

    def bursting(self, key: str, ts: float, started: float) -> bool:
        """A brand-new key (first seen after the detector's learning) showing `learning_burst` values within
        `burst_seconds` while it learns: it counts as an established key would."""
        spec = self.spec
        if spec.learning_burst < 1:
            return False
        known: Row | None = self.store.get(self.space, key)
        if known is None or known[0] < started + spec.learning_seconds:
            return False  # a key seen during the detector's own learning is not known to be new
        return len(self.recent_values(key, ts, spec.burst_seconds)) >= spec.learning_burst

    def recent_values(self, key: str, ts: float, within: float | None = None) -> list[str]:
        """The key's values seen within the history (or `within` seconds) before `ts`, sorted."""
        known: Row | None = self.store.get(self.space, key)
        if known is None:
            return []
        horizon = ts - (self.spec.history_seconds if within is None else within)
        return sorted(value for value, seen in known[2].items() if seen >= horizon)

    def _put(self, key: str, row: Row) -> None:
        self.store.put(self.space, key, row, max(row[2].values()) + self.spec.history_seconds)

    def _new_value(self, finding: Finding, key: str, value: str, ts: float, event_id: str, batch: Batch) -> None:
        spec = self.spec
        fired = Fired(start=ts, count=1, event_ids=[event_id], values=[value],
                      context={spec.label: [clip(value, 256)], "history_days": round(spec.history_seconds / 86400, 3)})
        episode = self.episodes.get(self.id, key)
        opening = episode is None or not episode.covers(ts, self.detector.episode_seconds)
        burst = opening and spec.min_distinct <= 1 and self._learning(key, ts)
        if (spec.min_distinct > 1 or burst) and opening:
            # Opening: the alert names (and counts) every value that made the count, not only the last.
            values = self.recent_values(key, ts, spec.burst_seconds if burst else None)
            fired = Fired(start=ts, count=len(values), event_ids=fired.event_ids, values=values,
                          context={**fired.context, spec.label: [clip(v, 256) for v in values[:MAX_EVENT_IDS]]})
        self.fold_or_open(finding, ts, key, fired, batch, label=spec.label)

    def _learning(self, key: str, ts: float) -> bool:
        """The key still learns: a new value for it alerted as a learning burst."""
        spec = self.spec
        if spec.learning_burst < 1 or not spec.learn_per_key:
            return False
        known: Row | None = self.store.get(self.space, key)
        return known is not None and ts < known[0] + spec.learning_seconds

    def _fold_repeats(self, finding: Finding, key: str, value: str, ts: float, event_ids: list[str], batch: Batch,
                      label: str) -> None:
        """Known values of a key whose open episode they started: count those calls in that episode."""
        episode = self.episodes.get(self.id, key)
        if episode is None or not episode.covers(ts, self.detector.episode_seconds):
            return
        if clip(value, 256) in episode.alert.context.get(label, ()):
            self.episodes.join(self.id, key, episode, ts, event_ids, len(event_ids), episode.alert.severity,
                               batch.alerts)
