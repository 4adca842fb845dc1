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

The part of a path that runs through the typed structs is resolved when the path is compiled, into
one attribute getter (`userIdentity.sessionContext.sessionIssuer.userName` costs one C call per
event, not a Python step per part); only what lies inside a free-form field is walked per event.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from msgspec import Raw, Struct

from monitor.model.event import STRUCT_FIELDS, Event, raw_value, to_record

_MAX_FANOUT = 1000  # values collected from lists per path, so a huge list cannot stall the engine
_DEFAULTS: dict[type, Any] = {kind: kind() for kind in STRUCT_FIELDS}

# What the typed part of a path ends at.
_NOTHING = 0  # a field no struct has (or a step into text): the path never has a value
_TEXT = 1  # a text or boolean field: its value, "" read as absent (a typed field cannot tell absent from empty)
_STRUCT = 2  # a nested struct: read as its object, absent when empty
_RAW = 3  # a free-form field: its JSON decoded, then the rest of the path walked through it


def _typed_part(parts: tuple[str, ...]) -> tuple[int, int]:
    """How many leading parts name typed struct fields, and what the last of them holds."""
    kind: type = Event
    for index, part in enumerate(parts):
        if part not in STRUCT_FIELDS[kind]:
            return index, _NOTHING
        default = getattr(_DEFAULTS[kind], part)
        if isinstance(default, Struct):
            kind = type(default)
            continue
        ends = _RAW if isinstance(default, Raw) else _TEXT
        if ends == _TEXT and index + 1 < len(parts):
            return index + 1, _NOTHING  # nothing lies below a text field
        return index + 1, ends
    return len(parts), _STRUCT


class FieldReader:
    """One compiled path. Call it for every value found (an empty list when there is none);
    `any(test)` is the predicate "some value at the path passes `test`", which reads a typed text
    field without building a list."""

    __slots__ = ("_ends", "_get", "_rest", "path")

    def __init__(self, path: str) -> None:
        parts = tuple(path.split("."))
        if not path or any(not part for part in parts):
            raise ValueError(f"field path {path!r} has an empty part")
        self.path = path
        typed, self._ends = _typed_part(parts)
        self._get: Callable[[Any], Any] = attrgetter(".".join(parts[:typed])) if typed else _nothing
        self._rest = parts[typed:]

    def __call__(self, event: Any) -> list[Any]:
        ends = self._ends
        if ends == _TEXT:
            value = self._get(event)
            return [] if value is None or value == "" else [value]
        if ends == _RAW:
            node = raw_value(self._get(event))
            for index, part in enumerate(self._rest):
                if type(node) is list:  # fan out over the list's elements for the rest of the path
                    return _walk(node[:_MAX_FANOUT], self._rest[index:])
                node = node.get(part) if type(node) is dict else None
                if node is None:
                    return []
            if node is None:
                return []
            return node[:_MAX_FANOUT] if type(node) is list else [node]
        if ends == _STRUCT:
            found = to_record(self._get(event))  # rare: a rule that asks whether there is a caller at all
            return [found] if found else []
        return []

    def any(self, test: Callable[[Any], bool]) -> Callable[[Any], bool]:
        if self._ends == _TEXT:
            get = self._get

            def text(event: Any) -> bool:
                value = get(event)
                return value is not None and value != "" and test(value)

            return text
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


def _nothing(event: Any) -> None:
    return None


def _walk(current: list[Any], parts: tuple[str, ...]) -> list[Any]:
    for part in parts:
        found: list[Any] = []
        for node in current:
            value = node.get(part) if type(node) is dict else None
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
