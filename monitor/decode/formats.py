"""Recognise the shapes CloudTrail logs come in and turn them into slices of typed events.

- S3 delivery objects: `{"Records": [...]}`, plain or gzipped
- a JSON array of events, or one event object
- JSON Lines, one event per line (plain or gzipped), also a delivery object per line
- CloudWatch Logs exports: one event per line, optionally prefixed by a timestamp
- `aws logs filter-log-events` output: `{"events": [{"message": "<event json>"}]}`

Memory stays bounded whatever the input: gzip is inflated in chunks; line-based input is cut into
slices of `slice_events` events and never held whole; a one-document input (the first four shapes)
is read whole only up to `max_document_bytes`, which is refused past that (a plain file by its size,
before it is read); a line or record over `max_record_bytes` is refused on its own.

CloudTrail digest files and Insight events are skipped and counted. Anything unreadable becomes an
`InputIssue` naming the file and the line or record; the rest of the input still comes out.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson

from monitor.decode.inflate import CHUNK_BYTES, GZIP_MAGIC, Inflated
from monitor.decode.settings import DEFAULT_MAX_RECORD_BYTES, DecodeLimits
from monitor.decode.typed import (
    EVENT_ARRAY,
    Decoded,
    Problem,
    decode_each,
    decode_line,
    decode_records,
    from_plain,
    iter_records,
)
from monitor.model.event import Event
from monitor.model.issue import InputIssue

INSIGHT_EVENT_TYPE = "AwsCloudTrailInsight"
# A document larger than this is not parsed whole: its records are found by scanning and decoded in slices,
# so memory holds the document and one slice, not every event of it.
WHOLE_PARSE_BYTES = 32 * 1024 * 1024
_SIGNIFICANT = re.compile(rb"[^ \t\r\n\xef\xbb\xbf]")  # what `_first_significant` does not skip
_NONE: set[int] = set()


@dataclass(slots=True)
class Slice:
    """Up to `slice_events` events of one input, with their epoch times and where each was found."""

    origin: str
    events: list[Event] = field(default_factory=list)
    # The 1-based line of each event (line-based input) or its index among the document's records.
    places: list[int] = field(default_factory=list)
    line_based: bool = False
    issues: list[InputIssue] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    # Indexes (into `events`) whose unusable eventTime was already reported while decoding.
    timeless: set[int] = field(default_factory=set)
    # The input's `max_record_bytes`: records of a document are measured in the engine's prologue, by this.
    record_limit: int = DEFAULT_MAX_RECORD_BYTES

    def where(self, index: int) -> tuple[int | None, int | None]:
        """(line, record) of an event, for an InputIssue."""
        place = self.places[index]
        return (place, None) if self.line_based else (None, place)

    def issue(self, reason: str, detail: str, place: int | None = None) -> None:
        if place is None:
            self.issues.append(InputIssue(self.origin, reason, detail))
        elif self.line_based:
            self.issues.append(InputIssue(self.origin, reason, detail, line=place))
        else:
            self.issues.append(InputIssue(self.origin, reason, detail, record=place))

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count


def is_digest_name(origin: str) -> bool:
    return "CloudTrail-Digest" in origin


def is_insight_name(origin: str) -> bool:
    return "/CloudTrail-Insight/" in origin


def decode_slices(source: bytes | BinaryIO, origin: str, limits: DecodeLimits | None = None) -> Iterator[Slice]:
    """The events of one input (bytes, or a binary file read as it goes), slice by slice."""
    limits = limits or DecodeLimits()
    reader = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    if is_digest_name(origin):
        notice = Slice(origin)
        notice.skip("digest")
        yield notice
        return
    head = reader.read(2)
    gzipped = head == GZIP_MAGIC
    notice = Slice(origin, record_limit=limits.max_record_bytes)
    if origin.endswith(".gz") and not gzipped:
        notice.issue("not_gzip", "empty file named .gz" if not head else "named .gz but not gzip; read as plain")
    chunks: Iterable[bytes]
    inflated: Inflated | None = None
    if gzipped:
        inflated = Inflated(_Rewound(head, reader))
        chunks = inflated
    else:
        chunks = _plain_chunks(head, reader)
    decoder = _Decoder(origin, limits, notice)
    if inflated is not None:
        found = inflated
        decoder.cut = lambda: found.finished and not found.complete and not found.trailing_garbage
    yield from decoder.run(iter(chunks), plain_size=None if gzipped else _size_of(reader))
    # A stream the decoder stopped reading early (a document refused for its size) is not called truncated.
    if inflated is not None and inflated.finished and not inflated.complete:
        tail = Slice(origin)
        if inflated.trailing_garbage:
            tail.issue("truncated_gzip", "data after the gzip stream is not gzip; ignored")
        else:
            tail.issue("truncated_gzip", "gzip stream is truncated or corrupt; decoded what was readable")
        yield tail


def decode_bytes(data: bytes, origin: str, limits: DecodeLimits | None = None) -> Slice:
    """Every slice of a small input joined into one (tests, samples, and callers that want it whole)."""
    whole = Slice(origin, record_limit=(limits or DecodeLimits()).max_record_bytes)
    for part in decode_slices(data, origin, limits):
        whole.line_based = whole.line_based or part.line_based
        whole.timeless.update(index + len(whole.events) for index in part.timeless)
        whole.events.extend(part.events)
        whole.places.extend(part.places)
        whole.issues.extend(part.issues)
        for reason, count in part.skipped.items():
            whole.skip(reason, count)
    return whole


class _Rewound:
    """A reader whose first bytes were already read once (to sniff gzip)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int, /) -> bytes:
        if self._head:
            head, self._head = self._head, b""
            return head
        return self._rest.read(size)


def _plain_chunks(head: bytes, reader: BinaryIO) -> Iterator[bytes]:
    if head:
        yield head
    while chunk := reader.read(CHUNK_BYTES):
        yield chunk


def _size_of(reader: BinaryIO) -> int | None:
    try:
        return os.fstat(reader.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


class _Decoder:
    def __init__(self, origin: str, limits: DecodeLimits, notice: Slice) -> None:
        self.origin = origin
        self.limits = limits
        self.notice = notice  # issues found before any event (named .gz but not gzip)
        self.insight = is_insight_name(origin)
        # Whether the input was cut short (a truncated gzip stream, known once it is read to its end).
        self.cut: Callable[[], bool] = lambda: False

    def run(self, chunks: Iterator[bytes], plain_size: int | None) -> Iterator[Slice]:
        # Enough of the start to tell a document from lines: the first line and the start of the next, or a
        # record's worth. However the input is cut into reads (a pipe, one gzip member per line), so each
        # chunk is looked at once.
        parts: list[bytes] = []
        size = 0
        started = line_ended = False
        for chunk in chunks:
            parts.append(chunk)
            size += len(chunk)
            if size > self.limits.max_record_bytes:
                break
            at = 0
            if not started:
                found = _SIGNIFICANT.search(chunk)
                if found is None:
                    continue
                started, at = True, found.start()
            if not line_ended:
                at = chunk.find(b"\n", at)
                if at < 0:
                    continue
                line_ended = True
            if _SIGNIFICANT.search(chunk, at):
                break
        first = b"".join(parts)
        start = _first_significant(first)
        if start < 0:
            yield self.notice  # empty: nothing to do
            return
        if first[start] in b"[{" and not self._looks_like_lines(first, start):
            if plain_size is not None and plain_size > self.limits.max_document_bytes:
                self.notice.issue("too_large", f"refused: {plain_size} bytes is over the limit of "
                                               f"{self.limits.max_document_bytes} for one JSON document")
                yield self.notice
                return
            document = self._whole(first, chunks)
            if document is None:
                yield self.notice
                return
            yield from self._document(document)
            return
        yield from self._lines(first, chunks)

    def _looks_like_lines(self, first: bytes, start: int) -> bool:
        """One complete JSON object on the first line and more after it: JSON Lines, streamed."""
        end = first.find(b"\n", start)
        if end < 0 or not first[end:].strip():
            return False
        try:
            return type(orjson.loads(first[start:end])) is dict
        except orjson.JSONDecodeError:
            return False

    def _whole(self, first: bytes, chunks: Iterator[bytes]) -> bytes | None:
        limit = self.limits.max_document_bytes
        parts = [first]
        total = len(first)
        while total <= limit:  # the first part alone may be over the limit already
            chunk = next(chunks, None)
            if chunk is None:
                return b"".join(parts)
            parts.append(chunk)
            total += len(chunk)
        self.notice.issue("too_large", f"refused: one JSON document over the limit of {limit} bytes "
                                       "(possible gzip bomb)")
        return None

    # -- one JSON document -------------------------------------------------------------------------

    def _document(self, data: bytes) -> Iterator[Slice]:
        if len(data) > WHOLE_PARSE_BYTES:
            yield from self._large_document(data)
            return
        events: list[Event] = []
        positions: list[int] = []
        problems: list[Problem] = []
        out = self.notice
        try:
            if data.lstrip()[:1] == b"[":
                events, positions, problems = decode_records(data, wrapped=False)
            else:
                events, positions, problems = self._object(data, out)
        except ValueError:
            try:
                orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                if self.cut():  # a gzip stream cut short: reported as such; whole lines before the cut still count
                    yield from self._lines(data[:data.rfind(b"\n") + 1], iter(()))
                    return
                if b"\n" in data.strip():
                    yield from self._lines(data, iter(()))
                    return
                out.issue("invalid_json", f"invalid JSON: {exc}")
                yield out
                return
            out.issue("wrong_type", "top-level JSON is not an object or array of records")
        for position, reason, detail in problems:
            out.issue(reason, detail, position)
        timeless = {position for position, reason, _ in problems if reason == "bad_event_time"}
        if events and self.insight:
            # Everything CloudTrail writes under CloudTrail-Insight/ is an Insight event.
            out.skip("insight", len(events))
            events = []
        size = self.limits.slice_events
        for begin in range(0, max(len(events), 1), size):
            part = out if begin == 0 else Slice(self.origin, record_limit=self.limits.max_record_bytes)
            self._finish(part, events[begin:begin + size], positions[begin:begin + size], timeless)
            yield part

    def _large_document(self, data: bytes) -> Iterator[Slice]:
        """A document too large to parse whole (its events would not fit): its records found by scanning,
        decoded `slice_events` at a time. Anything but a records list this large is not CloudTrail."""
        out = self.notice
        wrapped = data.lstrip()[:1] == b"{"
        size = self.limits.slice_events
        chunk: list[bytes] = []
        first = 0
        try:
            for record in iter_records(data, wrapped=wrapped):
                chunk.append(record)
                if len(chunk) >= size:
                    yield self._records_slice(out, chunk, first)
                    out = Slice(self.origin, record_limit=self.limits.max_record_bytes)
                    first, chunk = first + len(chunk), []
        except ValueError:
            out.issue("too_large", f"refused: a JSON document over {WHOLE_PARSE_BYTES} bytes that is not a list of "
                                   "records")
        if chunk or not out.events:
            yield self._records_slice(out, chunk, first)

    def _records_slice(self, out: Slice, records: list[bytes], first: int) -> Slice:
        try:
            events = EVENT_ARRAY.decode(b"[" + b",".join(records) + b"]")
            positions = list(range(first, first + len(events)))
            problems: list[Problem] = []
        except Exception:  # any refusal: record by record
            events, places, problems = decode_each(records)
            positions = [first + place for place in places]
            problems = [(first + place, reason, detail) for place, reason, detail in problems]
        if self.insight:
            out.skip("insight", len(events))
            events, positions = [], []
        for position, reason, detail in problems:
            out.issue(reason, detail, position)
        self._finish(out, events, positions, {p for p, reason, _ in problems if reason == "bad_event_time"})
        return out

    def _object(self, data: bytes, out: Slice) -> Decoded:
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
        line = data.count(b"\n", 0, _first_significant(data)) + 1
        problems: list[Problem] = []
        event = from_plain(document, line, problems)
        return ([event], [line], problems) if event is not None else ([], [], problems)

    # -- JSON Lines and CloudWatch exports ---------------------------------------------------------

    def _lines(self, first: bytes, chunks: Iterator[bytes]) -> Iterator[Slice]:
        batch: list[bytes] = []
        numbers: list[int] = []
        out = self.notice
        out.line_based = True
        for number, line in self._split(first, chunks, out):
            batch.append(line)
            numbers.append(number)
            if len(batch) >= self.limits.slice_events:
                yield self._line_slice(out, batch, numbers)
                out = Slice(self.origin, line_based=True, record_limit=self.limits.max_record_bytes)
                batch, numbers = [], []
        yield self._line_slice(out, batch, numbers)

    def _split(self, first: bytes, chunks: Iterator[bytes], out: Slice) -> Iterator[tuple[int, bytes]]:
        """Non-empty lines with their 1-based numbers; a line over the record limit is reported and dropped."""
        limit = self.limits.max_record_bytes
        number = 0
        partial = b""
        skipping = False  # inside a line already refused for its length
        for chunk in _with_first(first, chunks):
            data = partial + chunk if partial else chunk
            begin = 0
            while True:
                end = data.find(b"\n", begin)
                if end < 0:
                    break
                number += 1
                if skipping:
                    skipping = False
                elif end - begin > limit:
                    out.issue("too_large", f"line longer than the limit of {limit} bytes; skipped", number)
                else:
                    line = data[begin:end].strip()
                    if line:
                        yield number, line
                begin = end + 1
            partial = data[begin:]
            if len(partial) > limit:
                if not skipping:
                    out.issue("too_large", f"line longer than the limit of {limit} bytes; skipped", number + 1)
                skipping = True
                partial = b""
        if partial.strip() and not skipping and not self.cut():  # a cut stream's last piece is not a line
            yield number + 1, partial.strip()

    def _line_slice(self, out: Slice, lines: list[bytes], numbers: list[int]) -> Slice:
        bodies = [line if line[:1] in b"{[" else _after_prefix(line) for line in lines]
        try:
            events = EVENT_ARRAY.decode(b"[" + b",".join(b or b"null" for b in bodies) + b"]")
        except Exception:  # any refusal: decide line by line below
            events = None
        if events is not None and all(event.eventName or event.eventTime for event in events):
            self._finish(out, events, numbers)
            return out
        kept: list[Event] = []
        places: list[int] = []
        self._timeless: set[int] = set()
        for line, body, number in zip(lines, bodies, numbers, strict=True):
            # A line without an object: the line itself, to tell JSON that is not an object from garbage.
            self._one_line(out, body or line, number, kept, places)
        self._finish(out, kept, places, self._timeless)
        return out

    def _one_line(self, out: Slice, body: bytes, number: int, kept: list[Event], places: list[int]) -> None:
        if not body:
            out.issue("invalid_json", "line is not a JSON object", number)
            return
        try:
            value = decode_line(body)
        except ValueError as exc:
            out.issue("invalid_json", str(exc), number)
            return
        if isinstance(value, Event) and (value.eventName or value.eventTime):
            kept.append(value)
            places.append(number)
            return
        if isinstance(value, Event):
            value = orjson.loads(body)  # an object without event fields: maybe a delivery object on one line
        records = value.get("Records") if type(value) is dict else None
        plain = records if type(records) is list else [value]
        problems: list[Problem] = []
        for item in plain:
            event = from_plain(item, number, problems)
            if event is not None:
                kept.append(event)
                places.append(number)
        for _, reason, detail in problems:
            out.issue(reason, detail, number)
        if any(reason == "bad_event_time" for _, reason, _ in problems):
            self._timeless.add(number)

    # -- every event ------------------------------------------------------------------------------

    def _finish(self, out: Slice, events: list[Event], places: list[int], timeless: set[int] = _NONE) -> None:
        """Fill `out` (`timeless`: places whose time problem was already reported while decoding).

        What every event needs checked (its time, its names, its size, Insight events) is checked where
        each event is looked at anyway, in the engine's prologue: one pass over the events, not two.
        """
        if timeless:
            first = len(out.events)
            out.timeless.update(first + index for index, place in enumerate(places) if place in timeless)
        out.events.extend(events)
        out.places.extend(places)


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


def _with_first(first: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from chunks


def _after_prefix(line: bytes) -> bytes:
    """A CloudWatch export line: the JSON after a timestamp prefix; b"" when there is no object."""
    brace = line.find(b"{")
    return line[brace:] if brace >= 0 else b""


def _first_significant(data: bytes) -> int:
    for index in range(min(len(data), 4096)):
        if data[index] not in b" \t\r\n\xef\xbb\xbf":
            return index
    return -1 if len(data) <= 4096 else 0


def _kind(value: Any) -> str:
    names: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    return names.get(type(value), f"a {type(value).__name__}")


