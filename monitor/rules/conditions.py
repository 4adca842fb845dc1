"""Compile a custom rule's condition tree into one predicate over an event, once, at load.

A leaf is `{field: <dotted path>, <operator>: <value>}` (plus `case_insensitive: true` for the
string operators); `all`, `any` and `not` combine leaves. Values are compared as text: a string
stays itself, `true`/`false` and numbers become their usual spelling, so `equals: true` matches
`true` and `"true"` alike. Objects and lists never match a value operator. A path that fans out
over lists yields several values; the leaf matches when any of them does.

Every problem in the tree is appended to `errors` with its location
(`condition.all[1].regex: ...`) so a rule file reports all of its mistakes at once. The predicates
never raise: event values are attacker-controlled and may have any type or size.
"""

from __future__ import annotations

import ipaddress
import math
import operator
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from monitor.rules.fields import FieldReader, compile_path

Predicate = Callable[[Any], bool]
ValueTest = Callable[[Any], bool]

STRING_OPERATORS = ("equals", "in", "prefix", "suffix", "contains", "regex")
OPERATORS = (*STRING_OPERATORS, "cidr", "exists", "gt", "gte", "lt", "lte")
COMBINATORS = ("all", "any", "not")

MAX_REGEX_CHARS = 1000
# A regex only sees this much of a value: rules are trusted, values are not, and a pattern with
# nested quantifiers must not meet a megabyte of attacker text.
MAX_REGEX_SUBJECT = 65536
MAX_DEPTH = 32
_MAX_NUMBER_CHARS = 64
_MAX_IP_CHARS = 64
_INT_RANGE = (-(1 << 63), 1 << 64)
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le,
}


def as_text(value: Any) -> str | None:
    """The text form of a scalar (None for objects, lists and out-of-range numbers)."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value) if _INT_RANGE[0] <= value < _INT_RANGE[1] else None
    if kind is float:
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e18 else repr(value)
    return None


def _folded(value: Any) -> str | None:
    text = as_text(value)
    return None if text is None else text.casefold()


def as_number(value: Any) -> float | None:
    """A number, or a short string spelling one; None otherwise (bools are not numbers)."""
    kind = type(value)
    if kind is int or kind is float:
        try:
            return float(value)
        except OverflowError:
            return None
    if kind is str and len(value) <= _MAX_NUMBER_CHARS:
        try:
            return float(value)
        except ValueError:
            return None
    return None


@lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def compile_condition(node: Any, where: str, errors: list[str], depth: int = 0) -> Predicate | None:
    """A predicate for `node`, or None after appending its problems to `errors`."""
    if depth > MAX_DEPTH:
        errors.append(f"{where}: nested deeper than {MAX_DEPTH} levels")
        return None
    if not isinstance(node, dict) or not node:
        errors.append(f"{where}: must be a mapping: a leaf {{field: ..., <operator>: ...}} or all/any/not")
        return None
    combinators = [key for key in node if key in COMBINATORS]
    if combinators:
        if len(node) != 1:
            others = ", ".join(sorted(str(key) for key in node if key != combinators[0]))
            errors.append(f"{where}: {combinators[0]!r} must stand alone in its mapping (also found: {others})")
            return None
        return _combinator(combinators[0], node[combinators[0]], where, errors, depth)
    return _leaf(node, where, errors)


def _combinator(kind: str, value: Any, where: str, errors: list[str], depth: int) -> Predicate | None:
    here = f"{where}.{kind}"
    if kind == "not":
        inner = compile_condition(value, here, errors, depth + 1)
        if inner is None:
            return None
        return lambda event: not inner(event)
    if not isinstance(value, list) or not value:
        errors.append(f"{here}: must be a non-empty list of conditions")
        return None
    compiled = [compile_condition(child, f"{here}[{i}]", errors, depth + 1) for i, child in enumerate(value)]
    children = [child for child in compiled if child is not None]
    if len(children) != len(compiled):
        return None
    return _all_of(children) if kind == "all" else _any_of(children)


def _all_of(children: list[Predicate]) -> Predicate:
    if len(children) == 1:
        return children[0]
    if len(children) == 2:
        first, second = children
        return lambda event: first(event) and second(event)

    def every(event: Any) -> bool:
        for child in children:  # noqa: SIM110 (a loop: any() would build a generator per event)
            if not child(event):
                return False
        return True

    return every


def _any_of(children: list[Predicate]) -> Predicate:
    if len(children) == 1:
        return children[0]
    if len(children) == 2:
        first, second = children
        return lambda event: first(event) or second(event)

    def some(event: Any) -> bool:
        for child in children:  # noqa: SIM110 (a loop: any() would build a generator per event)
            if child(event):
                return True
        return False

    return some


def _leaf(node: dict[Any, Any], where: str, errors: list[str]) -> Predicate | None:
    before = len(errors)
    path = node.get("field")
    read: FieldReader | None = None
    if not isinstance(path, str):
        errors.append(f"{where}.field: required: a dotted field path such as userIdentity.arn")
    else:
        try:
            read = compile_path(path)
        except ValueError as exc:
            errors.append(f"{where}.field: {exc}")
    folded = node.get("case_insensitive", False)
    if not isinstance(folded, bool):
        errors.append(f"{where}.case_insensitive: must be true or false")
        folded = False
    named = [key for key in node if key not in ("field", "case_insensitive")]
    for key in named:
        if key not in OPERATORS:
            errors.append(f"{where}: unknown operator {key!r} (operators: {', '.join(OPERATORS)}; "
                          f"combinators: {', '.join(COMBINATORS)})")
    operators = [key for key in named if key in OPERATORS]
    if not named:
        errors.append(f"{where}: needs one operator ({', '.join(OPERATORS)})")
    elif len(operators) > 1:
        errors.append(f"{where}: one operator per leaf, got {', '.join(operators)} (combine leaves with all)")
    if len(operators) == 1:
        op = operators[0]
        if folded and op not in STRING_OPERATORS:
            errors.append(f"{where}.case_insensitive: applies to {', '.join(STRING_OPERATORS)} only, not {op}")
        if op == "exists":
            wanted = node[op]
            if not isinstance(wanted, bool):
                errors.append(f"{where}.exists: must be true or false")
            elif read is not None and len(errors) == before:
                return _exists(read, wanted)
            return None
        test = _value_test(op, node[op], folded, f"{where}.{op}", errors)
        if test is not None and read is not None and len(errors) == before:
            return _any_value(read, test)
    return None


def _exists(read: FieldReader, wanted: bool) -> Predicate:
    if wanted:
        return lambda event: bool(read(event))
    return lambda event: not read(event)


def _any_value(read: FieldReader, test: ValueTest) -> Predicate:
    def predicate(event: Any) -> bool:
        for value in read(event):  # noqa: SIM110 (a loop: any() would build a generator per event)
            if test(value):
                return True
        return False

    return predicate


def _value_test(op: str, expected: Any, folded: bool, where: str, errors: list[str]) -> ValueTest | None:
    if op in _COMPARE:
        return _numeric(op, expected, where, errors)
    if op == "cidr":
        return _cidr(expected, where, errors)
    convert = _folded if folded else as_text
    if op == "equals":
        want = _expected_text(expected, folded, where, errors)
        if want is None:
            return None
        return lambda value: convert(value) == want
    if op == "in":
        if not isinstance(expected, list) or not expected:
            errors.append(f"{where}: must be a non-empty list of values")
            return None
        texts = [_expected_text(item, folded, f"{where}[{i}]", errors) for i, item in enumerate(expected)]
        if any(text is None for text in texts):
            return None
        members = frozenset(text for text in texts if text is not None)
        return lambda value: convert(value) in members
    needles = _strings(expected, where, errors)
    if needles is None:
        return None
    if op == "regex":
        # Patterns are never casefolded (`\S` would become `\s`): IGNORECASE does the folding.
        return _regex(needles, folded, where, errors)
    if folded:
        needles = tuple(needle.casefold() for needle in needles)
    if op == "prefix":
        return _startswith(convert, needles)
    if op == "suffix":
        return _endswith(convert, needles)
    return _contains(convert, needles)


def _expected_text(expected: Any, folded: bool, where: str, errors: list[str]) -> str | None:
    text = as_text(expected) if not isinstance(expected, float) or math.isfinite(expected) else None
    if text is None:
        errors.append(f"{where}: must be a string, number or true/false, got {type(expected).__name__}")
        return None
    return text.casefold() if folded else text


def _strings(expected: Any, where: str, errors: list[str]) -> tuple[str, ...] | None:
    """A string or a non-empty list of strings (any of them)."""
    if isinstance(expected, str):
        return (expected,)
    if isinstance(expected, list) and expected and all(isinstance(item, str) for item in expected):
        return tuple(expected)
    errors.append(f"{where}: must be a string or a non-empty list of strings")
    return None


def _startswith(convert: Callable[[Any], str | None], needles: tuple[str, ...]) -> ValueTest:
    def test(value: Any) -> bool:
        text = convert(value)
        return text is not None and text.startswith(needles)

    return test


def _endswith(convert: Callable[[Any], str | None], needles: tuple[str, ...]) -> ValueTest:
    def test(value: Any) -> bool:
        text = convert(value)
        return text is not None and text.endswith(needles)

    return test


def _contains(convert: Callable[[Any], str | None], needles: tuple[str, ...]) -> ValueTest:
    if len(needles) == 1:
        (needle,) = needles

        def single(value: Any) -> bool:
            text = convert(value)
            return text is not None and needle in text

        return single

    def test(value: Any) -> bool:
        text = convert(value)
        if text is None:
            return False
        for candidate in needles:  # noqa: SIM110 (a loop: any() would build a generator per event)
            if candidate in text:
                return True
        return False

    return test


def _regex(patterns: tuple[str, ...], folded: bool, where: str, errors: list[str]) -> ValueTest | None:
    compiled: list[re.Pattern[str]] = []
    for pattern in patterns:
        if len(pattern) > MAX_REGEX_CHARS:
            errors.append(f"{where}: pattern longer than {MAX_REGEX_CHARS} characters")
            continue
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE if folded else 0))
        except re.error as exc:
            errors.append(f"{where}: bad regex {pattern[:80]!r}: {exc}")
    if len(compiled) != len(patterns):
        return None
    searches = tuple(p.search for p in compiled)

    def test(value: Any) -> bool:
        text = as_text(value)
        if text is None:
            return False
        if len(text) > MAX_REGEX_SUBJECT:
            text = text[:MAX_REGEX_SUBJECT]
        for search in searches:  # noqa: SIM110 (a loop: any() would build a generator per event)
            if search(text) is not None:
                return True
        return False

    return test


def _cidr(expected: Any, where: str, errors: list[str]) -> ValueTest | None:
    texts = _strings(expected, where, errors)
    if texts is None:
        return None
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for text in texts:
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError as exc:
            errors.append(f"{where}: bad CIDR {text[:80]!r}: {exc}")
    if len(networks) != len(texts):
        return None
    frozen = tuple(networks)

    def test(value: Any) -> bool:
        if type(value) is not str or len(value) > _MAX_IP_CHARS:
            return False
        address = _address(value)
        if address is None:
            return False
        for network in frozen:  # noqa: SIM110 (a loop: any() would build a generator per event)
            if address in network:  # never across IPv4/IPv6
                return True
        return False

    return test


def _numeric(op: str, expected: Any, where: str, errors: list[str]) -> ValueTest | None:
    if isinstance(expected, bool) or not isinstance(expected, int | float) or not math.isfinite(expected):
        errors.append(f"{where}: must be a number, got {type(expected).__name__}")
        return None
    bound = float(expected)
    compare = _COMPARE[op]

    def test(value: Any) -> bool:
        number = as_number(value)
        return number is not None and compare(number, bound)

    return test
