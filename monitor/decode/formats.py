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

This module is the entry (`decode_slices`, `decode_bytes`) and the choice between the two ways of
reading: it sniffs gzip and the start of the input, then hands it to `documents.py` (one JSON document,
read whole) or `lines.py` (JSON Lines and CloudWatch exports, streamed). `Slice` lives in `slices.py`,
under both, and is exported from here as before.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import orjson

from monitor.decode.documents import decode_document, first_significant
from monitor.decode.inflate import CHUNK_BYTES, GZIP_MAGIC, Inflated
from monitor.decode.lines import decode_lines
from monitor.decode.settings import DecodeLimits
from monitor.decode.slices import Reading, Slice

__all__ = ["INSIGHT_EVENT_TYPE", "Slice", "decode_bytes", "decode_slices", "is_digest_name", "is_insight_name"]

INSIGHT_EVENT_TYPE = "AwsCloudTrailInsight"
_SIGNIFICANT = re.compile(rb"[^ \t\r\n\xef\xbb\xbf]")  # what `documents.first_significant` does not skip


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
    reading = Reading(origin, limits, notice, insight=is_insight_name(origin))
    if inflated is not None:
        found = inflated
        reading.cut = lambda: found.finished and not found.complete and not found.trailing_garbage
    yield from _run(reading, iter(chunks), plain_size=None if gzipped else _size_of(reader))
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


def _run(reading: Reading, chunks: Iterator[bytes], plain_size: int | None) -> Iterator[Slice]:
    """One document or lines, told apart by how the input starts; the rest of `chunks` read by the one chosen."""
    limits = reading.limits
    # Enough of the start to tell a document from lines: the first line and the start of the next, or a
    # record's worth. However the input is cut into reads (a pipe, one gzip member per line), so each
    # chunk is looked at once.
    parts: list[bytes] = []
    size = 0
    started = line_ended = False
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size > limits.max_record_bytes:
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
    start = first_significant(first)
    if start < 0:
        yield reading.notice  # empty: nothing to do
        return
    if first[start] in b"[{" and not _looks_like_lines(first, start):
        if plain_size is not None and plain_size > limits.max_document_bytes:
            reading.notice.issue("too_large", f"refused: {plain_size} bytes is over the limit of "
                                              f"{limits.max_document_bytes} for one JSON document")
            yield reading.notice
            return
        document = _whole(reading, first, chunks)
        if document is None:
            yield reading.notice
            return
        yield from decode_document(reading, document)
        return
    yield from decode_lines(reading, first, chunks)


def _looks_like_lines(first: bytes, start: int) -> bool:
    """One complete JSON object on the first line and more after it: JSON Lines, streamed."""
    end = first.find(b"\n", start)
    if end < 0 or not first[end:].strip():
        return False
    try:
        return type(orjson.loads(first[start:end])) is dict
    except orjson.JSONDecodeError:
        return False


def _whole(reading: Reading, first: bytes, chunks: Iterator[bytes]) -> bytes | None:
    """The whole document, or None (and the refusal on `reading.notice`) once it is over the limit."""
    limit = reading.limits.max_document_bytes
    parts = [first]
    total = len(first)
    while total <= limit:  # the first part alone may be over the limit already
        chunk = next(chunks, None)
        if chunk is None:
            return b"".join(parts)
        parts.append(chunk)
        total += len(chunk)
    reading.notice.issue("too_large", f"refused: one JSON document over the limit of {limit} bytes "
                                      "(possible gzip bomb)")
    return None
