"""The `decode:` section: how much a gzip file may expand before it is refused (gzip bombs).

    decode: {max_decompressed_bytes: 536870912}
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.configreader import Section
from monitor.decode.formats import DEFAULT_MAX_DECOMPRESSED_BYTES


@dataclass(frozen=True, slots=True)
class DecodeSettings:
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES


def parse_decode(top: Section) -> DecodeSettings:
    section = top.section("decode")
    max_bytes = section.integer("max_decompressed_bytes", DEFAULT_MAX_DECOMPRESSED_BYTES, minimum=1024)
    section.reject_unknown()
    return DecodeSettings(max_decompressed_bytes=max_bytes)
