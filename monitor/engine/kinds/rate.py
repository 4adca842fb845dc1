"""Usual rate: alert on a key's first active bucket ever, or on a bucket far above its usual count.

Per key the store holds (first seen, last activity, {bucket: count}) for `history_seconds`. A key
learns for `key_learning_seconds` before its rate is judged; the detector as a whole learns for
`learning_seconds` before a first sighting alerts. While an episode is open every call joins it, so
the alert counts the whole burst.
"""

from __future__ import annotations

from typing import Any

from monitor.engine.findings import Finding
from monitor.engine.kinds.base import Batch, Fired, StatefulKind
from monitor.engine.kinds.first_seen import evict_least_active, note_start
from monitor.engine.state.store import Codec
from monitor.model.detector import RateBaseline

Row = tuple[float, float, dict[int, int]]  # first seen, last activity, bucket -> count


def _dump(row: Row) -> list[Any]:
    return [row[0], row[1], {str(bucket): count for bucket, count in row[2].items()}]


def _load(data: list[Any]) -> Row:
    return float(data[0]), float(data[1]), {int(bucket): int(count) for bucket, count in dict(data[2]).items()}


class RateKind(StatefulKind):
    prefix = "rate"
    codec = Codec(dump=_dump, load=_load)
    sweep_every = 3600.0
    learns = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self.detector.state, RateBaseline)
        self.spec = self.detector.state
        self.history_buckets = self.spec.history_seconds // self.spec.bucket_seconds

    def apply(self, finding: Finding, ts: float, batch: Batch) -> None:
        key = finding.key
        assert key is not None
        event_id = batch.event_ids[finding.position]
        reason = self.observe(key, ts)
        if reason is not None:
            fired = Fired(start=ts, count=int(reason.get("bucket_count", 1)), event_ids=[event_id], context=reason)
        elif self._in_open_episode(key, ts):
            fired = Fired(start=ts, count=1, event_ids=[event_id])  # every call of an open burst joins it
        else:
            return
        self.fold_or_open(finding, ts, key, fired, batch, count=1)

    def _in_open_episode(self, key: str, ts: float) -> bool:
        # An episode ended (not yet swept) is not open: a later ordinary call must not open a new alert.
        episode = self.episodes.get(self.id, key)
        return episode is not None and episode.covers(ts, self.detector.episode_seconds)

    def observe(self, key: str, ts: float) -> dict[str, Any] | None:
        """Count one match; the reason to alert (as alert context) or None."""
        spec = self.spec
        started = note_start(self.store, self.id, ts)
        bucket = int(ts // spec.bucket_seconds)
        known: Row | None = self.store.get(self.space, key)
        if known is None:
            evict_least_active(self.store, self.space, spec.max_keys)
            self._put(key, (ts, ts, {bucket: 1}))
            if ts >= started + spec.learning_seconds:
                return {"reason": "first seen", "history_days": spec.history_seconds / 86400}
            return None
        first, latest, buckets = known
        oldest = bucket - self.history_buckets
        count = buckets.get(bucket, 0) + 1
        self._put(key, (first, max(latest, ts), {**{b: n for b, n in buckets.items() if b >= oldest}, bucket: count}))
        if count < spec.min_count or ts < first + spec.key_learning_seconds:
            return None
        past = [n for b, n in buckets.items() if oldest <= b < bucket]
        usual = sum(past) / len(past) if past else 0.0
        if count >= spec.factor * usual:
            return {"reason": "above usual rate", "bucket_count": count, "usual_per_bucket": round(usual, 1),
                    "bucket_seconds": spec.bucket_seconds}
        return None

    def _put(self, key: str, row: Row) -> None:
        self.store.put(self.space, key, row, row[1] + self.spec.history_seconds)
