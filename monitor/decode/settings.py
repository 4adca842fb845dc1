"""The `decode:` section: how much input is read at once, and what is refused.

    decode: {max_decompressed_bytes: 134217728, max_record_bytes: 1048576, slice_events: 20000}

A one-document input (a delivery object, a JSON array) is held whole while it is read, so it is refused
past `max_decompressed_bytes`; one over 32 MiB is decoded a slice at a time, so the default keeps one
object (the document and one slice of its events) well inside a 1 GiB container. Line-based input is
read in slices of `slice_events` events, whatever its size. A record or line over `max_record_bytes`
(CloudTrail's own events stay under 256 KB) is refused alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.configreader import Section

DEFAULT_MAX_DOCUMENT_BYTES = 128 * 1024 * 1024
DEFAULT_MAX_RECORD_BYTES = 1024 * 1024
DEFAULT_SLICE_EVENTS = 20_000


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    slice_events: int = DEFAULT_SLICE_EVENTS


def parse_decode(top: Section) -> DecodeLimits:
    section = top.section("decode")
    limits = DecodeLimits(
        max_document_bytes=section.integer("max_decompressed_bytes", DEFAULT_MAX_DOCUMENT_BYTES, minimum=1024),
        max_record_bytes=section.integer("max_record_bytes", DEFAULT_MAX_RECORD_BYTES, minimum=1024),
        slice_events=section.integer("slice_events", DEFAULT_SLICE_EVENTS, minimum=1),
    )
    section.reject_unknown()
    return limits
