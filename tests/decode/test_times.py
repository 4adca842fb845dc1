"""Event times: exactly what datetime.fromisoformat says (UTC when no zone is given), epoch seconds from 1970 on,
BAD_TIME for anything else; CloudTrail's own spelling takes a cached path that must agree with that."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from monitor.decode import BAD_TIME, EventTimes


def reference(value: str) -> float:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return BAD_TIME
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        seconds = moment.timestamp()
    except (OverflowError, OSError):
        return BAD_TIME
    return seconds if seconds >= 0 else BAD_TIME


_CHARS = st.sampled_from("0123456789-T:Z+. \u0665")


@given(st.lists(_CHARS, min_size=20, max_size=20).map("".join))
@example("2026-03-01T00:05:07Z")
@example("2026-03-01T00:05:60Z")
@example("2026-02-29T00:05:07Z")
@example("2026-03-01T00:05:0\u0665Z")
@example("2026-03-01T00:0\u0665:07Z")
@example("20260301T0005:07Z   ")
@example("1969-12-31T23:59:59Z")
@example("1970-01-01T00:00:00Z")
def test_cloudtrail_shaped_strings_parse_like_fromisoformat(value: str) -> None:
    times = EventTimes()
    assert times.parse(value) == reference(value)
    assert times.parse(value) == reference(value)  # again, from the cache


def test_the_fast_path_and_the_general_path_agree_on_one_instant() -> None:
    # A leap second is refused in every spelling, not only in some: one instant, one verdict.
    times = EventTimes()
    assert times.parse("2026-03-01T00:05:60Z") == BAD_TIME
    assert times.parse("2026-03-01T00:05:60.000Z") == BAD_TIME
    assert times.parse("2026-03-01T00:05:59Z") == times.parse("2026-03-01T00:05:59.000+00:00")


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9999, 12, 31)))
def test_every_cloudtrail_timestamp_round_trips(moment: datetime) -> None:
    text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    times = EventTimes()
    expected = moment.replace(tzinfo=UTC, microsecond=0).timestamp()
    assert times.parse(text) == expected
    assert times.parse(text) == expected  # from the cache


def test_results_stay_right_when_the_caches_fill_and_are_cleared() -> None:
    # More distinct seconds than the whole-string cache holds and more distinct minutes than the minute
    # cache holds: every answer is still the parser's, before and after each cache starts afresh.
    times = EventTimes()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for step in range(70_000):
        moment = start + timedelta(minutes=step, seconds=step % 60)
        assert times.parse(moment.strftime("%Y-%m-%dT%H:%M:%SZ")) == moment.timestamp()
    again = start + timedelta(seconds=7)
    assert times.parse(again.strftime("%Y-%m-%dT%H:%M:%SZ")) == again.timestamp()


def test_other_formats_still_parse() -> None:
    times = EventTimes()
    assert times.parse("2026-03-01T00:05:07.250Z") == reference("2026-03-01T00:05:07.250Z")
    assert times.parse("2026-03-01T01:05:07+01:00") == reference("2026-03-01T00:05:07Z")
    assert times.parse("2026-03-01T00:05:07") == reference("2026-03-01T00:05:07Z")  # no zone: UTC
    assert times.parse("2026-03-01 00:05:07Z") == reference("2026-03-01T00:05:07Z")


def test_what_is_not_a_usable_time() -> None:
    times = EventTimes()
    for text in ("redacted", "", "2026-03-01T24:05:07Z", "1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
                 "2026-03-01T00:05:07Z" + " " * 100, "9" * 10_000):
        assert times.parse(text) == BAD_TIME, text
