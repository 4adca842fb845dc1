"""Every input shape `scan` reads, and every way input can be broken."""

from __future__ import annotations

import gzip
import zlib

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from monitor.decode.gzip_bounded import DecompressedTooLarge, gunzip_bounded

from monitor.decode import decode_bytes
from tests.helpers import cloudtrail_event

EVENTS = [cloudtrail_event("ListUsers", "iam.amazonaws.com", i) for i in range(3)]


def ids(decoded_events: list[dict[str, object]]) -> list[object]:
    return [e["eventID"] for e in decoded_events]


def test_records_object_plain_and_gzipped() -> None:
    body = orjson.dumps({"Records": EVENTS})
    for data in (body, gzip.compress(body)):
        decoded = decode_bytes(data, "x.json.gz")
        assert ids(decoded.events) == ids(EVENTS)
        assert decoded.issues == []


def test_multi_member_gzip_is_read_whole() -> None:
    first = gzip.compress(orjson.dumps(EVENTS[0]) + b"\n")
    second = gzip.compress(orjson.dumps(EVENTS[1]) + b"\n")
    decoded = decode_bytes(first + second, "concat.jsonl.gz")
    assert ids(decoded.events) == ids(EVENTS[:2])


def test_json_array() -> None:
    decoded = decode_bytes(orjson.dumps(EVENTS), "events.json")
    assert ids(decoded.events) == ids(EVENTS)


def test_json_lines_with_line_numbers() -> None:
    data = b"\n".join(orjson.dumps(e) for e in EVENTS) + b"\n"
    decoded = decode_bytes(gzip.compress(data), "events.jsonl.gz")
    assert ids(decoded.events) == ids(EVENTS)
    assert decoded.lines == [1, 2, 3]


def test_cloudwatch_export_with_timestamp_prefix() -> None:
    data = b"\n".join(b"2026-03-01T12:00:00.000Z " + orjson.dumps(e) for e in EVENTS)
    decoded = decode_bytes(data, "export.txt")
    assert ids(decoded.events) == ids(EVENTS)
    assert decoded.issues == []


def test_filter_log_events_output() -> None:
    page = {"events": [{"logStreamName": "s", "timestamp": 1, "message": orjson.dumps(e).decode()} for e in EVENTS]}
    decoded = decode_bytes(orjson.dumps(page), "page.json")
    assert ids(decoded.events) == ids(EVENTS)


def test_digest_files_are_skipped_by_name_and_by_content() -> None:
    digest = orjson.dumps({"digestStartTime": "2026-03-01T00:00:00Z", "logFiles": []})
    by_name = decode_bytes(gzip.compress(digest), "AWSLogs/1/CloudTrail-Digest/us-east-1/x.json.gz")
    by_content = decode_bytes(digest, "digest.json")
    for decoded in (by_name, by_content):
        assert decoded.events == []
        assert decoded.skipped == {"digest": 1}
        assert decoded.issues == []


def test_insight_events_are_skipped_and_counted() -> None:
    insight = {**EVENTS[0], "eventType": "AwsCloudTrailInsight", "eventCategory": "Insight"}
    records = decode_bytes(orjson.dumps({"Records": [insight, insight]}), "insight.json")
    assert records.events == [] and records.skipped == {"insight": 2}
    lines = decode_bytes(orjson.dumps(insight) + b"\n" + orjson.dumps(EVENTS[1]), "mixed.jsonl")
    assert ids(lines.events) == [EVENTS[1]["eventID"]] and lines.skipped == {"insight": 1}


def test_truncated_gzip_keeps_complete_lines_and_reports() -> None:
    data = gzip.compress((b"\n".join(orjson.dumps(e) for e in EVENTS) + b"\n") * 50)
    decoded = decode_bytes(data[: len(data) // 2], "cut.jsonl.gz")
    assert decoded.events, "complete lines before the cut are still returned"
    assert [i.reason for i in decoded.issues] == ["truncated_gzip"]
    assert "cut.jsonl.gz" in str(decoded.issues[0])


def test_truncated_records_object_is_reported_not_raised() -> None:
    data = gzip.compress(orjson.dumps({"Records": EVENTS}))
    decoded = decode_bytes(data[:-12], "cut.json.gz")
    assert decoded.events == []
    assert decoded.issues[0].reason == "truncated_gzip"


def test_gzip_bomb_is_refused_with_the_file_named() -> None:
    bomb = gzip.compress(b"{" + b" " * 5_000_000 + b"}")
    decoded = decode_bytes(bomb, "bomb.json.gz", max_bytes=1_000_000)
    assert decoded.events == []
    assert decoded.issues[0].reason == "too_large"
    assert str(decoded.issues[0]).startswith("bomb.json.gz:")
    with pytest.raises(DecompressedTooLarge):
        gunzip_bounded(bomb, 1_000_000)


def test_gunzip_bounded_accepts_exactly_the_limit() -> None:
    payload = b"x" * 4096
    data, complete = gunzip_bounded(gzip.compress(payload), 4096)
    assert data == payload and complete


def test_invalid_json_lines_are_reported_with_line_numbers() -> None:
    data = orjson.dumps(EVENTS[0]) + b"\n{not json}\n" + orjson.dumps(EVENTS[1]) + b"\n[1, 2]\n"
    decoded = decode_bytes(data, "bad.jsonl")
    assert ids(decoded.events) == ids(EVENTS[:2])
    assert [(i.reason, i.line) for i in decoded.issues] == [("invalid_json", 2), ("not_an_object", 4)]
    assert str(decoded.issues[0]).startswith("bad.jsonl:2: ")


def test_single_line_garbage_is_one_issue() -> None:
    decoded = decode_bytes(b'{"Records": [', "broken.json")
    assert decoded.events == [] and [i.reason for i in decoded.issues] == ["invalid_json"]


def test_records_of_wrong_type() -> None:
    decoded = decode_bytes(b'{"Records": "nope"}', "odd.json")
    assert decoded.events == [] and decoded.issues[0].reason == "wrong_type"


def test_not_gzip_but_named_gz_is_read_as_text() -> None:
    decoded = decode_bytes(orjson.dumps({"Records": EVENTS}), "mislabelled.json.gz")
    assert ids(decoded.events) == ids(EVENTS)


def test_empty_input_is_fine() -> None:
    decoded = decode_bytes(b"", "empty.json")
    assert decoded.events == [] and decoded.issues == []


def test_corrupt_deflate_data_is_reported() -> None:
    data = bytearray(gzip.compress(orjson.dumps({"Records": EVENTS}) * 10))
    data[30:60] = b"\x00" * 30
    decoded = decode_bytes(bytes(data), "corrupt.json.gz")
    assert decoded.issues and decoded.issues[0].reason in {"truncated_gzip", "invalid_json"}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    decoded = decode_bytes(data, "fuzz")
    assert all(issue.origin == "fuzz" and issue.reason for issue in decoded.issues)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_gzip_payload_never_raises(payload: bytes) -> None:
    decode_bytes(zlib.compress(payload), "fuzz.z")
    decode_bytes(gzip.compress(payload), "fuzz.gz")


def test_the_fast_inflater_is_installed_and_used_by_default() -> None:
    from monitor.decode.gzip_bounded import DEFAULT_INFLATER, INFLATERS

    assert set(INFLATERS) == {"zlib", "isal"}
    assert DEFAULT_INFLATER == "isal"


def _inflate_outcome(data: bytes, inflater: str, limit: int) -> tuple[bytes, bool] | str:
    try:
        return gunzip_bounded(data, limit, inflater=inflater)
    except DecompressedTooLarge:
        return "too large"


def _gzip_cases() -> list[bytes]:
    payload = orjson.dumps({"Records": EVENTS}) * 50
    whole = gzip.compress(payload)
    corrupt = bytearray(whole)
    corrupt[30:60] = b"\x00" * 30
    return [whole, whole + gzip.compress(b"second member"), whole[: len(whole) // 2], whole + b"trailing garbage",
            bytes(corrupt), gzip.compress(b" " * 5_000_000), gzip.compress(b""), b"\x1f\x8b"]


@pytest.mark.parametrize("limit", [1_000_000, 10_000_000])
def test_both_inflaters_give_the_same_bytes_and_verdicts(limit: int) -> None:
    for data in _gzip_cases():
        assert _inflate_outcome(data, "isal", limit) == _inflate_outcome(data, "zlib", limit)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=512), st.integers(min_value=0, max_value=600))
def test_both_inflaters_agree_on_arbitrary_and_cut_streams(payload: bytes, cut: int) -> None:
    data = gzip.compress(payload)[:cut] if cut else gzip.compress(payload)
    assert _inflate_outcome(data, "isal", 256) == _inflate_outcome(data, "zlib", 256)
