"""Event-time parsing with a cache: events of one file share few distinct timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

_CACHE_LIMIT = 100_000


class EventTimeParser:
    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[str, float] = {}

    @property
    def cache(self) -> dict[str, float]:
        """Timestamps parsed so far, for hot loops to try before calling `parse`. Read only;
        the same dict for the parser's lifetime (it is cleared, never replaced)."""
        return self._cache

    def parse(self, value: str) -> float | None:
        """Epoch seconds for an RFC 3339 / ISO 8601 timestamp, or None when it is not one."""
        cached = self._cache.get(value)
        if cached is not None:
            return cached
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            seconds = moment.timestamp()
        except (OverflowError, OSError):
            return None
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[value] = seconds
        return seconds
