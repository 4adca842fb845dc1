"""Reading values of untrusted shape: request fields, the accounts they name, and params.

Not a detector: the registry skips modules whose name starts with `_`. What `event.request()` returns
is attacker-controlled JSON, and params come from config: every reader here tolerates wrong types,
nulls and deep nesting, and keeps only the well-formed members.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from fnmatch import fnmatchcase
from typing import Any

from monitor.model.alert import clip

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]*:[a-z0-9-]*:(\d{12}):")
# How deep a walk into request parameters goes: real requests nest a few levels, hostile ones may not stop.
_MAX_DEPTH = 8
_MAX_ITEMS = 1000


def as_list(value: Any) -> list[Any]:
    """A list field that CloudTrail may also write as one value or as {"items": [...]}."""
    if type(value) is list:
        return value[:_MAX_ITEMS]
    if type(value) is dict:
        items = value.get("items")
        return items[:_MAX_ITEMS] if type(items) is list else [value]
    if value is None:
        return []
    return [value]


def strings(value: Any) -> list[str]:
    """The string members of a string-or-list field."""
    return [item for item in as_list(value) if type(item) is str]


def member(value: Any, key: str) -> Any:
    """`value[key]`, the key matched without regard to case (CloudTrail writes one service's fields in
    camelCase, another's in PascalCase); None when absent or `value` is not an object."""
    if type(value) is not dict:
        return None
    if key in value:
        return value[key]
    low = key.lower()
    for name, item in value.items():
        if type(name) is str and name.lower() == low:
            return item
    return None


def walk(value: Any, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair inside nested dicts and lists, bounded in depth and breadth."""
    if depth > _MAX_DEPTH:
        return
    if type(value) is dict:
        for key, inner in list(value.items())[:_MAX_ITEMS]:
            yield str(key), inner
            yield from walk(inner, depth + 1)
    elif type(value) is list:
        for inner in value[:_MAX_ITEMS]:
            yield from walk(inner, depth + 1)


def account_of(value: str) -> str:
    """The 12-digit account a principal or ARN names, or "" (service principals, "*", garbage)."""
    value = value.strip()
    if _ACCOUNT_ID.match(value):
        return value
    found = _ARN_ACCOUNT.match(value)
    return found.group(1) if found else ""


def short_list(values: list[str], keep: int = 10, limit: int = 128) -> list[str]:
    """A few values for alert context, each clipped."""
    return [clip(v, limit) for v in values[:keep]]


def param(params: Mapping[str, Any], name: str, default: Any) -> Any:
    value = params.get(name, default)
    return default if value is None else value


def positive_int(value: Any, default: int) -> int:
    return value if type(value) is int and value > 0 else default


def matches_any(value: str, patterns: Any, *, fold: bool = False) -> bool:
    """`value` matches one of the glob patterns (a param: strings only, anything else ignored)."""
    if fold:
        value = value.lower()
    return any(fnmatchcase(value, p.lower() if fold else p) for p in strings(patterns))
