"""Read a dotted field path (`userIdentity.sessionContext.attributes.mfaAuthenticated`) from an event.

CloudTrail nests objects and sometimes lists (`resources`, `requestParameters.*Set.items`):
a path that meets a list continues into each element, so `resources.ARN` yields every
resource ARN. Missing keys and wrong types yield nothing rather than raising: event
fields are attacker-controlled and rules must never fail on odd shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

FieldReader = Callable[[Any], list[Any]]

_MAX_FANOUT = 1000  # values collected from lists per path, so a huge list cannot stall the engine


def compile_path(path: str) -> FieldReader:
    """A function returning every value found at `path` (an empty list when there is none)."""
    parts = tuple(path.split("."))
    if not path or any(not part for part in parts):
        raise ValueError(f"field path {path!r} has an empty part")
    if len(parts) == 1:
        (key,) = parts

        def read_top(event: Any) -> list[Any]:
            if type(event) is not dict:
                return []
            value = event.get(key)
            if value is None:
                return []
            return value[:_MAX_FANOUT] if type(value) is list else [value]

        return read_top

    def read(event: Any) -> list[Any]:
        return _walk([event], parts)

    return read


def _walk(current: list[Any], parts: tuple[str, ...]) -> list[Any]:
    for part in parts:
        found: list[Any] = []
        for node in current:
            if type(node) is dict:
                value = node.get(part)
            else:
                continue
            if value is None:
                continue
            if type(value) is list:
                found.extend(value[: _MAX_FANOUT - len(found)])
            else:
                found.append(value)
            if len(found) >= _MAX_FANOUT:
                break
        if not found:
            return []
        current = found
    return current
