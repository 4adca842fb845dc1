"""Gunzip with a ceiling on the decompressed size, so a gzip bomb is refused, not expanded."""

from __future__ import annotations

import zlib

GZIP_MAGIC = b"\x1f\x8b"


class DecompressedTooLarge(ValueError):
    pass


def is_gzip(data: bytes) -> bool:
    return data[:2] == GZIP_MAGIC


def gunzip_bounded(data: bytes, max_bytes: int) -> tuple[bytes, bool]:
    """Decompress every gzip member of `data`.

    Returns the bytes and whether the stream was complete; a truncated stream
    returns what could be recovered with `complete=False`. Raises
    DecompressedTooLarge as soon as the output would pass `max_bytes`.
    """
    parts: list[bytes] = []
    total = 0
    remaining = data
    while remaining:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(remaining, max_bytes - total + 1)
        except zlib.error:
            return b"".join(parts), False
        total += len(chunk)
        if total > max_bytes:
            raise DecompressedTooLarge(f"decompressed size exceeds the limit of {max_bytes} bytes")
        parts.append(chunk)
        if not inflater.eof:
            # Either the limit cut the output short (more is pending) or the input ended early.
            if inflater.unconsumed_tail:
                raise DecompressedTooLarge(f"decompressed size exceeds the limit of {max_bytes} bytes")
            return b"".join(parts), False
        remaining = inflater.unused_data
        if remaining and not is_gzip(remaining):
            # Trailing garbage after a complete member: keep what we have, flag it.
            return b"".join(parts), False
    return b"".join(parts), True
