"""Event-time parsing with a cache: events of one file share few distinct timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

_CACHE_LIMIT = 100_000

# The seconds field of CloudTrail's own format: ASCII digits only, which str.isdigit does not ensure.
_SECONDS = {f"{n:02d}": n for n in range(60)}


class EventTimeParser:
    __slots__ = ("_cache", "_minutes")

    def __init__(self) -> None:
        self._cache: dict[str, float] = {}
        self._minutes: dict[str, float | None] = {}

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
        # CloudTrail writes "YYYY-MM-DDTHH:MM:SSZ": a file holds a few minutes and hundreds of
        # distinct seconds, so the minute is parsed once and the seconds are added to it.
        # Whether the whole is valid depends only on the minute part, which the full parser checks.
        second = _SECONDS.get(value[17:19]) if len(value) == 20 and value[16] == ":" and value[19] == "Z" else None
        if second is not None:
            prefix = value[:16]
            if prefix in self._minutes:
                minute = self._minutes[prefix]
            else:
                minute = _parse_iso(prefix + ":00Z")
                if len(self._minutes) >= _CACHE_LIMIT:
                    self._minutes.clear()
                self._minutes[prefix] = minute
            seconds = None if minute is None else minute + second
        else:
            seconds = _parse_iso(value)
        if seconds is None:
            return None
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[value] = seconds
        return seconds


def _parse_iso(value: str) -> float | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, OSError):
        return None
