"""Event times: RFC 3339 text to epoch seconds, fast for CloudTrail's own spelling.

CloudTrail writes whole seconds (`2026-03-01T12:34:56Z`), a few events per distinct second. A small
cache of whole strings catches repeats; a cache of minutes turns the rest into one lookup and one add,
so real timestamps (which mostly miss the first cache) cost little. Anything else goes through
`datetime.fromisoformat`.
"""

from __future__ import annotations

from datetime import UTC, datetime

BAD_TIME = -1.0  # what `parse` returns for text that is not a usable timestamp
_CACHE_LIMIT = 4096
_MINUTES_LIMIT = 65536
# 00 to 59, as fromisoformat reads them: a leap second (60) is refused here as it is in every other spelling.
_SECONDS = {f"{second:02d}": float(second) for second in range(60)}


class EventTimes:
    __slots__ = ("_minutes", "_recent")

    def __init__(self) -> None:
        self._recent: dict[str, float] = {}
        self._minutes: dict[str, float] = {}

    @property
    def recent(self) -> dict[str, float]:
        """Recently parsed texts, for a hot loop to try before calling `parse` (read only)."""
        return self._recent

    def parse(self, text: str) -> float:
        """Epoch seconds for an RFC 3339 / ISO 8601 timestamp (UTC when it has no zone), else BAD_TIME."""
        known = self._recent.get(text)
        if known is not None:
            return known
        seconds = self._whole_second(text) if len(text) == 20 and text[19] == "Z" else None
        if seconds is None:
            seconds = _parse_iso(text)
        recent = self._recent
        if len(recent) >= _CACHE_LIMIT:
            recent.clear()
        recent[text] = seconds
        return seconds

    def _whole_second(self, text: str) -> float | None:
        second = _SECONDS.get(text[17:19])
        if second is None or text[16] != ":":
            return None
        minute = self._minutes.get(text[:16])
        if minute is None:
            parsed = _parse_iso(text[:16] + ":00Z")
            if parsed == BAD_TIME:
                return None
            if len(self._minutes) >= _MINUTES_LIMIT:
                self._minutes.clear()
            minute = self._minutes[text[:16]] = parsed
        return minute + second


def _parse_iso(text: str) -> float:
    if len(text) > 64:
        return BAD_TIME
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return BAD_TIME
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        seconds = moment.timestamp()
    except (OverflowError, OSError):
        return BAD_TIME
    return seconds if seconds >= 0 else BAD_TIME
