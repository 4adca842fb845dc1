"""Read a dotted field path (`userIdentity.sessionContext.attributes.mfaAuthenticated`) from an event.

CloudTrail nests objects and sometimes lists (`resources`, `requestParameters.*Set.items`):
a path that meets a list continues into each element, so `resources.ARN` yields every
resource ARN. Missing keys and wrong types yield nothing rather than raising: event
fields are attacker-controlled and rules must never fail on odd shapes.

`compile_path` is the one way a rule reads an event: custom rules, Sigma rules, group
keys and alert context all go through the `FieldReader` it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MAX_FANOUT = 1000  # values collected from lists per path, so a huge list cannot stall the engine


class FieldReader:
    """One compiled path. Call it for every value found (an empty list when there is none);
    `any(test)` is the predicate "some value at the path passes `test`", which walks objects
    without building a list and falls back to the full walk only when it meets a list."""

    __slots__ = ("_parts", "path")

    def __init__(self, path: str) -> None:
        parts = tuple(path.split("."))
        if not path or any(not part for part in parts):
            raise ValueError(f"field path {path!r} has an empty part")
        self.path = path
        self._parts = parts

    def __call__(self, event: Any) -> list[Any]:
        if type(event) is not dict:
            return []
        node: Any = event
        for index, part in enumerate(self._parts):
            kind = type(node)
            if kind is dict:
                node = node.get(part)
            elif kind is list:  # fan out over the list's elements for the rest of the path
                return _walk(node[:_MAX_FANOUT], self._parts[index:])
            else:
                return []
        if node is None:
            return []
        return node[:_MAX_FANOUT] if type(node) is list else [node]

    def any(self, test: Callable[[Any], bool]) -> Callable[[Any], bool]:
        parts = self._parts
        every = self.__call__

        def some(event: Any) -> bool:
            node = event
            for part in parts:
                if type(node) is not dict:
                    break
                node = node.get(part)
            else:
                if node is None:
                    return False
                if type(node) is not list:
                    return test(node)
            # A list on the way or at the end, or not an object: the full walk.
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
