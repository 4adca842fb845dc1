"""The event-time parser: exactly what datetime.fromisoformat says, UTC when no zone is given, cached."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import example, given
from hypothesis import strategies as st
from monitor.engine.clock import EventTimeParser


def reference(value: str) -> float | None:
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


_CHARS = st.sampled_from("0123456789-T:Z+. \u0665")


@given(st.lists(_CHARS, min_size=20, max_size=20).map("".join))
@example("2026-03-01T00:05:07Z")
@example("2026-03-01T00:05:60Z")
@example("2026-02-29T00:05:07Z")
@example("2026-03-01T00:05:0\u0665Z")
@example("20260301T0005:07Z   ")
def test_cloudtrail_shaped_strings_parse_like_fromisoformat(value: str) -> None:
    assert EventTimeParser().parse(value) == reference(value)


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9999, 12, 31)))
def test_every_cloudtrail_timestamp_round_trips(moment: datetime) -> None:
    text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    parser = EventTimeParser()
    expected = moment.replace(tzinfo=UTC, microsecond=0).timestamp()
    assert parser.parse(text) == expected
    assert parser.parse(text) == expected  # from the cache
    assert parser.cache[text] == expected


def test_other_formats_still_parse() -> None:
    parser = EventTimeParser()
    assert parser.parse("2026-03-01T00:05:07.250Z") == reference("2026-03-01T00:05:07.250Z")
    assert parser.parse("2026-03-01T01:05:07+01:00") == reference("2026-03-01T00:05:07Z")
    assert parser.parse("redacted") is None
    assert parser.parse("2026-03-01T24:05:07Z") is None
