"""Which events a Sigma rule can match: the (eventSource, eventName) pairs its condition fixes.

A rule whose every matching path fixes `eventName` (and, if it says so,
`eventSource`) to plain values written as CloudTrail spells them sees only
those events through the engine's index; any other rule runs on every event.
"""

from __future__ import annotations

import re
from typing import Any

from sigma.conditions import ConditionAND, ConditionFieldEqualsValueExpression, ConditionOR
from sigma.types import SigmaString, SigmaType

from monitor.model.detector import ANY_SOURCE

MAX_INDEX_PAIRS = 512  # beyond this many (eventSource, eventName) pairs a rule runs on every event

# Which index component a leaf constrains.
_INDEX_FIELDS = {"eventSource": 0, "eventName": 1}

Pair = tuple[str | None, str | None]  # (eventSource, eventName); None: any
_ANYTHING: set[Pair] = {(None, None)}


def index_pairs(node: Any) -> set[Pair]:
    """The (eventSource, eventName) pairs an event must have to match `node`; None parts are unconstrained."""
    if isinstance(node, ConditionOR):
        union: set[Pair] = set()
        for arg in node.args:
            union |= index_pairs(arg)
            if len(union) > MAX_INDEX_PAIRS:
                return set(_ANYTHING)
        return union
    if isinstance(node, ConditionAND):
        result: set[Pair] = set(_ANYTHING)
        for arg in node.args:
            result = {meet for left in result for right in index_pairs(arg) if (meet := _meet(left, right))}
            if len(result) > MAX_INDEX_PAIRS:
                return set(_ANYTHING)
        return result
    if isinstance(node, ConditionFieldEqualsValueExpression):
        slot = _INDEX_FIELDS.get(node.field)
        literal = _plain_literal(node.value)
        if slot is None or literal is None or not _canonical(slot, literal):
            return set(_ANYTHING)
        return {(literal, None)} if slot == 0 else {(None, literal)}
    return set(_ANYTHING)  # NOT, keywords, other fields: no constraint


def _meet(left: Pair, right: Pair) -> Pair | None:
    source = _meet_part(left[0], right[0])
    name = _meet_part(left[1], right[1])
    if source is False or name is False:
        return None
    return (source, name)  # type: ignore[return-value]


def _meet_part(left: str | None, right: str | None) -> str | bool | None:
    if left is None:
        return right
    if right is None or left == right:
        return left
    return False  # two different required values: this path can never match


def _plain_literal(value: SigmaType) -> str | None:
    if isinstance(value, SigmaString) and not value.contains_special() and not value.contains_placeholder():
        return "".join(part for part in value.s if isinstance(part, str))
    return None


_SOURCE_SHAPE = re.compile(r"^[a-z0-9.-]+\.amazonaws\.com$")
_NAME_SHAPE = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def _canonical(slot: int, literal: str) -> bool:
    """Index only by values written as CloudTrail spells them.

    The engine's index is an exact lookup, while Sigma compares case-insensitively: a rule that
    writes `eventName: stoplogging` runs on every event instead, so it still matches.
    """
    return bool((_SOURCE_SHAPE if slot == 0 else _NAME_SHAPE).match(literal))


def as_events(pairs: set[Pair]) -> frozenset[tuple[str, str]] | None:
    if not pairs:
        return None  # contradictory on every path: let it run (and never match) rather than guess
    complete: set[tuple[str, str]] = set()
    for source, name in pairs:
        if name is None:
            return None
        complete.add((source if source is not None else ANY_SOURCE, name))
    return frozenset(complete)
