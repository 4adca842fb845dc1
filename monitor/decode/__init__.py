"""Bytes to CloudTrail events: pure, synchronous, shared by `scan` and `run`."""

from monitor.decode.formats import DEFAULT_MAX_DECOMPRESSED_BYTES, Decoded, decode_bytes

__all__ = ["DEFAULT_MAX_DECOMPRESSED_BYTES", "Decoded", "decode_bytes"]
