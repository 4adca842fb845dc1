"""The one predicate library custom rules and Sigma rules compile into.

A rule becomes a tree of predicates over an event, built once at load:
`all_of`, `any_of` and `negate` combine them; a leaf reads a field with a
reader from `monitor.rules.fields.compile_path` (the only way a rule reads an
event) and tests the values found (`any_value`, `present`, `absent`). Value
tests take any value and never raise: event fields are attacker-controlled and
may have any type or size, so each test checks the type before it compares.

The two rule dialects differ only in what they build from these pieces
(monitor/rules/conditions.py for custom rules, monitor/rules/sigma_compile.py
for Sigma), never in how a field is read or a value compared.
"""

from __future__ import annotations

import ipaddress
import math
import operator
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

from monitor.rules.fields import FieldReader

T = TypeVar("T")
Predicate = Callable[[Any], bool]  # over an event
ValueTest = Callable[[Any], bool]  # over one value found at a path
TextTest = Callable[[str], bool]  # over the text of a value
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Longer strings are never parsed as numbers or addresses.
MAX_SCALAR_CHARS = 64
_INT_RANGE = (-(1 << 63), 1 << 64)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le, "eq": operator.eq,
    "neq": operator.ne,
}
COMPARISONS = tuple(_COMPARE)


# --- combining -------------------------------------------------------------------------------------


def all_of(children: Sequence[Callable[[T], bool]]) -> Callable[[T], bool]:
    """True when every child is."""
    return _combine(children, every=True)


def any_of(children: Sequence[Callable[[T], bool]]) -> Callable[[T], bool]:
    """True when some child is."""
    return _combine(children, every=False)


def _combine(children: Sequence[Callable[[T], bool]], *, every: bool) -> Callable[[T], bool]:
    # Short and unrolled for the usual two or three children; the first child that decides stops it.
    if len(children) == 1:
        return children[0]
    frozen = tuple(children)
    if len(frozen) == 2:
        first, second = frozen
        if every:
            return lambda subject: first(subject) and second(subject)
        return lambda subject: first(subject) or second(subject)
    if len(frozen) == 3:
        one, two, three = frozen
        if every:
            return lambda subject: one(subject) and two(subject) and three(subject)
        return lambda subject: one(subject) or two(subject) or three(subject)

    def loop(subject: T) -> bool:
        for child in frozen:
            if bool(child(subject)) is not every:
                return not every
        return every

    return loop


def negate(child: Predicate) -> Predicate:
    return lambda event: not child(event)


# --- leaves ----------------------------------------------------------------------------------------


def any_value(read: FieldReader, test: ValueTest) -> Predicate:
    """True when a value at the path passes `test` (a path over lists yields several)."""
    return read.any(test)


def _anything(value: Any) -> bool:
    return True


def present(read: FieldReader) -> Predicate:
    """The field has a value that is not null (an empty list counts as absent)."""
    return read.any(_anything)


def absent(read: FieldReader) -> Predicate:
    return negate(present(read))


# --- values as text ---------------------------------------------------------------------------------


def as_text(value: Any, *, exact_numbers: bool = False) -> str | None:
    """The text of a scalar; None for objects and lists, which never equal a string.

    Numbers are spelt as people write them (`1.0` -> "1"; out-of-range numbers have none), or with
    `exact_numbers` as Python writes them (`1.0` -> "1.0"; the Sigma dialect).
    """
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value) if exact_numbers or _INT_RANGE[0] <= value < _INT_RANGE[1] else None
    if kind is float:
        if exact_numbers:
            return str(value)
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e18 else repr(value)
    return None


def on_text(check: TextTest, *, fold: bool = False, strings_only: bool = False,
            exact_numbers: bool = False) -> ValueTest:
    """A value test that applies `check` to the value's text (casefolded with `fold`)."""

    def test(value: Any) -> bool:
        if type(value) is str:
            return check(value.casefold()) if fold else check(value)
        text = None if strings_only else as_text(value, exact_numbers=exact_numbers)
        return text is not None and check(text.casefold() if fold else text)

    return test


def starts_with(needles: tuple[str, ...]) -> TextTest:
    return lambda text: text.startswith(needles)


def ends_with(needles: tuple[str, ...]) -> TextTest:
    return lambda text: text.endswith(needles)


def contains_any(needles: tuple[str, ...]) -> TextTest:
    if len(needles) == 1:
        (needle,) = needles
        return lambda text: needle in text

    def contains(text: str) -> bool:
        for needle in needles:  # noqa: SIM110 (a loop: any() would build a generator per event)
            if needle in text:
                return True
        return False

    return contains


def regex_search(patterns: Sequence[re.Pattern[str]], *, max_subject: int | None = None) -> TextTest:
    """True when a pattern is found in the text (unanchored), looking at most `max_subject` characters."""
    searches = tuple(pattern.search for pattern in patterns)

    def search(text: str) -> bool:
        if max_subject is not None and len(text) > max_subject:
            text = text[:max_subject]
        for one in searches:  # noqa: SIM110 (a loop: any() would build a generator per event)
            if one(text) is not None:
                return True
        return False

    return search


# --- addresses and numbers ---------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:  # "AWS Internal", a service name, garbage
        return None


def in_networks(networks: Sequence[Network]) -> ValueTest:
    """The value is a string spelling an IP address inside one of the networks (never across IPv4/IPv6)."""
    frozen = tuple(networks)

    def inside(value: Any) -> bool:
        if type(value) is not str or len(value) > MAX_SCALAR_CHARS:
            return False
        address = _address(value)
        if address is None:
            return False
        for network in frozen:  # noqa: SIM110 (a loop: any() would build a generator per event)
            if address in network:
                return True
        return False

    return inside


def as_number(value: Any) -> float | int | None:
    """A number, or a short string spelling one; None otherwise (bools are not numbers, NaN is none)."""
    kind = type(value)
    if kind is int or kind is float:
        return value  # type: ignore[no-any-return]
    if kind is str and len(value) <= MAX_SCALAR_CHARS:
        try:
            number = float(value)
        except ValueError:
            return None
        return None if number != number else number
    return None


def compare(op: str, bound: float | int) -> ValueTest:
    """The value is a number (or spells one) and `op` (gt, gte, lt, lte, eq, neq) holds against `bound`."""
    check = _COMPARE[op]

    def test(value: Any) -> bool:
        number = as_number(value)
        return number is not None and check(number, bound)

    return test
