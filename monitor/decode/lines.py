"""JSON Lines and CloudWatch Logs exports: one event per line, streamed, never held whole.

`formats.py` sends an input here when its first line is one JSON object with more after it, or when it
does not start like a JSON document at all (CloudWatch exports put a timestamp before each event's JSON);
`documents.py` sends what did not parse as one document but has several lines. The input is cut into
lines as it is read and decoded `slice_events` lines at a time: the slice's lines as one JSON array when
they all are events (the fast path), line by line otherwise, so that a bad line is reported by its number
and the rest still come out. A line that holds a whole delivery object gives each of its records.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from monitor.decode.slices import Reading, Slice, finish
from monitor.decode.typed import EVENT_ARRAY, Problem, decode_line, from_plain
from monitor.model.event import Event


def decode_lines(reading: Reading, first: bytes, chunks: Iterator[bytes]) -> Iterator[Slice]:
    """The events of `first` and then `chunks`, line by line, in slices (the first is `reading.notice`)."""
    batch: list[bytes] = []
    numbers: list[int] = []
    out = reading.notice
    out.line_based = True
    for number, line in _split(reading, first, chunks, out):
        batch.append(line)
        numbers.append(number)
        if len(batch) >= reading.limits.slice_events:
            yield _line_slice(out, batch, numbers)
            out = reading.next_slice(line_based=True)
            batch, numbers = [], []
    yield _line_slice(out, batch, numbers)


def _split(reading: Reading, first: bytes, chunks: Iterator[bytes], out: Slice) -> Iterator[tuple[int, bytes]]:
    """Non-empty lines with their 1-based numbers; a line over the record limit is reported and dropped."""
    limit = reading.limits.max_record_bytes
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
    if partial.strip() and not skipping and not reading.cut():  # a cut stream's last piece is not a line
        yield number + 1, partial.strip()


def _line_slice(out: Slice, lines: list[bytes], numbers: list[int]) -> Slice:
    """`lines` (numbered `numbers`) decoded into `out`: all at once if they are all events."""
    bodies = [line if line[:1] in b"{[" else _after_prefix(line) for line in lines]
    try:
        events = EVENT_ARRAY.decode(b"[" + b",".join(b or b"null" for b in bodies) + b"]")
    except Exception:  # any refusal: decide line by line below
        events = None
    if events is not None and all(event.eventName or event.eventTime for event in events):
        finish(out, events, numbers)
        return out
    kept: list[Event] = []
    places: list[int] = []
    timeless: set[int] = set()
    for line, body, number in zip(lines, bodies, numbers, strict=True):
        # A line without an object: the line itself, to tell JSON that is not an object from garbage.
        _one_line(out, body or line, number, kept, places, timeless)
    finish(out, kept, places, timeless)
    return out


def _one_line(out: Slice, body: bytes, number: int, kept: list[Event], places: list[int],
              timeless: set[int]) -> None:
    """One line's events onto `kept` and `places`, its problems onto `out`; `timeless` gets its number if
    a time problem was reported here, so the engine's prologue does not report it again."""
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
        timeless.add(number)


def _with_first(first: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from chunks


def _after_prefix(line: bytes) -> bytes:
    """A CloudWatch export line: the JSON after a timestamp prefix; b"" when there is no object."""
    brace = line.find(b"{")
    return line[brace:] if brace >= 0 else b""
