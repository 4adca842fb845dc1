"""Compile a custom rule's condition tree into one predicate over an event, once, at load.

A leaf is `{field: <dotted path>, <operator>: <value>}` (plus `case_insensitive: true` for the
string operators); `all`, `any` and `not` combine leaves. Values are compared as text: a string
stays itself, `true`/`false` and numbers become their usual spelling, so `equals: true` matches
`true` and `"true"` alike. Objects and lists never match a value operator. A path that fans out
over lists yields several values; the leaf matches when any of them does.

Every problem in the tree is appended to `errors` with its location
(`condition.all[1].regex: ...`) so a rule file reports all of its mistakes at once. What the
tree compiles into is the shared predicate library (monitor/rules/predicates.py), which never
raises on event values.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Any

from monitor.rules.fields import FieldReader, compile_path
from monitor.rules.predicates import (
    Network,
    Predicate,
    TextTest,
    ValueTest,
    absent,
    all_of,
    any_of,
    any_value,
    as_text,
    compare,
    contains_any,
    ends_with,
    in_networks,
    negate,
    on_text,
    present,
    regex_search,
    starts_with,
)

STRING_OPERATORS = ("equals", "in", "prefix", "suffix", "contains", "regex")
NUMBER_OPERATORS = ("gt", "gte", "lt", "lte")
OPERATORS = (*STRING_OPERATORS, "cidr", "exists", *NUMBER_OPERATORS)
COMBINATORS = ("all", "any", "not")

MAX_REGEX_CHARS = 1000
# A regex only sees this much of a value: rules are trusted, values are not, and a pattern with
# nested quantifiers must not meet a megabyte of attacker text.
MAX_REGEX_SUBJECT = 65536
MAX_DEPTH = 32

__all__ = ["MAX_REGEX_SUBJECT", "OPERATORS", "compile_condition"]


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
        return None if inner is None else negate(inner)
    if not isinstance(value, list) or not value:
        errors.append(f"{here}: must be a non-empty list of conditions")
        return None
    compiled = [compile_condition(child, f"{here}[{i}]", errors, depth + 1) for i, child in enumerate(value)]
    children = [child for child in compiled if child is not None]
    if len(children) != len(compiled):
        return None
    return all_of(children) if kind == "all" else any_of(children)


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
                return present(read) if wanted else absent(read)
            return None
        test = _value_test(op, node[op], folded, f"{where}.{op}", errors)
        if test is not None and read is not None and len(errors) == before:
            return any_value(read, test)
    return None


def _value_test(op: str, expected: Any, folded: bool, where: str, errors: list[str]) -> ValueTest | None:
    """The operator's test of one value, or None after recording what is wrong with `expected`."""
    if op in NUMBER_OPERATORS:
        if isinstance(expected, bool) or not isinstance(expected, int | float) or not math.isfinite(expected):
            errors.append(f"{where}: must be a number, got {type(expected).__name__}")
            return None
        return compare(op, float(expected))
    if op == "cidr":
        networks = _networks(expected, where, errors)
        return None if networks is None else in_networks(networks)
    check: TextTest | None
    if op == "equals":
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
            folded_needles = tuple(needle.casefold() for needle in needles) if folded else needles
            check = {"prefix": starts_with, "suffix": ends_with, "contains": contains_any}[op](folded_needles)
    return None if check is None else on_text(check, fold=folded)


def _members(expected: Any, folded: bool, where: str, errors: list[str]) -> TextTest | None:
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


def _regex(patterns: tuple[str, ...], folded: bool, where: str, errors: list[str]) -> TextTest | None:
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
    return regex_search(compiled, max_subject=MAX_REGEX_SUBJECT)


def _networks(expected: Any, where: str, errors: list[str]) -> list[Network] | None:
    texts = _strings(expected, where, errors)
    if texts is None:
        return None
    networks: list[Network] = []
    for text in texts:
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError as exc:
            errors.append(f"{where}: bad CIDR {text[:80]!r}: {exc}")
    return networks if len(networks) == len(texts) else None
