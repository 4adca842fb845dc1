"""Hostile input through decoding and the engine: every problem contained to its record (or line), reported
with the file and the line or record, and the rest of the input still detected."""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, cast

import orjson
import pytest
from msgspec import Raw, Struct

from monitor.decode import DecodeLimits, Slice, decode_slices
from monitor.engine import Engine
from monitor.model import Alert, Detector, Event, Hit, InputIssue, Severity
from monitor.model.issued import NO_IDENTITY, NO_KEY, issued
from monitor.offline.scan import Scanner, expand_paths
from tests.helpers import cloudtrail_event, iam_user

ORIGIN = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/03/01/hostile.json"


def always(event: Event, params: Mapping[str, Any]) -> Hit | None:
    return Hit()


DETECTOR = Detector(id="user-created", title="User created", severity=Severity.MEDIUM, mitre=("T1136",),
                    runbook="Check it.", match=always, events=frozenset({("iam.amazonaws.com", "CreateUser")}))


def create_user(seconds: float, **fields: Any) -> dict[str, Any]:
    return cloudtrail_event("CreateUser", "iam.amazonaws.com", seconds, iam_user("mallory"), **fields)


def detect(data: bytes, origin: str = ORIGIN,
           limits: DecodeLimits | None = None) -> tuple[list[Alert], list[InputIssue]]:
    """One input through decoding and the engine, as one batch: its alerts and its issues."""
    engine = Engine([DETECTOR])
    alerts: list[Alert] = []
    issues: list[InputIssue] = []
    with engine.batch():
        for part in decode_slices(data, origin, limits):
            result = engine.process(part)
            alerts.extend(result.alerts)
            issues.extend(result.issues)
    return alerts, issues


def alerted(alerts: list[Alert]) -> set[str]:
    return {event_id for alert in alerts for event_id in alert.event_ids}


def document(*records: bytes) -> bytes:
    return b'{"Records": [' + b", ".join(records) + b"]}"


def lines(*records: bytes) -> bytes:
    return b"".join(record + b"\n" for record in records)


def with_field(record: dict[str, Any], name: str, value_json: bytes) -> bytes:
    """The record's JSON with `name` set to the given JSON text (written as is: any nesting, any number)."""
    rest = {key: value for key, value in record.items() if key != name}
    return orjson.dumps(rest)[:-1] + b', "' + name.encode() + b'": ' + value_json + b"}"


def nested(depth: int, kind: str = "list") -> bytes:
    opening, closing = (b"[", b"]") if kind == "list" else (b'{"a":', b"}")
    return opening * depth + b"1" + closing * depth


FORMATS = {"records": (document, "record"), "json-lines": (lines, "line")}


def located(issue: InputIssue, how: str) -> int | None:
    return issue.record if how == "record" else (issue.line - 1 if issue.line is not None else None)


# -- nesting ---------------------------------------------------------------------------------------------------


TOP_LEVEL = [*Event.__struct_fields__, "someFieldCloudTrailAddsLater"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("field", TOP_LEVEL)
def test_nesting_a_thousand_deep_in_any_field_stays_in_its_record(field: str, fmt: str) -> None:
    join, how = FORMATS[fmt]
    before, hostile, after = create_user(0), create_user(1), create_user(2)
    kind = "list" if len(field) % 2 else "object"
    data = join(orjson.dumps(before), with_field(hostile, field, nested(1000, kind)), orjson.dumps(after))
    alerts, issues = detect(data)
    assert {before["eventID"], after["eventID"]} <= alerted(alerts)
    assert all(issue.origin == ORIGIN and located(issue, how) == 1 for issue in issues), issues
    if field not in ("eventName", "eventSource", "eventID"):
        # One odd field hides nothing: the event is still detected, the field left out and reported.
        assert hostile["eventID"] in alerted(alerts)
    if field in ("eventName", "eventSource"):
        assert [issue.reason for issue in issues] == ["wrong_type"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("depth", [1025, 5000, 200_000])
@pytest.mark.parametrize("field", ["requestParameters", "userIdentity", "someFieldCloudTrailAddsLater"])
def test_nesting_past_what_any_parser_reads_is_refused_for_its_record_alone(field: str, depth: int,
                                                                              fmt: str) -> None:
    join, how = FORMATS[fmt]
    before, hostile, after = create_user(0), create_user(1), create_user(2)
    data = join(orjson.dumps(before), with_field(hostile, field, nested(depth)), orjson.dumps(after))
    alerts, issues = detect(data)
    assert alerted(alerts) >= {before["eventID"], after["eventID"]}
    assert issues and all(issue.origin == ORIGIN and located(issue, how) == 1 for issue in issues), issues
    assert str(issues[0]).startswith(f"{ORIGIN} record 1: " if how == "record" else f"{ORIGIN}:2: ")


def test_a_whole_document_nested_past_every_limit_is_one_issue() -> None:
    alerts, issues = detect(b'{"Records": ' + nested(100_000) + b"}")
    assert alerts == [] and len(issues) == 1 and issues[0].origin == ORIGIN


# -- wrong types -----------------------------------------------------------------------------------------------


def _typed_paths(kind: type[Struct], prefix: str = "") -> list[tuple[str, str]]:
    """(dotted path, kind of value) of every field the typed event checks: text, boolean or object."""
    sample = kind()
    found: list[tuple[str, str]] = []
    for name in kind.__struct_fields__:
        default = getattr(sample, name)
        path = prefix + name
        if isinstance(default, Raw):
            continue  # free-form: any JSON is right there
        if isinstance(default, Struct):
            found.append((path, "object"))
            found.extend(_typed_paths(type(default), path + "."))
        elif name in ("readOnly", "managementEvent"):
            found.append((path, "boolean"))
        else:
            found.append((path, "text"))
    return found


TYPED_PATHS = _typed_paths(Event)
WRONG: dict[str, list[Any]] = {
    "text": [7, 2.5, -(2**70), [], ["x"], {}, {"a": 1}],
    "boolean": ["true", 1, 2**70, [], {"a": 1}],
    "object": ["root", 7, 2**70, [], True],
}


def _set(record: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed: dict[str, Any] = orjson.loads(orjson.dumps(record))
    *parents, name = path.split(".")
    target = changed
    for parent in parents:
        target = target.setdefault(parent, {})
    target[name] = value
    return changed


def test_every_typed_field_is_covered() -> None:
    paths = dict(TYPED_PATHS)
    assert {"eventTime", "eventName", "userIdentity", "userIdentity.sessionContext.attributes.mfaAuthenticated",
            "readOnly", "errorCode", "userIdentity.sessionContext.sessionIssuer.arn"} <= set(paths)
    assert len(paths) > 35


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("path", "kind"), TYPED_PATHS, ids=[path for path, _ in TYPED_PATHS])
def test_every_wrong_type_in_every_typed_field_is_left_out_and_reported(path: str, kind: str, fmt: str) -> None:
    join, how = FORMATS[fmt]
    first, last = create_user(0), create_user(100)
    hostile = [_set(create_user(1 + index), path, value) for index, value in enumerate(WRONG[kind])]
    data = join(*(json.dumps(record).encode() for record in [first, *hostile, last]))
    alerts, issues = detect(data)
    found = alerted(alerts)
    assert {first["eventID"], last["eventID"]} <= found
    reported = {located(issue, how) for issue in issues}
    assert reported == set(range(1, 1 + len(hostile))), issues  # each hostile record, and only those
    assert all(issue.origin == ORIGIN for issue in issues)
    if path in ("eventName", "eventSource"):
        assert all("eventName/eventSource" in issue.detail for issue in issues)
        return
    leaf = path.rsplit(".", 1)[-1]
    assert all(leaf in issue.detail for issue in issues), issues
    if path != "eventID":
        assert {record["eventID"] for record in hostile} <= found  # still detected, the field left out


def test_booleans_written_as_text_fields_keep_their_meaning() -> None:
    record = _set(create_user(0), "userIdentity.sessionContext.attributes.mfaAuthenticated", True)
    data = document(orjson.dumps(record), orjson.dumps(_set(create_user(1), "eventVersion", None)))
    engine = Engine([DETECTOR])
    part = next(decode_slices(data, ORIGIN))
    assert part.events[0].userIdentity.sessionContext.attributes.mfaAuthenticated == "true"
    assert part.issues == [] and len(engine.process(part).alerts) == 2  # null is absence, not a problem


def test_integers_past_64_bits_in_free_form_fields_change_nothing() -> None:
    record = create_user(0, requestParameters={"count": 2**70, "list": [-(2**80)]}, additionalEventData={"n": 10**30})
    alerts, issues = detect(document(json.dumps(record).encode(), orjson.dumps(create_user(1))))
    assert issues == [] and len(alerts) == 2


# -- text ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_lone_surrogates_are_kept_as_text_and_never_reach_an_alert(fmt: str) -> None:
    join, how = FORMATS[fmt]
    escaped = with_field(create_user(1), "userAgent", b'"agent \\ud800 here"')
    in_free_form = with_field(create_user(2), "requestParameters", b'{"userName": "x\\udc00"}')
    as_bytes = with_field(create_user(3), "userAgent", b'"agent \xed\xa0\x80 bytes"')
    not_utf8 = with_field(create_user(4), "userAgent", b'"agent \xff here"')
    records = [orjson.dumps(create_user(0)), escaped, in_free_form, as_bytes, not_utf8, orjson.dumps(create_user(5))]
    alerts, issues = detect(join(*records))
    assert len(alerts) == 5  # all but the record that is not UTF-8 at all
    assert all(orjson.loads(alert.to_json()) for alert in alerts)
    assert {alert.user_agent for alert in alerts} >= {"agent \ud800 here"}
    assert b"agent ? here" in b"".join(alert.to_json() for alert in alerts)
    assert sorted((located(issue, how), issue.reason) for issue in issues) == [(2, "wrong_type"), (4, "invalid_json")]


# -- sizes -----------------------------------------------------------------------------------------------------


LIMITS = DecodeLimits(max_document_bytes=1 << 20, max_record_bytes=8192, slice_events=1000)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("field", ["requestParameters", "responseElements", "userAgent"])
def test_a_record_over_the_record_limit_is_refused_alone(field: str, fmt: str) -> None:
    join, how = FORMATS[fmt]
    big = create_user(1, **{field: "x" * 20_000 if field == "userAgent" else {"blob": "x" * 20_000}})
    records = [create_user(0), big, create_user(2)]
    alerts, issues = detect(join(*(orjson.dumps(r) for r in records)), limits=LIMITS)
    assert alerted(alerts) == {records[0]["eventID"], records[2]["eventID"]}
    assert [(issue.reason, located(issue, how)) for issue in issues] == [("too_large", 1)]
    assert "8192" in issues[0].detail


class Generated:
    """A readable stream of `parts` (bytes repeated a number of times), produced as it is read, never whole."""

    def __init__(self, parts: list[tuple[bytes, int]]) -> None:
        self._parts = iter(parts)
        self._pending = b""
        self._left = 0
        self._piece = b""

    def read(self, size: int, /) -> bytes:
        while not self._pending:
            if self._left == 0:
                nxt = next(self._parts, None)
                if nxt is None:
                    return b""
                self._piece, self._left = nxt
            repeat = max(1, min(self._left, (1 << 20) // max(1, len(self._piece))))
            self._pending = self._piece * repeat
            self._left -= repeat
        taken, self._pending = self._pending[:size], self._pending[size:]
        return taken


def _peak_while(run: Iterator[Slice]) -> tuple[list[Slice], int]:
    tracemalloc.start()
    try:
        parts = list(run)
        return parts, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_json_lines_line_far_over_the_limit_is_streamed_past_and_never_held() -> None:
    # 48 MiB on line 3, read as it comes (a read of one line, then the next, as a pipe or one gzip member per
    # line gives them): memory stays within a few chunks, and the lines around it are read.
    first, second, after = (orjson.dumps(create_user(i)) + b"\n" for i in range(3))
    stream = Generated([(first, 1), (second, 1), (b'{"eventName": "CreateUser", "pad": "', 1),
                        (b"x" * 4096, 12 * 1024), (b'"}\n', 1), (after, 1)])
    parts, peak = _peak_while(decode_slices(cast(BinaryIO, stream), "big.jsonl"))
    events = [event for part in parts for event in part.events]
    assert [event.eventName for event in events] == ["CreateUser"] * 3
    assert [place for part in parts for place in part.places] == [1, 2, 4]
    assert [(i.reason, i.line) for part in parts for i in part.issues] == [("too_large", 3)]
    assert peak < 16 << 20


def test_json_lines_in_one_gzip_member_per_line_are_read_as_lines() -> None:
    # Each read then holds one line; the input is still lines, never one document (which past the document
    # limit would be refused whole).
    records = [create_user(i) for i in range(40)]
    data = b"".join(gzip.compress(orjson.dumps(record) + b"\n") for record in records)
    alerts, issues = detect(data, "members.jsonl.gz", DecodeLimits(max_document_bytes=4096))
    assert issues == [] and alerted(alerts) == {record["eventID"] for record in records}


def test_a_document_split_by_hand_holds_no_more_than_a_few_copies_of_itself() -> None:
    # A record nested past the parsers' limits makes decoding find the records itself; a 16 MiB string beside
    # it must cost a few copies, not gigabytes.
    big = orjson.dumps(create_user(0, requestParameters={"blob": "x" * (16 << 20)}))
    data = document(big, with_field(create_user(1), "requestParameters", nested(5000)), orjson.dumps(create_user(2)))
    parts, peak = _peak_while(decode_slices(data, "deep.json"))
    assert [len(part.events) for part in parts] == [2]
    assert [(i.reason, i.record) for part in parts for i in part.issues] == [("too_deep", 1)]
    assert peak < 128 << 20


def test_a_first_line_over_the_record_limit_stays_in_its_line() -> None:
    big = orjson.dumps(create_user(0, requestParameters={"blob": "x" * 50_000}))
    rest = [create_user(i) for i in range(1, 4)]
    alerts, issues = detect(lines(big, *(orjson.dumps(r) for r in rest)), "first.jsonl", LIMITS)
    assert alerted(alerts) == {r["eventID"] for r in rest}
    assert [(issue.reason, issue.line) for issue in issues] == [("too_large", 1)]


def test_a_gzip_bomb_is_refused_within_bounded_memory() -> None:
    import zlib

    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    body = [compressor.compress(b'{"Records": [' + orjson.dumps(create_user(0)) + b", ")]
    body.extend(compressor.compress(b" " * (1 << 20)) for _ in range(256))
    bomb = b"".join(body) + compressor.flush()  # 256 MiB inflated, under 300 KiB here
    limits = DecodeLimits(max_document_bytes=8 << 20)
    parts, peak = _peak_while(decode_slices(bomb, "bomb.json.gz", limits))
    assert [(i.origin, i.reason) for part in parts for i in part.issues] == [("bomb.json.gz", "too_large")]
    assert [event for part in parts for event in part.events] == []
    assert peak < 48 << 20


class CountingFile(io.FileIO):
    """A real file that counts the bytes read from it."""

    read_bytes = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        CountingFile.read_bytes += len(data or b"")
        return data or b""


def test_a_records_file_over_the_document_limit_is_refused_by_its_size_before_it_is_read(tmp_path: Path) -> None:
    records = [create_user(i, requestParameters={"pad": "x" * 1000}) for i in range(10_000)]  # ~12 MiB
    path = tmp_path / "big.json"
    path.write_bytes(orjson.dumps({"Records": records}))
    CountingFile.read_bytes = 0
    with CountingFile(path) as handle:
        parts = list(decode_slices(cast(BinaryIO, handle), str(path), DecodeLimits(max_document_bytes=1 << 20)))
    [issue] = [issue for part in parts for issue in part.issues]
    assert issue.reason == "too_large" and str(path.stat().st_size) in issue.detail
    assert CountingFile.read_bytes < path.stat().st_size // 2


def test_a_json_lines_file_comes_out_in_slices_with_its_line_numbers(tmp_path: Path) -> None:
    body: list[bytes] = []
    expected: list[int] = []
    for index in range(50):
        if index % 9 == 4:
            body.append(b"")  # blank lines count as lines
        elif index % 11 == 5:
            body.append(b"{not json")
        else:
            body.append(orjson.dumps(create_user(index)))
            expected.append(index + 1)
    data = b"\n".join(body) + b"\n"
    parts = list(decode_slices(data, "many.jsonl", DecodeLimits(slice_events=7)))
    assert all(len(part.events) <= 7 for part in parts) and len(parts) >= 7
    assert all(part.line_based and len(part.places) == len(part.events) for part in parts)
    assert [place for part in parts for place in part.places] == expected
    assert [i.line for part in parts for i in part.issues] == [i + 1 for i in range(50) if i % 11 == 5 and i % 9 != 4]
    sliced_alerts, _ = detect(data, "many.jsonl", DecodeLimits(slice_events=7))
    whole_alerts, _ = detect(data, "many.jsonl")
    assert [a.to_json() for a in sliced_alerts] == [a.to_json() for a in whole_alerts]
    assert len(whole_alerts) == len(expected)


# -- files: through the scanner ------------------------------------------------------------------------------


def test_broken_files_are_reported_by_name_and_the_rest_of_the_scan_flows(tmp_path: Path) -> None:
    good = [create_user(i) for i in range(3)]
    (tmp_path / "a-good.json.gz").write_bytes(gzip.compress(orjson.dumps({"Records": good[:2]})))
    (tmp_path / "b-empty.json.gz").write_bytes(b"")
    (tmp_path / "c-not-gzip.json.gz").write_bytes(orjson.dumps({"Records": good[2:]}))
    cut = gzip.compress(orjson.dumps({"Records": [create_user(9)]}))
    (tmp_path / "d-cut.json.gz").write_bytes(cut[: len(cut) // 2])
    (tmp_path / "e-garbage.json").write_bytes(b"\x00\x01 not json at all")
    issues: list[InputIssue] = []
    scanner = Scanner(Engine([DETECTOR]), on_issue=issues.append)
    result = scanner.scan(expand_paths([str(tmp_path)]))
    assert alerted(result.alerts) == {e["eventID"] for e in good}
    by_file = {(Path(i.origin).name, i.reason) for i in issues}
    assert by_file == {("b-empty.json.gz", "not_gzip"), ("c-not-gzip.json.gz", "not_gzip"),
                       ("d-cut.json.gz", "truncated_gzip"),
                       ("e-garbage.json", "invalid_json")}
    assert result.totals.files == 5 and result.totals.internal_errors == 0


def test_the_scanners_record_limit_reaches_the_engine(tmp_path: Path) -> None:
    records = [create_user(0), create_user(1, requestParameters={"blob": "x" * 20_000}), create_user(2)]
    path = tmp_path / "records.json"
    path.write_bytes(orjson.dumps({"Records": records}))
    issues: list[InputIssue] = []
    result = Scanner(Engine([DETECTOR]), limits=LIMITS, on_issue=issues.append).scan([str(path)])
    assert alerted(result.alerts) == {records[0]["eventID"], records[2]["eventID"]}
    assert [(i.reason, i.record) for i in issues] == [("too_large", 1)]


@pytest.mark.parametrize("response", [
    {"credentials": "ASIAEXAMPLE", "assumedRoleUser": ["arn:aws:sts::1:assumed-role/r/s"]},
    {"credentials": {"accessKeyId": 12345}, "assumedRoleUser": {"arn": {"nested": True}}},
    {"accessKey": {"accessKeyId": None, "userName": 7}},
    [1, 2, 3],
    "text",
], ids=["containers-as-scalars", "scalars-as-containers", "nulls-and-numbers", "array", "string"])
def test_issued_credentials_of_a_response_of_wrong_types_are_empty_not_an_error(response: Any) -> None:
    event = Event(responseElements=Raw(orjson.dumps(response)))
    found = issued(event)
    assert (found.credentials or NO_KEY).accessKeyId == "" and (found.accessKey or NO_KEY).userName == ""
    assert (found.assumedRoleUser or NO_IDENTITY).arn == ""


def test_issued_credentials_read_one_field_of_a_wrong_type_and_keep_the_others() -> None:
    response = {"credentials": {"accessKeyId": "ASIAEXAMPLE", "expiration": {"odd": True}, "sessionToken": 5},
                "assumedRoleUser": {"arn": "arn:aws:sts::111122223333:assumed-role/r/s", "assumedRoleId": 9}}
    found = issued(Event(responseElements=Raw(orjson.dumps(response))))
    assert (found.credentials or NO_KEY).accessKeyId == "ASIAEXAMPLE"
    assert (found.assumedRoleUser or NO_IDENTITY).arn == "arn:aws:sts::111122223333:assumed-role/r/s"
    nested = b'{"credentials":' + b'[' * 5000 + b']' * 5000 + b'}'
    assert issued(Event(responseElements=Raw(nested))) is not None
