"""Per-key history for first-seen and usual-rate detections, bounded and persisted incrementally.

History is measured in event time, like every other window, so a scan of a month of
old logs learns and alerts exactly as the live service would have. Changed keys are
tracked so the live service writes only what changed to its embedded store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.model.detector import FirstSeen, RateBaseline

# Last-seen times are kept and persisted at this granularity (at most): a value seen again within
# the hour does not rewrite its row. A restart may make a value look up to an hour older.
PERSIST_GRANULARITY = 3600.0
# How far the watermark moves between two sweeps of expired history.
SWEEP_EVERY = 3600.0


class _Changes:
    """Keys changed since the last `take_changes()` (None marks a deleted key)."""

    def __init__(self) -> None:
        self.dirty: set[str] = set()
        self.started_changed = False

    def take(self, rows: dict[str, Any], started: float | None) -> list[tuple[str, dict[str, Any] | None]]:
        out: list[tuple[str, dict[str, Any] | None]] = []
        if self.started_changed and started is not None:
            out.append(("", {"started": started}))
        for key in self.dirty:
            row = rows.get(key)
            out.append((f"k:{key}", None if row is None else _row(row)))
        self.dirty = set()
        self.started_changed = False
        return out


def _row(known: list[Any]) -> dict[str, Any]:
    return {"first": known[0], "last": known[1], "values": dict(known[2])}


class _KeyedHistory:
    """key -> [first seen, last activity, {entry: value}]: bounded, swept, changes tracked for persistence."""

    def __init__(self, max_keys: int) -> None:
        self._max_keys = max_keys
        self._keys: dict[str, list[Any]] = {}
        self._started: float | None = None  # the first event time this detector saw
        self._swept = 0.0
        self._changes = _Changes()

    def _saw(self, ts: float) -> float:
        """Note an event time; returns the first event time seen (learning is counted from it)."""
        if self._started is None or ts < self._started:
            self._started = ts
            self._changes.started_changed = True
        return self._started

    def _add_key(self, key: str, ts: float, entries: dict[Any, Any]) -> None:
        if len(self._keys) >= self._max_keys:
            self._evict_keys()
        self._keys[key] = [ts, ts, entries]
        self._changes.dirty.add(key)

    def _evict_keys(self) -> None:
        # Drop the least recently active tenth at once, so eviction is rare and amortised.
        ordered = sorted(self._keys, key=lambda k: self._keys[k][1])
        for key in ordered[: max(1, len(ordered) // 10)]:
            del self._keys[key]
            self._changes.dirty.add(key)

    def _sweep(self, watermark: float, keep: Callable[[Any, Any], bool], fresh: Callable[[list[Any]], bool]) -> None:
        """Drop entries `keep` rejects, and keys left with none; keys `fresh` vouches for are skipped."""
        if watermark - self._swept < SWEEP_EVERY:
            return  # amortised: at most once per hour of event time
        self._swept = watermark
        for key in list(self._keys):
            known = self._keys[key]
            if fresh(known):
                continue
            kept = {entry: value for entry, value in known[2].items() if keep(entry, value)}
            if kept:
                known[2] = kept
            else:
                del self._keys[key]
            self._changes.dirty.add(key)

    def _restore(self, rows: list[tuple[str, dict[str, Any]]], entry: Callable[[str, Any], tuple[Any, Any]]) -> None:
        for name, data in rows:
            if name == "":
                self._started = float(data["started"])
            elif name.startswith("k:") and len(self._keys) < self._max_keys:
                entries = dict(entry(k, v) for k, v in dict(data["values"]).items())
                if entries:
                    self._keys[name[2:]] = [float(data["first"]), float(data["last"]), entries]

    def __len__(self) -> int:
        return len(self._keys)


class FirstSeenBook(_KeyedHistory):
    """Values seen per key (value -> last seen) with the key's first sighting."""

    def __init__(self, spec: FirstSeen) -> None:
        super().__init__(spec.max_keys)
        self.spec = spec
        # A value seen again within this is not looked at again (nor persisted): an hour, or less for
        # short histories so that a value in steady use never looks expired.
        self._granularity = min(PERSIST_GRANULARITY, spec.history_seconds / 8)

    def observe(self, key: str, value: str, ts: float) -> bool:
        """Record one sighting; True when it is new for the key and learning is over."""
        # Runs for every profiled event: a value seen just now has nothing to teach or persist.
        known = self._keys.get(key)
        if known is not None:
            last = known[2].get(value)
            if last is not None and -self._granularity <= ts - last <= self._granularity:
                return False
        return self._learn(known, key, value, ts)

    def _learn(self, known: list[Any] | None, key: str, value: str, ts: float) -> bool:
        spec = self.spec
        started = self._saw(ts)
        if known is not None and ts - max(known[2].values(), default=known[1]) > spec.history_seconds:
            known = None  # every value expired: the key is learned afresh, as after a sweep
        if known is None:
            self._add_key(key, ts, {value: ts})
            if spec.alert_first is not None and spec.alert_first(value):
                return True  # a value telling on its own, even for a key never seen
            return spec.min_distinct <= 1 and not spec.learn_per_key and ts >= started + spec.learning_seconds
        values: dict[str, float] = known[2]
        last = values.get(value)
        if ts > known[1]:
            known[1] = ts
        if ts < known[0]:
            known[0] = ts
            self._changes.dirty.add(key)
        if last is not None and ts - last <= spec.history_seconds:
            if ts > last:
                values[value] = ts
                self._changes.dirty.add(key)
            return False
        values[value] = ts
        if len(values) > spec.max_values:
            del values[min(values, key=values.__getitem__)]
        self._changes.dirty.add(key)
        learned_from = known[0] if spec.learn_per_key else started
        if spec.min_distinct > 1 and len(self.recent_values(key, ts)) < spec.min_distinct:
            return False
        return ts >= learned_from + spec.learning_seconds or (spec.alert_first is not None and spec.alert_first(value))

    def recent_values(self, key: str, ts: float) -> list[str]:
        """The key's values seen within the history before `ts`, sorted."""
        known = self._keys.get(key)
        if known is None:
            return []
        horizon = ts - self.spec.history_seconds
        return sorted(value for value, seen in known[2].items() if seen >= horizon)

    def sweep(self, watermark: float) -> None:
        """Forget values older than the history window, and keys left with none (amortised hourly)."""
        horizon = watermark - self.spec.history_seconds
        self._sweep(watermark, keep=lambda _value, seen: seen >= horizon,
                    fresh=lambda known: known[1] >= horizon and all(seen >= horizon for seen in known[2].values()))

    def take_changes(self) -> list[tuple[str, dict[str, Any] | None]]:
        return self._changes.take(self._keys, self._started)

    def restore(self, rows: list[tuple[str, dict[str, Any]]]) -> None:
        self._restore(rows, lambda value, seen: (str(value), float(seen)))


class RateBook(_KeyedHistory):
    """Match counts per key and time bucket, for "first time" and "far above the usual rate"."""

    def __init__(self, spec: RateBaseline) -> None:
        super().__init__(spec.max_keys)
        self.spec = spec
        self._history_buckets = spec.history_seconds // spec.bucket_seconds

    def observe(self, key: str, ts: float) -> dict[str, Any] | None:
        """Count one match; the reason to alert (as alert context) or None."""
        spec = self.spec
        started = self._saw(ts)
        bucket = int(ts // spec.bucket_seconds)
        known = self._keys.get(key)
        self._changes.dirty.add(key)
        if known is None:
            self._add_key(key, ts, {bucket: 1})
            if ts >= started + spec.learning_seconds:
                return {"reason": "first seen", "history_days": spec.history_seconds / 86400}
            return None
        if ts > known[1]:
            known[1] = ts
        buckets: dict[int, int] = known[2]
        count = buckets.get(bucket, 0) + 1
        buckets[bucket] = count
        if count < spec.min_count or ts < known[0] + spec.key_learning_seconds:
            return None
        oldest = bucket - self._history_buckets
        past = [n for b, n in buckets.items() if oldest <= b < bucket]
        usual = sum(past) / len(past) if past else 0.0
        if count >= spec.factor * usual:
            return {"reason": "above usual rate", "bucket_count": count, "usual_per_bucket": round(usual, 1),
                    "bucket_seconds": spec.bucket_seconds}
        return None

    def sweep(self, watermark: float) -> None:
        oldest = int((watermark - self.spec.history_seconds) // self.spec.bucket_seconds)
        self._sweep(watermark, keep=lambda bucket, _count: bucket >= oldest,
                    fresh=lambda known: min(known[2], default=oldest) >= oldest)

    def take_changes(self) -> list[tuple[str, dict[str, Any] | None]]:
        rows = {key: [known[0], known[1], {str(b): n for b, n in known[2].items()}]
                for key, known in self._keys.items() if key in self._changes.dirty}
        return self._changes.take(rows, self._started)

    def restore(self, rows: list[tuple[str, dict[str, Any]]]) -> None:
        self._restore(rows, lambda bucket, count: (int(bucket), int(count)))
