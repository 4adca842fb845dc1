"""Saving state that holds any text an event can carry.

Keys and values of the state come from CloudTrail fields, which are attacker-controlled; a record
decoded by the standard library's fallback can hold a lone surrogate ("\\ud800"), which is not
UTF-8: orjson refuses to write it and SQLite refuses it as TEXT. A key or value that could not be
saved would fail every commit of its group, again on every redelivery. These helpers save such
text with JSON escapes (values) or as surrogate-passing bytes (keys), and read both back as the same
Python strings.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from monitor.decode.typed import plain_json


def to_json(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # a lone surrogate: the standard library writes it as an escape
        return json.dumps(value, ensure_ascii=True).encode()


def from_json(data: bytes | str) -> Any:
    return plain_json(data.encode() if isinstance(data, str) else data)


def to_column(text: str) -> str | bytes:
    """Text for a database column: itself, or (holding a lone surrogate) its surrogate-passing bytes."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")
    return text


def from_column(value: str | bytes) -> str:
    return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else value
