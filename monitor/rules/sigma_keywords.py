"""Sigma keywords: values without a field, matched as substrings of the string values anywhere in an event.

Keys are excluded and wildcards never span two values. The string values are
collected at most once per event and rule (`KeywordText` remembers the last
event it saw), searched in the first 5,000 values up to 32 levels deep.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
)

from monitor.model.event import Event, to_record
from monitor.rules.predicates import Predicate, ValueTest, on_text
from monitor.rules.sigma_values import Unsupported, cased_string, plain_parts, value_test, wildcard_regex

MAX_KEYWORD_LEAVES = 5000  # string values a keyword search collects per event (and items per list)
MAX_KEYWORD_DEPTH = 32  # nesting a keyword search descends into

_SEPARATOR = "\x00"  # joins an event's string values for keyword search; wildcards never cross it


class KeywordText:
    """An event's string values for keyword search, collected once per event and shared by a rule's keywords."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        # (event, its string values, their lowercased joined text or None until asked)
        self._last: tuple[Any, list[str], str | None] = (None, [], None)

    def leaves(self, event: Any) -> list[str]:
        return self._for(event)[1]

    def text(self, event: Any) -> str:
        """All string values, lowercased, joined by a separator that keywords cannot match."""
        last = self._for(event)
        if last[2] is None:
            last = self._last = (event, last[1], _SEPARATOR.join(last[1]).lower())
        return last[2]  # type: ignore[return-value]

    def _for(self, event: Any) -> tuple[Any, list[str], str | None]:
        last = self._last
        if last[0] is not event:
            last = self._last = (event, string_leaves(event), None)
        return last


def keyword(value: SigmaType, hay: KeywordText) -> Predicate:
    """A keyword matches when one of the event's string values contains it (wildcards allowed)."""
    if type(value) is SigmaString or (isinstance(value, SigmaNumber | SigmaBool)
                                      and not isinstance(value, SigmaTimestampPart)):
        parts = plain_parts(value) if isinstance(value, SigmaString) else [str(value).lower()]
        if not any(isinstance(part, SpecialChars) for part in parts):
            needle = "".join(str(part) for part in parts).lower()
            return lambda event: needle in hay.text(event)
        # Wildcards stay inside one value: they match anything but the separator.
        pattern = wildcard_regex(parts, many="[^\x00]*", one="[^\x00]", lower=True)
        search = re.compile(pattern, re.DOTALL).search  # the text is lowercased already
        return lambda event: search(hay.text(event)) is not None
    test: ValueTest
    if isinstance(value, SigmaCasedString):
        wrapped: SigmaString = value
        if not wrapped.startswith(SpecialChars.WILDCARD_MULTI):
            wrapped = SpecialChars.WILDCARD_MULTI + wrapped
        if not wrapped.endswith(SpecialChars.WILDCARD_MULTI):
            wrapped = wrapped + SpecialChars.WILDCARD_MULTI
        test = on_text(cased_string(wrapped), exact_numbers=True)
    elif isinstance(value, SigmaRegularExpression | SigmaCIDRExpression):
        test = value_test(value)
    else:
        raise Unsupported(f"keyword of type {type(value).__name__} is not supported")

    def anywhere(event: Any) -> bool:
        for leaf in hay.leaves(event):  # noqa: SIM110 (a loop: any() would build a generator per event)
            if test(leaf):
                return True
        return False

    return anywhere


def string_leaves(event: Any) -> list[str]:
    """The string values anywhere in an event (not its keys), in document order, bounded in count and depth."""
    found: list[str] = []
    record = to_record(event) if isinstance(event, Event) else event  # raw fields decoded, once per event
    if type(record) is dict:
        _collect(record.values(), found, MAX_KEYWORD_DEPTH)
    return found


def _collect(values: Iterable[Any], found: list[str], depth: int) -> None:
    # Recursion only for containers: a plain loop over scalars is the cheap, common case.
    if len(found) >= MAX_KEYWORD_LEAVES:
        return
    for value in values:
        kind = type(value)
        if kind is str:
            found.append(value)
        elif kind is dict:
            if depth:
                _collect(value.values(), found, depth - 1)
        elif kind is list and depth:
            _collect(value[:MAX_KEYWORD_LEAVES], found, depth - 1)
