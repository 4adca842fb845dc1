"""Sigma values as tests of one event value, built from the shared predicate library.

pySigma has already applied the modifiers: `contains`/`startswith`/`endswith` are wildcards in a
`SigmaString`, `re` is a `SigmaRegularExpression`, `cidr` a `SigmaCIDRExpression`. Strings match
case-insensitively (`cased` makes them case-sensitive) with `*` and `?` as wildcards; event
booleans and numbers compare as their JSON text (`true`, `42`).
"""

from __future__ import annotations

import re
import re._constants as re_constants  # type: ignore[import-not-found]  # the parser `re` itself uses
import re._parser as re_parser  # type: ignore[import-not-found]
from collections.abc import Callable, Sequence
from typing import Any

from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaFieldReference,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
)

from monitor.rules.fields import FieldReader
from monitor.rules.predicates import (
    Predicate,
    TextTest,
    ValueTest,
    any_of,
    as_text,
    compare,
    contains_any,
    ends_with,
    in_networks,
    on_text,
    regex_search,
    starts_with,
)

MEMO_ENTRIES = 4096  # remembered verdicts per wildcard test (then forgotten at once)
MEMO_MAX_CHARS = 512  # longer values are not remembered

_REGEX_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}
_COMPARE_OPS = {CompareOperators.LT: "lt", CompareOperators.LTE: "lte", CompareOperators.GT: "gt",
                CompareOperators.GTE: "gte", CompareOperators.NEQ: "neq"}
_MANY = SpecialChars.WILDCARD_MULTI


class Unsupported(Exception):
    """A rule uses something this engine does not evaluate; the message names it."""


def sigma_text(value: Any) -> str | None:
    """The text a Sigma string compares with: numbers as JSON writes them (`1.0` stays "1.0")."""
    return as_text(value, exact_numbers=True)


def value_test(value: SigmaType) -> ValueTest:
    """A test of one event value against one Sigma value (wildcards and modifiers already applied)."""
    if isinstance(value, SigmaCasedString):
        return on_text(cased_string(value), exact_numbers=True)
    if isinstance(value, SigmaString):
        return string_set([value])
    if isinstance(value, SigmaRegularExpression):
        return on_text(_regex(value), exact_numbers=True)
    if isinstance(value, SigmaCIDRExpression):
        return in_networks([value.network])
    if isinstance(value, SigmaTimestampPart):  # a SigmaNumber subclass: check first
        raise Unsupported("timestamp part modifiers (minute, hour, day, week, month, year) are not supported")
    if isinstance(value, SigmaBool):  # before numbers: bool is not a number here
        return _bool_test(value.boolean)
    if isinstance(value, SigmaNumber):
        return _number_test(value.number)
    if isinstance(value, SigmaCompareExpression):
        return compare(_COMPARE_OPS[value.op], value.number.number)
    raise Unsupported(f"value type {type(value).__name__} is not supported")


def folded_string(value: SigmaType) -> bool:
    """A plain (case-insensitive) Sigma string: several of them on one field share one test."""
    return type(value) is SigmaString


def plain_parts(value: SigmaString) -> list[str | SpecialChars]:
    """The string's parts; placeholders (the expand modifier) are refused."""
    parts = value.s
    if any(isinstance(part, Placeholder) for part in parts):
        raise Unsupported("placeholders (the expand modifier) are not supported")
    return list(parts)  # type: ignore[arg-type]


def string_set(values: Sequence[SigmaString]) -> ValueTest:
    """One case-insensitive test for several Sigma strings: exact values by set lookup, prefixes and
    suffixes by one str method call, substrings by a loop, anything else by one combined regex."""
    exact: set[str] = set()
    written: set[str] = set()  # as the rule spells them: CloudTrail's own spelling matches without folding
    prefixes: list[str] = []
    suffixes: list[str] = []
    needles: list[str] = []
    patterns: list[str] = []
    anything = False
    for value in values:
        parts = plain_parts(value)
        plain = [part for part in parts if isinstance(part, str)]
        wilds = [part for part in parts if isinstance(part, SpecialChars)]
        if not wilds:
            written.add("".join(plain))
            exact.add("".join(plain).lower())
        elif not plain and all(part is _MANY for part in wilds):
            anything = True
        elif len(plain) == 1 and all(part is _MANY for part in wilds) and len(parts) <= 3:
            needle = plain[0].lower()
            if len(parts) == 3:
                needles.append(needle)
            elif parts[0] is _MANY:
                suffixes.append(needle)
            else:
                prefixes.append(needle)
        else:
            patterns.append(wildcard_regex(parts))
    if anything:
        return lambda found: sigma_text(found) is not None
    if not (prefixes or suffixes or needles or patterns):
        return _exact_set(frozenset(written), frozenset(exact))
    lowered: list[TextTest] = [exact.__contains__] if exact else []
    if prefixes:
        lowered.append(starts_with(tuple(prefixes)))
    if suffixes:
        lowered.append(ends_with(tuple(suffixes)))
    if needles:
        lowered.append(contains_any(tuple(needles)))
    checks: list[TextTest] = []
    if lowered:
        low = any_of(lowered)
        checks.append(lambda text: low(text.lower()))
    if patterns:
        full = re.compile("|".join(f"(?:{p})" for p in patterns), re.DOTALL | re.IGNORECASE).fullmatch
        checks.append(lambda text: full(text) is not None)
    return _remembered(any_of(checks))


def _remembered(check: TextTest) -> ValueTest:
    # Values like user agents repeat across millions of events: remember recent verdicts, bounded.
    memo: dict[str, bool] = {}

    def test(found: Any) -> bool:
        if type(found) is not str:
            text = sigma_text(found)
            return text is not None and check(text)
        known = memo.get(found)
        if known is not None:
            return known
        verdict = check(found)
        if len(found) <= MEMO_MAX_CHARS:
            if len(memo) >= MEMO_ENTRIES:
                memo.clear()
            memo[found] = verdict
        return verdict

    return test


def _exact_set(written: frozenset[str], folded: frozenset[str]) -> ValueTest:
    # An ASCII value whose length no literal has cannot equal one in any case: skip folding it.
    lengths = frozenset(len(text) for text in folded)

    def equals(found: Any) -> bool:
        text = found if type(found) is str else sigma_text(found)
        if text is None:
            return False
        if text in written:
            return True
        if text.isascii() and len(text) not in lengths:
            return False
        return text.lower() in folded

    return equals


def cased_string(value: SigmaString) -> TextTest:
    """A case-sensitive string: the common shapes get a string method, anything else one anchored regex."""
    parts = plain_parts(value)
    plain = [part for part in parts if isinstance(part, str)]
    wilds = [part for part in parts if isinstance(part, SpecialChars)]
    if not wilds:
        return "".join(plain).__eq__
    if len(plain) <= 1 and all(part is _MANY for part in wilds):
        if not plain:  # only `*`: any text
            return lambda text: True
        starts, ends = parts[0] is _MANY, parts[-1] is _MANY
        if starts and ends and len(parts) == 3:
            return contains_any((plain[0],))
        if ends and len(parts) == 2:
            return starts_with((plain[0],))
        if starts and len(parts) == 2:
            return ends_with((plain[0],))
    full = re.compile(wildcard_regex(parts), re.DOTALL).fullmatch
    return lambda text: full(text) is not None


def wildcard_regex(parts: Sequence[Any], *, many: str = ".*", one: str = ".", lower: bool = False) -> str:
    """A regular expression for a Sigma string: `*` becomes `many`, `?` becomes `one`, the rest is literal."""
    pieces: list[str] = []
    for part in parts:
        if part is SpecialChars.WILDCARD_MULTI:
            pieces.append(many)
        elif part is SpecialChars.WILDCARD_SINGLE:
            pieces.append(one)
        else:
            pieces.append(re.escape(str(part).lower() if lower else str(part)))
    return "".join(pieces)


def _regex(value: SigmaRegularExpression) -> TextTest:
    if value.regexp.contains_placeholder():
        raise Unsupported("placeholders (the expand modifier) are not supported")
    flags = 0
    for flag in value.flags:
        flags |= _REGEX_FLAGS[flag]
    try:
        pattern = re.compile(str(value.regexp), flags)
    except re.error as exc:
        raise Unsupported(f"regular expression {str(value.regexp)!r} is invalid: {exc}") from None
    search = regex_search([pattern])  # unanchored, as Sigma's `re`: anchor with ^ and $
    needle = required_literal(str(value.regexp), flags)
    if not needle:
        return search
    # A text without the literal every match contains cannot match: skip the search, which for
    # patterns like SigmaHQ's `.+:assumed-role/aws:.+` backtracks over every start position.
    return lambda text: needle in text and search(text)


MIN_REQUIRED_LITERAL = 3


def required_literal(regexp: str, flags: int) -> str:
    """The longest run of literal characters at the pattern's top level (so in every match); "" when there
    is none worth testing or case folding makes plain `in` unsound."""
    try:
        parsed = re_parser.parse(regexp, flags)
    except re.error:
        return ""
    if (flags | parsed.state.flags) & (re.IGNORECASE | re.VERBOSE):
        return ""
    best, run = "", []
    opcode: Any
    argument: Any
    for opcode, argument in [*parsed, (None, None)]:
        if opcode is re_constants.LITERAL:
            run.append(chr(argument))
            continue
        if len(run) > len(best):
            best = "".join(run)
        run = []
    return best if len(best) >= MIN_REQUIRED_LITERAL else ""


MAX_REFERENCED_VALUES = 16  # values of the referenced field compared (a list fans out)


def field_reference(read: FieldReader, other: FieldReader, value: SigmaFieldReference) -> Predicate:
    """The `fieldref` modifier: a value of the field equals (with `startswith` / `endswith` / `contains`:
    starts with, ends with, contains) a value of the referenced field in the same event.

    Compared as Sigma strings are, case-insensitively; an absent or null field on either side never
    matches (so `not` of it does), and numbers and booleans compare as their JSON text.
    """
    starts, ends = value.starts_with, value.ends_with
    test: Callable[[str, str], bool]
    if starts and ends:
        test = _contains
    elif starts:
        test = str.startswith
    elif ends:
        test = str.endswith
    else:
        test = str.__eq__

    def compare_fields(event: Any) -> bool:
        wanted = [text.lower() for found in other(event)[:MAX_REFERENCED_VALUES]
                  if (text := sigma_text(found)) is not None]
        if not wanted:
            return False
        for found in read(event):
            text = sigma_text(found)
            if text is None:
                continue
            low = text.lower()
            for target in wanted:
                if test(low, target):
                    return True
        return False

    return compare_fields


def _contains(text: str, needle: str) -> bool:
    return needle in text


def _bool_test(expected: bool) -> ValueTest:
    word = "true" if expected else "false"

    def same(found: Any) -> bool:
        if type(found) is bool:
            return found is expected
        # CloudTrail writes some flags as strings ("mfaAuthenticated": "true").
        return type(found) is str and found.lower() == word

    return same


def _number_test(expected: float | int) -> ValueTest:
    return compare("eq", expected)
