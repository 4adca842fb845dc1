"""One whole JSON document: a delivery object, an array of events, one event, a `filter-log-events` page.

`formats.py` sends an input here when it starts with `[` or `{` and its first line is not a JSON object
followed by more, having read it whole (up to `max_document_bytes`). Up to `WHOLE_PARSE_BYTES` it is
parsed in one go: the fast path every CloudTrail delivery object takes. Past that its events would not
fit beside it, so its records are found by scanning (`typed.iter_records`) and decoded a slice at a time.
What is not one JSON document but has several lines (JSON Lines that did not look like it from their
first line), and the whole lines before the cut of a truncated gzip stream, are read by `lines.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from monitor.decode.lines import decode_lines
from monitor.decode.slices import Reading, Slice, finish
from monitor.decode.typed import (
    EVENT_ARRAY,
    Decoded,
    Problem,
    decode_each,
    decode_records,
    from_plain,
    iter_records,
)
from monitor.model.event import Event

# A document larger than this is not parsed whole: its records are found by scanning and decoded in slices,
# so memory holds the document and one slice, not every event of it.
WHOLE_PARSE_BYTES = 32 * 1024 * 1024


_BOM = b"\xef\xbb\xbf"


def decode_document(reading: Reading, data: bytes) -> Iterator[Slice]:
    """The events of one whole document, in slices of `slice_events` (the first is `reading.notice`)."""
    if len(data) > WHOLE_PARSE_BYTES:
        yield from _large_document(reading, data)
        return
    events: list[Event] = []
    positions: list[int] = []
    problems: list[Problem] = []
    out = reading.notice
    if data.startswith(_BOM):
        data = data[len(_BOM):]  # a byte-order mark some tools write first; JSON parsers refuse it
    try:
        if data.lstrip()[:1] == b"[":
            events, positions, problems = decode_records(data, wrapped=False)
        else:
            events, positions, problems = _object(data, out)
    except ValueError:
        try:
            orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            if reading.cut():  # a gzip stream cut short: reported as such; whole lines before the cut still count
                yield from decode_lines(reading, data[:data.rfind(b"\n") + 1], iter(()))
                return
            if b"\n" in data.strip():
                yield from decode_lines(reading, data, iter(()))
                return
            out.issue("invalid_json", f"invalid JSON: {exc}")
            yield out
            return
        out.issue("wrong_type", "top-level JSON is not an object or array of records")
    for position, reason, detail in problems:
        out.issue(reason, detail, position)
    timeless = {position for position, reason, _ in problems if reason == "bad_event_time"}
    if events and reading.insight:
        # Everything CloudTrail writes under CloudTrail-Insight/ is an Insight event.
        out.skip("insight", len(events))
        events = []
    size = reading.limits.slice_events
    for begin in range(0, max(len(events), 1), size):
        part = out if begin == 0 else reading.next_slice()
        finish(part, events[begin:begin + size], positions[begin:begin + size], timeless)
        yield part


def first_significant(data: bytes) -> int:
    """Where a document starts, past whitespace and a byte order mark (looked for in the first 4 KiB)."""
    for index in range(min(len(data), 4096)):
        if data[index] not in b" \t\r\n\xef\xbb\xbf":
            return index
    return -1 if len(data) <= 4096 else 0


def _large_document(reading: Reading, data: bytes) -> Iterator[Slice]:
    """A document too large to parse whole (its events would not fit): its records found by scanning,
    decoded `slice_events` at a time. Anything but a records list this large is not CloudTrail."""
    out = reading.notice
    wrapped = data.lstrip()[:1] == b"{"
    size = reading.limits.slice_events
    chunk: list[bytes] = []
    first = 0
    try:
        for record in iter_records(data, wrapped=wrapped):
            chunk.append(record)
            if len(chunk) >= size:
                yield _records_slice(reading, out, chunk, first)
                out = reading.next_slice()
                first, chunk = first + len(chunk), []
    except ValueError:
        out.issue("too_large", f"refused: a JSON document over {WHOLE_PARSE_BYTES} bytes that is not a list of "
                               "records")
    if chunk or not out.events:
        yield _records_slice(reading, out, chunk, first)


def _records_slice(reading: Reading, out: Slice, records: list[bytes], first: int) -> Slice:
    """`records` (the scanned bytes of each, the first being record number `first`) decoded into `out`."""
    try:
        events = EVENT_ARRAY.decode(b"[" + b",".join(records) + b"]")
        positions = list(range(first, first + len(events)))
        problems: list[Problem] = []
    except Exception:  # any refusal: record by record
        events, places, problems = decode_each(records)
        positions = [first + place for place in places]
        problems = [(first + place, reason, detail) for place, reason, detail in problems]
    if reading.insight:
        out.skip("insight", len(events))
        events, positions = [], []
    for position, reason, detail in problems:
        out.issue(reason, detail, position)
    finish(out, events, positions, {p for p, reason, _ in problems if reason == "bad_event_time"})
    return out


def _object(data: bytes, out: Slice) -> Decoded:
    """A `{...}` document: delivery object, digest, filter-log-events page, or one event."""
    try:
        return decode_records(data, wrapped=True)
    except ValueError:
        pass
    document = orjson.loads(data)  # the records list was not found: see what this object is
    if type(document) is not dict:
        raise ValueError("not an object")
    if "Records" in document:
        out.issue("wrong_type", f"'Records' is {_kind(document['Records'])}, expected a list")
        return [], [], []
    if "digestStartTime" in document or "logFiles" in document:
        out.skip("digest")
        return [], [], []
    log_events = document.get("events")
    if type(log_events) is list and "eventVersion" not in document:
        return _log_events(log_events)
    # One event on its own (a record copied out of a delivery object): say which line it is on.
    out.line_based = True
    line = data.count(b"\n", 0, first_significant(data)) + 1
    problems: list[Problem] = []
    event = from_plain(document, line, problems)
    return ([event], [line], problems) if event is not None else ([], [], problems)


def _log_events(log_events: list[Any]) -> Decoded:
    """`aws logs filter-log-events` output: each log event's message is one CloudTrail record."""
    messages: list[bytes] = []
    indexes: list[int] = []
    problems: list[Problem] = []
    for index, item in enumerate(log_events):
        message = item.get("message") if type(item) is dict else None
        if type(message) is str:
            messages.append(message.encode("utf-8", "surrogatepass"))
            indexes.append(index)
        else:
            problems.append((index, "wrong_type", "log event has no string 'message'"))
    events, positions, more = decode_each(messages)
    return (events, [indexes[p] for p in positions],
            problems + [(indexes[p], reason, detail) for p, reason, detail in more])


def _kind(value: Any) -> str:
    names: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    return names.get(type(value), f"a {type(value).__name__}")
