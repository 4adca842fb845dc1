"""Bytes to typed CloudTrail events: pure, synchronous, shared by `scan` and `run`."""

from monitor.decode.formats import Slice, decode_bytes, decode_slices
from monitor.decode.settings import (
    DEFAULT_MAX_DOCUMENT_BYTES,
    DEFAULT_MAX_RECORD_BYTES,
    DEFAULT_SLICE_EVENTS,
    DecodeLimits,
)
from monitor.decode.times import BAD_TIME, EventTimes

__all__ = [
    "BAD_TIME",
    "DEFAULT_MAX_DOCUMENT_BYTES",
    "DEFAULT_MAX_RECORD_BYTES",
    "DEFAULT_SLICE_EVENTS",
    "DecodeLimits",
    "EventTimes",
    "Slice",
    "decode_bytes",
    "decode_slices",
]
