"""Read a dotted field path (`userIdentity.sessionContext.attributes.mfaAuthenticated`) from a typed event.

CloudTrail nests objects and sometimes lists (`resources`, `requestParameters.*Set.items`):
a path that meets a list continues into each element, so `resources.ARN` yields every
resource ARN. Missing keys and wrong types yield nothing rather than raising: event
fields are attacker-controlled and rules must never fail on odd shapes.

`compile_path` is the one way a rule reads an event: custom rules, Sigma rules, group
keys and alert context all go through the `FieldReader` it returns. Paths use CloudTrail's own field
names; the free-form fields (`requestParameters`, ...) are decoded from their raw JSON when a path
enters them, and a field CloudTrail does not document reads as absent. A path that ends at a struct
(`userIdentity`, `userIdentity.sessionContext`) reads it as the object it stands for, and as absent
when it holds nothing: typed, an absent `userIdentity` and an empty one are the same empty struct.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from msgspec import Raw, Struct

from monitor.model.event import STRUCT_FIELDS, Event, raw_value, to_record

_MAX_FANOUT = 1000  # values collected from lists per path, so a huge list cannot stall the engine
_SCALAR_TOP = frozenset(name for name in STRUCT_FIELDS[Event] if name != "userIdentity"
                        and not isinstance(getattr(Event(), name), Raw))


def _child(node: Any, part: str) -> Any:
    """One step down a path: a key of a decoded object, or a field of a typed struct (raw JSON decoded,
    "" read as absent: a typed field cannot tell absent from empty). None when there is nothing."""
    kind = type(node)
    if kind is dict:
        return node.get(part)
    if isinstance(node, Struct) and part in STRUCT_FIELDS[kind]:
        value = getattr(node, part)
        if isinstance(value, Raw):
            return raw_value(value)
        return None if value == "" else value
    return None


class FieldReader:
    """One compiled path. Call it for every value found (an empty list when there is none);
    `any(test)` is the predicate "some value at the path passes `test`", which walks objects
    without building a list and falls back to the full walk only when it meets a list."""

    __slots__ = ("_parts", "_top", "path")

    def __init__(self, path: str) -> None:
        parts = tuple(path.split("."))
        if not path or any(not part for part in parts):
            raise ValueError(f"field path {path!r} has an empty part")
        self.path = path
        self._parts = parts
        # A top-level text or boolean field (eventName, userAgent, readOnly...): one attribute read.
        self._top = attrgetter(parts[0]) if len(parts) == 1 and parts[0] in _SCALAR_TOP else None

    def __call__(self, event: Any) -> list[Any]:
        top = self._top
        if top is not None:
            value = top(event)
            return [] if value is None or value == "" else [value]
        node: Any = event
        for index, part in enumerate(self._parts):
            if type(node) is list:  # fan out over the list's elements for the rest of the path
                return _walk(node[:_MAX_FANOUT], self._parts[index:])
            node = _child(node, part)
            if node is None:
                return []
        if isinstance(node, Struct):  # walked through as a struct, read as its object (only at the end: rare)
            node = to_record(node)
            return [node] if node else []
        return node[:_MAX_FANOUT] if type(node) is list else [node]

    def any(self, test: Callable[[Any], bool]) -> Callable[[Any], bool]:
        top = self._top
        if top is not None:
            def top_level(event: Any) -> bool:
                value = top(event)
                return value is not None and value != "" and test(value)

            return top_level
        every = self.__call__

        def some(event: Any) -> bool:
            for value in every(event):  # noqa: SIM110 (a loop: any() would build a generator per event)
                if test(value):
                    return True
            return False

        return some


def compile_path(path: str) -> FieldReader:
    """The reader of `path`; ValueError when a part of it is empty."""
    return FieldReader(path)


def _walk(current: list[Any], parts: tuple[str, ...]) -> list[Any]:
    for part in parts:
        found: list[Any] = []
        for node in current:
            value = _child(node, part)
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
