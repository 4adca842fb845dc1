"""Recognise and parse the shapes CloudTrail logs come in.

- S3 delivery objects: `{"Records": [...]}`, plain or gzipped
- a JSON array of events
- JSON Lines, one event per line (plain or gzipped)
- CloudWatch Logs exports: one event per line, optionally prefixed by a timestamp
- `aws logs filter-log-events` output: `{"events": [{"message": "<event json>"}]}`

CloudTrail digest files and Insight events are skipped and counted. Anything
unreadable becomes an `InputIssue` naming where it came from; the rest of the
input is still returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from monitor.decode.gzip_bounded import DecompressedTooLarge, gunzip_bounded, is_gzip
from monitor.model.event import Event
from monitor.model.issue import InputIssue

DEFAULT_MAX_DECOMPRESSED_BYTES = 512 * 1024 * 1024

INSIGHT_EVENT_TYPE = "AwsCloudTrailInsight"


@dataclass(slots=True)
class Decoded:
    origin: str
    events: list[Event] = field(default_factory=list)
    # For line-based formats, the 1-based line of each event (same order).
    lines: list[int] | None = None
    issues: list[InputIssue] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    bytes_in: int = 0

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def issue(self, reason: str, detail: str, *, line: int | None = None, record: int | None = None) -> None:
        self.issues.append(InputIssue(self.origin, reason, detail, line, record))


def is_digest_name(origin: str) -> bool:
    return "CloudTrail-Digest" in origin


def is_insight_name(origin: str) -> bool:
    return "/CloudTrail-Insight/" in origin


def decode_bytes(data: bytes, origin: str, *, max_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES) -> Decoded:
    result = Decoded(origin=origin, bytes_in=len(data))
    if is_digest_name(origin):
        result.skip("digest")
        return result
    if is_gzip(data):
        try:
            data, complete = gunzip_bounded(data, max_bytes)
        except DecompressedTooLarge as exc:
            result.issue("too_large", f"refused: {exc} (possible gzip bomb)")
            return result
        if not complete:
            result.issue("truncated_gzip", "gzip stream is truncated or corrupt; decoded what was readable")
            _decode_lines(data, result, partial=True)
            return result
    elif len(data) > max_bytes:
        result.issue("too_large", f"refused: size exceeds the limit of {max_bytes} bytes")
        return result
    _decode_text(data, result)
    if result.events and is_insight_name(origin):
        # Everything CloudTrail writes under CloudTrail-Insight/ is an Insight event.
        result.skip("insight", len(result.events))
        result.events, result.lines = [], None
    return result


def _decode_text(data: bytes, result: Decoded) -> None:
    start = _first_significant(data)
    if start < 0:
        return  # empty file: nothing to do, nothing wrong
    if data[start] in b"[{":
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            if b"\n" in data.strip():
                _decode_lines(data, result)
            else:
                result.issue("invalid_json", f"invalid JSON: {exc}")
            return
        _take_document(document, result)
        if type(document) is dict and result.events and "Records" not in document:
            result.lines = [data.count(b"\n", 0, start) + 1]  # a lone event: say which line it is on
        return
    _decode_lines(data, result)


def _first_significant(data: bytes) -> int:
    for index in range(min(len(data), 4096)):
        if data[index] not in b" \t\r\n\xef\xbb\xbf":
            return index
    return -1 if len(data) <= 4096 else 0


def _take_document(document: Any, result: Decoded) -> None:
    if type(document) is dict:
        records = document.get("Records")
        if records is not None:
            if type(records) is not list:
                result.issue("wrong_type", f"'Records' is a {type(records).__name__}, expected a list")
                return
            _take_records(records, result)
            return
        if "digestStartTime" in document or "logFiles" in document:
            result.skip("digest")
            return
        log_events = document.get("events")
        if type(log_events) is list and "eventVersion" not in document:
            _take_log_events(log_events, result)
            return
        _take_records([document], result)
        return
    if type(document) is list:
        _take_records(document, result)
        return
    result.issue("wrong_type", f"top-level JSON is a {type(document).__name__}, expected an object or array")


def _take_records(records: list[Any], result: Decoded) -> None:
    # CloudTrail writes Insight events to their own files, so one look at the
    # first record decides for the whole batch.
    if records and type(records[0]) is dict and records[0].get("eventType") == INSIGHT_EVENT_TYPE:
        kept = [r for r in records if not (type(r) is dict and r.get("eventType") == INSIGHT_EVENT_TYPE)]
        result.skip("insight", len(records) - len(kept))
        records = kept
    if result.events:
        result.events.extend(records)
    else:
        result.events = records


def _take_log_events(log_events: list[Any], result: Decoded) -> None:
    for index, item in enumerate(log_events):
        message = item.get("message") if type(item) is dict else None
        if type(message) is not str:
            result.issue("wrong_type", "log event has no string 'message'", record=index)
            continue
        try:
            event = orjson.loads(message)
        except orjson.JSONDecodeError as exc:
            result.issue("invalid_json", f"invalid JSON in log message: {exc}", record=index)
            continue
        _take_line_value(event, result, None, index)


def _decode_lines(data: bytes, result: Decoded, *, partial: bool = False) -> None:
    lines: list[int] = []
    result.lines = lines
    raw_lines = data.split(b"\n")
    last = len(raw_lines) - 1
    for number, raw in enumerate(raw_lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line[0] not in b"{[":  # a CloudWatch export prefixes a timestamp
            brace = line.find(b"{")
            if brace < 0:
                result.issue("invalid_json", "line is not a JSON object", line=number)
                continue
            line = line[brace:]
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if partial and number - 1 == last:
                continue  # the cut-off tail of a truncated stream, already reported
            result.issue("invalid_json", f"invalid JSON: {exc}", line=number)
            continue
        before = len(result.events)
        _take_line_value(value, result, number, None)
        lines.extend([number] * (len(result.events) - before))


def _take_line_value(value: Any, result: Decoded, line: int | None, record: int | None) -> None:
    if type(value) is not dict:
        result.issue("not_an_object", f"record is a {type(value).__name__}, not an object", line=line, record=record)
        return
    records = value.get("Records")
    if type(records) is list:
        # A delivery object on one line (for example a concatenation of S3 objects).
        for item in records:
            _take_line_value(item, result, line, record)
        return
    if value.get("eventType") == INSIGHT_EVENT_TYPE:
        result.skip("insight")
        return
    result.events.append(value)
