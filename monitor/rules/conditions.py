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
    if len(children) == 3:
        first, second, third = children
        return lambda event: first(event) and second(event) and third(event)

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
    if len(children) == 3:
        first, second, third = children
        return lambda event: first(event) or second(event) or third(event)

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
            elif read is not None and isinstance(path, str) and len(errors) == before:
                return _exists(path, read, wanted)
            return None
        built = _value_check(op, node[op], folded, f"{where}.{op}", errors)
        if built is not None and read is not None and isinstance(path, str) and len(errors) == before:
            check, on_text = built
            if on_text:
                return _text_leaf(path, read, check, folded, strings_only=op == "cidr")
            return _value_leaf(path, read, check)
    return None


# The leaves below walk the path inline (no list allocated, no extra call) and fall back to the
# general reader only when the walk meets a list and must fan out.


def _exists(path: str, read: FieldReader, wanted: bool) -> Predicate:
    parts = tuple(path.split("."))

    def exists(event: Any) -> bool:
        node = event
        for part in parts:
            kind = type(node)
            if kind is dict:
                node = node.get(part)
            elif kind is list:
                return bool(read(event)) is wanted
            else:
                return not wanted
        if type(node) is list:
            return bool(read(event)) is wanted
        return (node is not None) is wanted

    return exists


def _text_leaf(path: str, read: FieldReader, check: Callable[[str], bool], folded: bool,
               strings_only: bool) -> Predicate:
    """A leaf whose operator looks at text: strings as they are, other scalars by `as_text`."""
    parts = tuple(path.split("."))

    def one(value: Any) -> bool:
        if type(value) is str:
            return check(value.casefold() if folded else value)
        text = None if strings_only else as_text(value)
        return text is not None and check(text.casefold() if folded else text)

    def predicate(event: Any) -> bool:
        node = event
        for part in parts:
            kind = type(node)
            if kind is dict:
                node = node.get(part)
            elif kind is list:
                break
            else:
                return False
        else:
            if type(node) is str:
                return check(node.casefold()) if folded else check(node)
            if type(node) is not list:
                return node is not None and one(node)
        for found in read(event):  # noqa: SIM110 (a loop: any() would build a generator per event)
            if one(found):
                return True
        return False

    return predicate


def _value_leaf(path: str, read: FieldReader, test: ValueTest) -> Predicate:
    parts = tuple(path.split("."))

    def predicate(event: Any) -> bool:
        node = event
        for part in parts:
            kind = type(node)
            if kind is dict:
                node = node.get(part)
            elif kind is list:
                break
            else:
                return False
        else:
            if type(node) is not list:
                return node is not None and test(node)
        for found in read(event):  # noqa: SIM110 (a loop: any() would build a generator per event)
            if test(found):
                return True
        return False

    return predicate


def _value_check(op: str, expected: Any, folded: bool, where: str,
                 errors: list[str]) -> tuple[Callable[[Any], bool], bool] | None:
    """The operator's check and whether it takes text (True) or any value (False, the numeric compares)."""
    if op in _COMPARE:
        test = _numeric(op, expected, where, errors)
        return None if test is None else (test, False)
    if op == "cidr":
        check = _cidr(expected, where, errors)
    elif op == "equals":
        want = _expected_text(expected, folded, where, errors)
        check = None if want is None else want.__eq__
    elif op == "in":
        check = _members(expected, folded, where, errors)
    else:
        needles = _strings(expected, where, errors)
        if needles is None:
            return None
        if op == "regex":
            # Patterns are never casefolded (`\S` would become `\s`): IGNORECASE does the folding.
            check = _regex(needles, folded, where, errors)
            folded = False
        else:
            if folded:
                needles = tuple(needle.casefold() for needle in needles)
            check = _substring(op, needles)
    return None if check is None else (check, True)


def _members(expected: Any, folded: bool, where: str, errors: list[str]) -> Callable[[str], bool] | None:
    if not isinstance(expected, list) or not expected:
        errors.append(f"{where}: must be a non-empty list of values")
        return None
    texts = [_expected_text(item, folded, f"{where}[{i}]", errors) for i, item in enumerate(expected)]
    if any(text is None for text in texts):
        return None
    return frozenset(texts).__contains__


def _expected_text(expected: Any, folded: bool, where: str, errors: list[str]) -> str | None:
    text = as_text(expected)
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


def _substring(op: str, needles: tuple[str, ...]) -> Callable[[str], bool]:
    if op == "prefix":
        return lambda text: text.startswith(needles)
    if op == "suffix":
        return lambda text: text.endswith(needles)
    if len(needles) == 1:
        (needle,) = needles
        return lambda text: needle in text

    def contains(text: str) -> bool:
        for needle in needles:  # noqa: SIM110 (a loop: any() would build a generator per event)
            if needle in text:
                return True
        return False

    return contains


def _regex(patterns: tuple[str, ...], folded: bool, where: str, errors: list[str]) -> Callable[[str], bool] | None:
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

    def search(text: str) -> bool:
        if len(text) > MAX_REGEX_SUBJECT:
            text = text[:MAX_REGEX_SUBJECT]
        for one in searches:  # noqa: SIM110 (a loop: any() would build a generator per event)
            if one(text) is not None:
                return True
        return False

    return search


def _cidr(expected: Any, where: str, errors: list[str]) -> Callable[[str], bool] | None:
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

    def inside(text: str) -> bool:
        if len(text) > _MAX_IP_CHARS:
            return False
        address = _address(text)
        if address is None:
            return False
        for network in frozen:  # noqa: SIM110 (a loop: any() would build a generator per event)
            if address in network:  # never across IPv4/IPv6
                return True
        return False

    return inside


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
