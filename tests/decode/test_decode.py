"""Every input shape `scan` reads, and every way input can be broken; the streaming gunzip under them."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from monitor.decode import DecodeLimits, Slice, decode_bytes, decode_slices
from monitor.decode.inflate import DEFAULT_INFLATER, INFLATERS, Inflated
from monitor.model import Event
from tests.helpers import cloudtrail_event

EVENTS = [cloudtrail_event("ListUsers", "iam.amazonaws.com", i) for i in range(3)]


def ids(events: list[Event] | list[dict[str, Any]]) -> list[str]:
    return [e.eventID if isinstance(e, Event) else e["eventID"] for e in events]


def test_records_object_plain_and_gzipped() -> None:
    body = orjson.dumps({"Records": EVENTS})
    for data, origin in ((body, "x.json"), (gzip.compress(body), "x.json.gz")):
        decoded = decode_bytes(data, origin)
        assert ids(decoded.events) == ids(EVENTS)
        assert decoded.places == [0, 1, 2] and not decoded.line_based
        assert decoded.issues == []


def test_multi_member_gzip_is_read_whole() -> None:
    first = gzip.compress(orjson.dumps(EVENTS[0]) + b"\n")
    second = gzip.compress(orjson.dumps(EVENTS[1]) + b"\n")
    decoded = decode_bytes(first + second, "concat.jsonl.gz")
    assert ids(decoded.events) == ids(EVENTS[:2])
    assert decoded.issues == []


def test_json_array() -> None:
    decoded = decode_bytes(orjson.dumps(EVENTS), "events.json")
    assert ids(decoded.events) == ids(EVENTS)


def test_one_event_object() -> None:
    decoded = decode_bytes(orjson.dumps(EVENTS[0]), "one.json")
    assert ids(decoded.events) == ids(EVENTS[:1]) and decoded.issues == []


def test_json_lines_with_line_numbers() -> None:
    data = b"\n".join(orjson.dumps(e) for e in EVENTS) + b"\n"
    decoded = decode_bytes(gzip.compress(data), "events.jsonl.gz")
    assert ids(decoded.events) == ids(EVENTS)
    assert decoded.line_based and decoded.places == [1, 2, 3]


def test_json_lines_of_delivery_objects() -> None:
    data = orjson.dumps({"Records": EVENTS[:2]}) + b"\n" + orjson.dumps({"Records": EVENTS[2:]}) + b"\n"
    decoded = decode_bytes(data, "objects.jsonl")
    assert ids(decoded.events) == ids(EVENTS)
    assert decoded.places == [1, 1, 2] and decoded.issues == []


def test_cloudwatch_export_with_timestamp_prefix() -> None:
    data = b"\n".join(b"2026-03-01T12:00:00.000Z " + orjson.dumps(e) for e in EVENTS)
    decoded = decode_bytes(data, "export.txt")
    assert ids(decoded.events) == ids(EVENTS)
    assert decoded.issues == []


def test_filter_log_events_output() -> None:
    page = {"events": [{"logStreamName": "s", "timestamp": 1, "message": orjson.dumps(e).decode()} for e in EVENTS]}
    decoded = decode_bytes(orjson.dumps(page), "page.json")
    assert ids(decoded.events) == ids(EVENTS)


def test_filter_log_events_with_a_bad_message_keeps_the_rest() -> None:
    page = {"events": [{"message": orjson.dumps(EVENTS[0]).decode()}, {"message": 7},
                       {"message": "{not json"}, {"message": orjson.dumps(EVENTS[1]).decode()}]}
    decoded = decode_bytes(orjson.dumps(page), "page.json")
    assert ids(decoded.events) == ids(EVENTS[:2]) and decoded.places == [0, 3]
    assert [(i.reason, i.record) for i in decoded.issues] == [("wrong_type", 1), ("invalid_json", 2)]


def test_digest_files_are_skipped_by_name_and_by_content() -> None:
    digest = orjson.dumps({"digestStartTime": "2026-03-01T00:00:00Z", "logFiles": []})
    by_name = decode_bytes(gzip.compress(digest), "AWSLogs/1/CloudTrail-Digest/us-east-1/x.json.gz")
    by_content = decode_bytes(digest, "digest.json")
    for decoded in (by_name, by_content):
        assert decoded.events == []
        assert decoded.skipped == {"digest": 1}
        assert decoded.issues == []


def test_insight_files_are_skipped_by_name() -> None:
    # Insight events in any other file are set aside by the engine's prologue (tests/engine/test_engine.py).
    insight = {**EVENTS[0], "eventType": "AwsCloudTrailInsight", "eventCategory": "Insight"}
    origin = "AWSLogs/1/CloudTrail-Insight/us-east-1/2026/03/01/x.json.gz"
    decoded = decode_bytes(gzip.compress(orjson.dumps({"Records": [insight, insight]})), origin)
    assert decoded.events == [] and decoded.skipped == {"insight": 2} and decoded.issues == []


def test_truncated_gzip_keeps_complete_lines_and_reports() -> None:
    data = gzip.compress((b"\n".join(orjson.dumps(e) for e in EVENTS) + b"\n") * 50)
    decoded = decode_bytes(data[: len(data) // 2], "cut.jsonl.gz")
    assert decoded.events, "complete lines before the cut are still returned"
    assert decoded.issues[-1].reason == "truncated_gzip"
    assert {i.reason for i in decoded.issues} <= {"truncated_gzip", "invalid_json"}  # and maybe the cut line
    assert "cut.jsonl.gz" in str(decoded.issues[-1])


def test_truncated_records_object_is_reported_not_raised() -> None:
    data = gzip.compress(orjson.dumps({"Records": EVENTS}))
    decoded = decode_bytes(data[:-12], "cut.json.gz")
    assert decoded.events == []
    assert [i.reason for i in decoded.issues] == ["truncated_gzip"]  # said once, as what it is


def test_trailing_garbage_after_gzip_is_reported_and_what_came_before_kept() -> None:
    data = gzip.compress(orjson.dumps({"Records": EVENTS})) + b"this is not gzip"
    decoded = decode_bytes(data, "garbage.json.gz")
    assert ids(decoded.events) == ids(EVENTS)
    assert [i.reason for i in decoded.issues] == ["truncated_gzip"]
    assert "not gzip" in decoded.issues[0].detail


def test_gzip_bomb_is_refused_with_the_file_named() -> None:
    bomb = gzip.compress(b"{" + b" " * 5_000_000 + b"}")
    decoded = decode_bytes(bomb, "bomb.json.gz", DecodeLimits(max_document_bytes=1_000_000))
    assert decoded.events == []
    assert [i.reason for i in decoded.issues] == ["too_large"]  # refused, and not also called truncated
    assert str(decoded.issues[0]).startswith("bomb.json.gz:")


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_a_document_of_exactly_the_limit_is_read_and_one_byte_more_is_refused(gzipped: bool) -> None:
    body = orjson.dumps({"Records": EVENTS})
    body += b" " * (4096 - len(body))
    data = gzip.compress(body) if gzipped else body
    exact = decode_bytes(data, "doc.json", DecodeLimits(max_document_bytes=4096))
    assert ids(exact.events) == ids(EVENTS) and exact.issues == []
    over = decode_bytes(data, "doc.json", DecodeLimits(max_document_bytes=4095))
    assert over.events == [] and [i.reason for i in over.issues] == ["too_large"]


def test_invalid_json_lines_are_reported_with_line_numbers() -> None:
    data = orjson.dumps(EVENTS[0]) + b"\n{not json}\n" + orjson.dumps(EVENTS[1]) + b"\n[1, 2]\n"
    decoded = decode_bytes(data, "bad.jsonl")
    assert ids(decoded.events) == ids(EVENTS[:2])
    assert decoded.places == [1, 3]
    assert [(i.reason, i.line) for i in decoded.issues] == [("invalid_json", 2), ("not_an_object", 4)]
    assert str(decoded.issues[0]).startswith("bad.jsonl:2: ")


def test_single_line_garbage_is_one_issue() -> None:
    decoded = decode_bytes(b'{"Records": [', "broken.json")
    assert decoded.events == [] and [i.reason for i in decoded.issues] == ["invalid_json"]


def test_records_of_wrong_type() -> None:
    decoded = decode_bytes(b'{"Records": "nope"}', "odd.json")
    assert decoded.events == [] and [i.reason for i in decoded.issues] == ["wrong_type"]


def test_not_gzip_but_named_gz_is_read_as_text_and_reported() -> None:
    decoded = decode_bytes(orjson.dumps({"Records": EVENTS}), "mislabelled.json.gz")
    assert ids(decoded.events) == ids(EVENTS)
    assert [i.reason for i in decoded.issues] == ["not_gzip"]
    assert str(decoded.issues[0]).startswith("mislabelled.json.gz: ")


def test_an_empty_gz_file_is_reported_and_an_empty_plain_file_is_fine() -> None:
    empty_gz = decode_bytes(b"", "empty.json.gz")
    assert empty_gz.events == [] and [i.reason for i in empty_gz.issues] == ["not_gzip"]
    assert "empty" in empty_gz.issues[0].detail
    for data in (b"", b"  \n\n\t "):
        decoded = decode_bytes(data, "empty.json")
        assert decoded.events == [] and decoded.issues == []


def test_corrupt_deflate_data_is_reported() -> None:
    data = bytearray(gzip.compress(orjson.dumps({"Records": EVENTS}) * 10))
    data[30:60] = b"\x00" * 30
    decoded = decode_bytes(bytes(data), "corrupt.json.gz")
    assert decoded.issues and decoded.issues[-1].reason == "truncated_gzip"


def test_a_file_is_decoded_as_it_is_read(tmp_path: Any) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in EVENTS))
    with open(path, "rb") as handle:
        parts = list(decode_slices(handle, str(path), DecodeLimits(slice_events=2)))
    assert [ids(p.events) for p in parts] == [ids(EVENTS[:2]), ids(EVENTS[2:])]
    assert [p.places for p in parts] == [[1, 2], [3]]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    decoded = decode_bytes(data, "fuzz")
    assert all(issue.origin == "fuzz" and issue.reason for issue in decoded.issues)
    assert len(decoded.places) == len(decoded.events)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_gzip_payload_never_raises(payload: bytes) -> None:
    decode_bytes(zlib.compress(payload), "fuzz.z")
    decode_bytes(gzip.compress(payload), "fuzz.gz")


# -- the streaming gunzip ----------------------------------------------------------------------------------


def test_the_fast_inflater_is_installed_and_used_by_default() -> None:
    assert set(INFLATERS) == {"zlib", "isal"}
    assert DEFAULT_INFLATER == "isal"


class Trickle:
    """A reader that hands out at most `step` bytes per read, whatever is asked (a slow socket, a pipe)."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._step = step
        self.read_bytes = 0

    def read(self, size: int, /) -> bytes:
        taken = bytes(self._data[: min(size, self._step)])
        self._data = self._data[len(taken):]
        self.read_bytes += len(taken)
        return taken


Outcome = tuple[bytes, bool, bool]


def inflate(data: bytes, inflater: str, *, chunk_bytes: int = 1 << 16, step: int = 1 << 20) -> Outcome:
    """(every decompressed byte, complete, trailing garbage); each chunk within `chunk_bytes`."""
    inflated = Inflated(Trickle(data, step), inflater=inflater, chunk_bytes=chunk_bytes)
    chunks = list(inflated)
    assert all(0 < len(chunk) <= chunk_bytes for chunk in chunks)
    return b"".join(chunks), inflated.complete, inflated.trailing_garbage


PAYLOAD = orjson.dumps({"Records": EVENTS}) * 50
WHOLE = gzip.compress(PAYLOAD)


def _corrupt() -> bytes:
    data = bytearray(WHOLE)
    data[30:60] = b"\x00" * 30
    return bytes(data)


GZIP_CASES: dict[str, tuple[bytes, Outcome | None]] = {
    "whole": (WHOLE, (PAYLOAD, True, False)),
    "two members": (WHOLE + gzip.compress(b"second member"), (PAYLOAD + b"second member", True, False)),
    "empty member between": (WHOLE + gzip.compress(b"") + WHOLE, (PAYLOAD * 2, True, False)),
    "cut in half": (WHOLE[: len(WHOLE) // 2], None),
    "cut in the trailer": (WHOLE[:-4], (PAYLOAD, False, False)),
    "trailing garbage": (WHOLE + b"trailing garbage", (PAYLOAD, False, True)),
    "trailing zero padding": (WHOLE + b"\x00" * 512, (PAYLOAD, False, True)),
    "corrupt": (_corrupt(), None),
    "empty payload": (gzip.compress(b""), (b"", True, False)),
    "magic only": (b"\x1f\x8b", (b"", False, False)),
    "nothing": (b"", (b"", True, False)),
}


@pytest.mark.parametrize("case", GZIP_CASES)
@pytest.mark.parametrize("step", [1, 7, 1 << 20], ids=["byte-by-byte", "7-bytes", "1MiB"])
def test_both_inflaters_give_the_same_bytes_and_verdicts(case: str, step: int) -> None:
    data, expected = GZIP_CASES[case]
    chunk_bytes = 4096 if step == 1 else 1 << 16
    outcome = inflate(data, "isal", chunk_bytes=chunk_bytes, step=step)
    assert outcome == inflate(data, "zlib", chunk_bytes=chunk_bytes, step=step)
    if expected is not None:
        assert outcome == expected
    else:
        assert not outcome[1] and PAYLOAD.startswith(outcome[0])  # what came out is a true prefix


def test_a_bomb_is_inflated_a_chunk_at_a_time() -> None:
    # 64 MiB of spaces in ~64 KiB: the consumer decides how much it takes, one bounded chunk at a time.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * (1 << 20)
    bomb = b"".join(compressor.compress(block) for _ in range(64)) + compressor.flush()
    chunks: Iterator[bytes] = iter(Inflated(io.BytesIO(bomb), chunk_bytes=1 << 20))
    taken = [next(chunks) for _ in range(3)]
    assert [len(chunk) for chunk in taken] == [1 << 20] * 3
    assert sum(len(chunk) for chunk in chunks) == 61 << 20


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=4096), st.integers(min_value=0, max_value=5000), st.integers(min_value=1, max_value=64),
       st.integers(min_value=1, max_value=512))
@example(payload=b"\x00\x00", cut=14, step=5, chunk_bytes=1)  # ISA-L still held a decoded byte at the cut
def test_both_inflaters_agree_on_arbitrary_and_cut_streams(payload: bytes, cut: int, step: int,
                                                           chunk_bytes: int) -> None:
    whole = gzip.compress(payload)
    data = whole[:cut] if cut < len(whole) else whole
    outcome = inflate(data, "isal", chunk_bytes=chunk_bytes, step=step)
    assert outcome == inflate(data, "zlib", chunk_bytes=chunk_bytes, step=step)
    assert payload.startswith(outcome[0])
    assert outcome[1] == (data in (whole, b""))  # no input at all is no member, not a cut one


def test_slices_of_one_input_carry_their_origin() -> None:
    parts: list[Slice] = list(decode_slices(orjson.dumps({"Records": EVENTS}), "o.json", DecodeLimits(slice_events=1)))
    assert [ids(p.events) for p in parts] == [[e["eventID"]] for e in EVENTS]
    assert [p.places for p in parts] == [[0], [1], [2]]
    assert {p.origin for p in parts} == {"o.json"}


@pytest.mark.parametrize("shape", ["records", "array"])
def test_a_byte_order_mark_before_a_document_is_skipped(shape: str) -> None:
    events = [cloudtrail_event("ListUsers", "iam.amazonaws.com", i) for i in range(3)]
    body = orjson.dumps({"Records": events} if shape == "records" else events)
    part = decode_bytes(b"\xef\xbb\xbf" + body, "bom.json")
    assert part.issues == [] and ids(part.events) == ids(events)
