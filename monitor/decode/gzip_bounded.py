"""Gunzip with a ceiling on the decompressed size, so a gzip bomb is refused, not expanded.

Inflating is a third of what reading a CloudTrail object costs, so the ISA-L inflater (`isal`, the
same zlib API, about three times faster here) is used when it is installed; the standard library's
zlib otherwise. Both give the same bytes and the same verdicts on bombs and truncation.
"""

from __future__ import annotations

import zlib
from types import ModuleType

INFLATERS: dict[str, ModuleType] = {"zlib": zlib}
try:
    from isal import isal_zlib

    INFLATERS["isal"] = isal_zlib
except ImportError:  # a platform without the isal wheel: the standard library does the same, slower
    pass
DEFAULT_INFLATER = "isal" if "isal" in INFLATERS else "zlib"

GZIP_MAGIC = b"\x1f\x8b"


class DecompressedTooLarge(ValueError):
    pass


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def gunzip_bounded(data: bytes, max_bytes: int, *, inflater: str = DEFAULT_INFLATER) -> tuple[bytes, bool]:
    """Decompress every gzip member of `data`.

    Returns the bytes and whether the stream was complete; a truncated stream
    returns what could be recovered with `complete=False`. Raises
    DecompressedTooLarge as soon as the output would pass `max_bytes`.
    """
    library = INFLATERS[inflater]
    parts: list[bytes] = []
    total = 0
    remaining = data
    while remaining:
        stream = library.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            chunk = stream.decompress(remaining, max_bytes - total + 1)
        except library.error:
            return b"".join(parts), False
        total += len(chunk)
        if total > max_bytes:
            raise DecompressedTooLarge(f"decompressed size exceeds the limit of {max_bytes} bytes")
        parts.append(chunk)
        if not stream.eof:
            # Either the limit cut the output short (more is pending) or the input ended early.
            if stream.unconsumed_tail:
                raise DecompressedTooLarge(f"decompressed size exceeds the limit of {max_bytes} bytes")
            return b"".join(parts), False
        remaining = stream.unused_data
        if remaining and not is_gzip(remaining):
            # Trailing garbage after a complete member: keep what we have, flag it.
            return b"".join(parts), False
    return b"".join(parts), True
