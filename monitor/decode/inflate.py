"""Streaming gunzip: decompressed bytes in bounded chunks, so a gzip bomb is never expanded whole.

Inflating is a large part of what reading a CloudTrail object costs, so the ISA-L inflater (`isal`,
the same zlib API, about three times faster here) is used when it is installed; the standard
library's zlib otherwise. Both give the same bytes and the same verdicts on truncation and garbage.
Concatenated gzip members (several objects joined) are inflated one after the other.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from types import ModuleType
from typing import Protocol

INFLATERS: dict[str, ModuleType] = {"zlib": zlib}
try:
    from isal import isal_zlib

    INFLATERS["isal"] = isal_zlib
except ImportError:  # a platform without the isal wheel: the standard library does the same, slower
    pass
DEFAULT_INFLATER = "isal" if "isal" in INFLATERS else "zlib"

GZIP_MAGIC = b"\x1f\x8b"
# Compressed bytes read per step, and the most decompressed bytes one step may produce.
READ_BYTES = 1 << 20
CHUNK_BYTES = 4 << 20


class Reader(Protocol):
    def read(self, size: int, /) -> bytes: ...


class Inflated:
    """The decompressed chunks of a gzip stream; after iterating, `complete` says whether it ended cleanly.

    `finished` says whether iteration reached the end of the input (or garbage, or corruption): a consumer
    that stopped taking chunks early (a document refused for its size) leaves it False, and then
    `complete` says nothing about the stream.
    """

    def __init__(self, reader: Reader, *, inflater: str = DEFAULT_INFLATER, chunk_bytes: int = CHUNK_BYTES) -> None:
        self._reader = reader
        self._library = INFLATERS[inflater]
        self._chunk_bytes = chunk_bytes
        self.complete = False
        self.trailing_garbage = False
        self.finished = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inflate()
        self.finished = True

    def _inflate(self) -> Iterator[bytes]:
        library = self._library
        stream = library.decompressobj(wbits=16 + zlib.MAX_WBITS)
        pending = b""  # compressed input not consumed yet
        at_member_start = True
        ended = False  # the reader has nothing more
        while True:
            if not pending and not ended:
                pending = self._reader.read(READ_BYTES)
                ended = not pending
            if ended and at_member_start and not pending:
                # Input ended at a member boundary: clean.
                self.complete = True
                return
            if at_member_start:
                if pending[:2] != GZIP_MAGIC[: len(pending)]:
                    self.trailing_garbage = True  # something after a complete member that is not gzip
                    return
                at_member_start = False
            try:
                chunk = stream.decompress(pending, self._chunk_bytes)
            except library.error:
                return  # corrupt: what was produced so far stands, `complete` stays False
            pending = stream.unconsumed_tail
            if chunk:
                yield chunk
            if stream.eof:
                pending = stream.unused_data  # the next member, if any (unconsumed_tail is empty at eof)
                stream = library.decompressobj(wbits=16 + zlib.MAX_WBITS)
                at_member_start = True
            elif ended and not chunk:
                # Input ended inside a member, and the inflater gave out all it still held (ISA-L keeps
                # decoded output back past the end of its input): truncated, `complete` stays False.
                return
