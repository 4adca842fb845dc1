"""Compile a parsed Sigma condition (pySigma's condition tree) into plain closures over CloudTrail events.

pySigma has already applied the modifiers: `contains`/`startswith`/`endswith` are wildcards in a
`SigmaString`, `re` is a `SigmaRegularExpression`, `cidr` a `SigmaCIDRExpression`, `all` an AND of
field tests, `exists` a `SigmaExists`. This module turns each leaf into a test of one event value
and each AND/OR/NOT into a closure, once, at load. Evaluation never raises: every value is checked
by type before it is compared, since CloudTrail fields are attacker-controlled.

Semantics (documented in the README's "Sigma rules" section):
- strings match case-insensitively (`cased` makes them case-sensitive); `*` and `?` are wildcards;
  booleans and numbers in the event are compared as their JSON text (`true`, `42`);
- a field path that fans out over lists (`resources.ARN`) matches when any of its values matches;
- `null` matches a missing or null field, `exists: true` a field with a non-null value;
- keywords (values without a field) match, as substrings, the string values anywhere in the event.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
)

from monitor.model.detector import ANY_SOURCE
from monitor.rules.fields import FieldReader, compile_path

# A compiled condition: (event, its string values for keywords) -> verdict.
Predicate = Callable[[dict[str, Any], "Haystack"], bool]
ValueTest = Callable[[Any], bool]
ConditionNode = ConditionItem | ConditionFieldEqualsValueExpression | ConditionValueExpression

MAX_KEYWORD_LEAVES = 5000  # string values a keyword search collects per event (and items per list)
MAX_KEYWORD_DEPTH = 32  # nesting a keyword search descends into
MAX_NUMBER_TEXT = 64  # longer strings are not numbers or addresses: not parsed
MAX_CONDITION_DEPTH = 64
MAX_TOP_FANOUT = 1000  # as monitor.rules.fields: values of a top-level list looked at
MEMO_ENTRIES = 4096  # remembered verdicts per wildcard test (then forgotten at once)
MEMO_MAX_CHARS = 512  # longer values are not remembered
MAX_INDEX_PAIRS = 512  # beyond this many (eventSource, eventName) pairs a rule runs on every event

# Which index component a leaf constrains.
_INDEX_FIELDS = {"eventSource": 0, "eventName": 1}
_REGEX_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}


class Unsupported(Exception):
    """A rule uses something this engine does not evaluate; the message names it."""


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    predicate: Predicate
    fields: tuple[str, ...]  # field paths the condition reads, in first-use order
    uses_keywords: bool
    # (eventSource, eventName) pairs every match must have; None when the rule can match any event.
    events: frozenset[tuple[str, str]] | None


def compile_conditions(trees: Sequence[ConditionNode | None]) -> CompiledCondition:
    """Compile a rule's conditions (several are alternatives, as in the Sigma spec) into one predicate."""
    compiler = _Compiler()
    parts: list[Predicate] = []
    pairs: set[tuple[str | None, str | None]] = set()
    for tree in trees:
        if tree is None:
            raise Unsupported("the condition selects nothing")
        parts.append(compiler.node(tree))
        pairs |= _index_pairs(tree)
    predicate = parts[0] if len(parts) == 1 else _any_of(parts)
    return CompiledCondition(predicate, tuple(compiler.fields), compiler.uses_keywords, _as_events(pairs))


class _Compiler:
    def __init__(self) -> None:
        self.fields: dict[str, FieldReader] = {}
        self.uses_keywords = False
        self.depth = 0

    def reader(self, path: str) -> FieldReader:
        found = self.fields.get(path)
        if found is None:
            try:
                found = compile_path(path)
            except ValueError as exc:
                raise Unsupported(str(exc)) from None
            self.fields[path] = found
        return found

    def node(self, node: Any) -> Predicate:
        self.depth += 1
        try:
            if self.depth > MAX_CONDITION_DEPTH:  # evaluation recurses as deep: keep it far from the stack limit
                raise Unsupported(f"the condition nests deeper than {MAX_CONDITION_DEPTH} levels")
            return self.compile_node(node)
        finally:
            self.depth -= 1

    def compile_node(self, node: Any) -> Predicate:
        if isinstance(node, ConditionAND):
            return _all_of([self.node(arg) for arg in node.args])
        if isinstance(node, ConditionOR):
            return _any_of(self.alternatives(node.args))
        if isinstance(node, ConditionNOT):
            inner = self.node(node.args[0])
            return lambda event, hay: not inner(event, hay)
        if isinstance(node, ConditionFieldEqualsValueExpression):
            return self.field(node.field, node.value)
        if isinstance(node, ConditionValueExpression):
            self.uses_keywords = True
            return _keyword(node.value)
        raise Unsupported(f"condition element {type(node).__name__} is not supported")

    def alternatives(self, args: Sequence[Any]) -> list[Predicate]:
        """OR-ed string values of one field (`field: [a, b*, *c*]`) read the field and fold its case once."""
        strings: dict[str, list[SigmaString]] = {}
        others: list[Any] = []
        for arg in args:
            if isinstance(arg, ConditionFieldEqualsValueExpression) and _folded_string(arg.value):
                strings.setdefault(arg.field, []).append(arg.value)  # type: ignore[arg-type]
            else:
                others.append(arg)
        return [self.strings(path, values) for path, values in strings.items()] + [self.node(arg) for arg in others]

    def strings(self, path: str, values: Sequence[SigmaString]) -> Predicate:
        read = self.reader(path)
        test = _string_set(values)
        if "." not in path:  # a top-level field (eventName, userAgent...): one dict lookup, no list
            key = path

            def match_top(event: dict[str, Any], hay: Haystack) -> bool:
                found = event.get(key)
                if type(found) is list:
                    for item in found[:MAX_TOP_FANOUT]:  # noqa: SIM110 (a loop: any() would build a generator)
                        if test(item):
                            return True
                    return False
                return found is not None and test(found)

            return match_top

        def match(event: dict[str, Any], hay: Haystack) -> bool:
            for found in read(event):  # noqa: SIM110 (a loop: any() would build a generator per event)
                if test(found):
                    return True
            return False

        return match

    def field(self, path: str, value: SigmaType) -> Predicate:
        if _folded_string(value):
            return self.strings(path, [value])  # type: ignore[list-item]
        read = self.reader(path)
        if isinstance(value, SigmaNull):
            return lambda event, hay: not read(event)
        if isinstance(value, SigmaExists):
            if value.exists:
                return lambda event, hay: bool(read(event))
            return lambda event, hay: not read(event)
        test = value_test(value)

        def match(event: dict[str, Any], hay: Haystack) -> bool:
            for found in read(event):  # noqa: SIM110 (a loop: any() would build a generator per event)
                if test(found):
                    return True
            return False

        return match


def _all_of(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda event, hay: first(event, hay) and second(event, hay)
    frozen = tuple(parts)

    def every(event: dict[str, Any], hay: Haystack) -> bool:
        for part in frozen:  # noqa: SIM110 (a loop: any() would build a generator per event)
            if not part(event, hay):
                return False
        return True

    return every


def _any_of(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda event, hay: first(event, hay) or second(event, hay)
    frozen = tuple(parts)

    def some(event: dict[str, Any], hay: Haystack) -> bool:
        for part in frozen:  # noqa: SIM110 (a loop: any() would build a generator per event)
            if part(event, hay):
                return True
        return False

    return some


# --- value tests -----------------------------------------------------------------------------------


def value_test(value: SigmaType) -> ValueTest:
    """A test of one event value against one Sigma value (wildcards and modifiers already applied)."""
    if isinstance(value, SigmaCasedString):
        return _string_test(value, cased=True)
    if isinstance(value, SigmaString):
        return _string_set([value])
    if isinstance(value, SigmaRegularExpression):
        return _regex_test(value)
    if isinstance(value, SigmaCIDRExpression):
        return _cidr_test(value)
    if isinstance(value, SigmaTimestampPart):  # a SigmaNumber subclass: check first
        raise Unsupported("timestamp part modifiers (minute, hour, day, week, month, year) are not supported")
    if isinstance(value, SigmaBool):  # before numbers: bool is not a number here
        return _bool_test(value.boolean)
    if isinstance(value, SigmaNumber):
        return _number_test(value.number)
    if isinstance(value, SigmaCompareExpression):
        return _compare_test(value)
    raise Unsupported(f"value type {type(value).__name__} is not supported")


def _folded_string(value: SigmaType) -> bool:
    return type(value) is SigmaString


def _string_set(values: Sequence[SigmaString]) -> ValueTest:
    """One case-insensitive test for several Sigma strings: exact values by set lookup, prefixes and
    suffixes by one str method call, substrings by a loop, anything else by one combined regex."""
    exact: set[str] = set()
    written: set[str] = set()  # as the rule spells them: CloudTrail's own spelling matches without folding
    prefixes: list[str] = []
    suffixes: list[str] = []
    needles: list[str] = []
    patterns: list[str] = []
    anything = False
    many = SpecialChars.WILDCARD_MULTI
    for value in values:
        parts = value.s
        if any(isinstance(part, Placeholder) for part in parts):
            raise Unsupported("placeholders (the expand modifier) are not supported")
        plain = [part for part in parts if isinstance(part, str)]
        wilds = [part for part in parts if isinstance(part, SpecialChars)]
        if not wilds:
            written.add("".join(plain))
            exact.add("".join(plain).lower())
        elif not plain and all(part is many for part in wilds):
            anything = True
        elif len(plain) == 1 and all(part is many for part in wilds) and len(parts) <= 3:
            needle = plain[0].lower()
            if len(parts) == 3:
                needles.append(needle)
            elif parts[0] is many:
                suffixes.append(needle)
            else:
                prefixes.append(needle)
        else:
            patterns.append(_wildcard_regex(parts))
    if anything:
        return lambda found: _text(found) is not None
    starts = tuple(prefixes)
    ends = tuple(suffixes)
    inside = tuple(needles)
    full = re.compile("|".join(f"(?:{p})" for p in patterns), re.DOTALL | re.IGNORECASE).fullmatch if patterns else None

    if not (starts or ends or inside or full):
        return _exact_set(frozenset(written), frozenset(exact))

    def slow(text: str) -> bool:
        low = text.lower()
        if low in exact:
            return True
        if starts and low.startswith(starts):
            return True
        if ends and low.endswith(ends):
            return True
        for needle in inside:
            if needle in low:
                return True
        return full is not None and full(text) is not None

    # Values like user agents repeat across millions of events: remember recent verdicts, bounded.
    memo: dict[str, bool] = {}

    def test(found: Any) -> bool:
        if type(found) is not str:
            text = _text(found)
            return text is not None and slow(text)
        known = memo.get(found)
        if known is not None:
            return known
        verdict = slow(found)
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
        text = found if type(found) is str else _text(found)
        if text is None:
            return False
        if text in written:
            return True
        if text.isascii() and len(text) not in lengths:
            return False
        return text.lower() in folded

    return equals


def _text(value: Any) -> str | None:
    """The text of a scalar event value; None for objects and lists (they never equal a string)."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return str(value)
    return None


def _string_test(value: SigmaString, cased: bool) -> ValueTest:
    parts = value.s
    if any(isinstance(part, Placeholder) for part in parts):
        raise Unsupported("placeholders (the expand modifier) are not supported")
    fold: Callable[[str], str] = (lambda text: text) if cased else str.lower
    literal = "".join(part for part in parts if isinstance(part, str))
    wilds = [part for part in parts if isinstance(part, SpecialChars)]
    many = SpecialChars.WILDCARD_MULTI
    plain = [part for part in parts if isinstance(part, str)]
    # The common shapes get a string method; anything else becomes one anchored regular expression.
    if not wilds:
        exact = literal
        folded = fold(literal)

        def equals(found: Any) -> bool:
            text = _text(found)
            return text is not None and (text == exact or fold(text) == folded)

        return equals
    if len(plain) <= 1 and all(part is many for part in wilds):
        needle = fold(plain[0]) if plain else ""
        starts = parts[0] is many
        ends = parts[-1] is many
        if not plain:  # only `*`: any scalar value
            return lambda found: _text(found) is not None
        if starts and ends and len(parts) == 3:
            return lambda found: (text := _text(found)) is not None and needle in fold(text)
        if ends and len(parts) == 2:
            return lambda found: (text := _text(found)) is not None and fold(text).startswith(needle)
        if starts and len(parts) == 2:
            return lambda found: (text := _text(found)) is not None and fold(text).endswith(needle)
    pattern = re.compile(_wildcard_regex(parts), re.DOTALL | (0 if cased else re.IGNORECASE))
    full = pattern.fullmatch
    return lambda found: (text := _text(found)) is not None and full(text) is not None


def _wildcard_regex(parts: Sequence[Any]) -> str:
    pieces: list[str] = []
    for part in parts:
        if part is SpecialChars.WILDCARD_MULTI:
            pieces.append(".*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            pieces.append(".")
        else:
            pieces.append(re.escape(str(part)))
    return "".join(pieces)


def _regex_test(value: SigmaRegularExpression) -> ValueTest:
    if value.regexp.contains_placeholder():
        raise Unsupported("placeholders (the expand modifier) are not supported")
    flags = 0
    for flag in value.flags:
        flags |= _REGEX_FLAGS[flag]
    try:
        pattern = re.compile(str(value.regexp), flags)
    except re.error as exc:
        raise Unsupported(f"regular expression {str(value.regexp)!r} is invalid: {exc}") from None
    search = pattern.search  # unanchored, as Sigma's `re`: anchor with ^ and $
    return lambda found: (text := _text(found)) is not None and search(text) is not None


def _cidr_test(value: SigmaCIDRExpression) -> ValueTest:
    network = value.network

    def within(found: Any) -> bool:
        if type(found) is not str or len(found) > MAX_NUMBER_TEXT:
            return False
        try:
            address = ipaddress.ip_address(found)
        except ValueError:  # "AWS Internal", a service name, garbage
            return False
        return address.version == network.version and address in network

    return within


def _bool_test(expected: bool) -> ValueTest:
    word = "true" if expected else "false"

    def same(found: Any) -> bool:
        if type(found) is bool:
            return found is expected
        # CloudTrail writes some flags as strings ("mfaAuthenticated": "true").
        return type(found) is str and found.lower() == word

    return same


def _number(found: Any) -> float | int | None:
    kind = type(found)
    if kind is int or kind is float:
        return found  # type: ignore[no-any-return]
    if kind is str and len(found) <= MAX_NUMBER_TEXT:
        try:
            number = float(found)
        except ValueError:
            return None
        return number if number == number else None  # NaN equals nothing
    return None


def _number_test(expected: float | int) -> ValueTest:
    def same(found: Any) -> bool:
        number = _number(found)
        return number is not None and number == expected

    return same


def _compare_test(value: SigmaCompareExpression) -> ValueTest:
    bound = value.number.number
    op = value.op
    checks: dict[CompareOperators, Callable[[float | int], bool]] = {
        CompareOperators.LT: lambda n: n < bound,
        CompareOperators.LTE: lambda n: n <= bound,
        CompareOperators.GT: lambda n: n > bound,
        CompareOperators.GTE: lambda n: n >= bound,
        CompareOperators.NEQ: lambda n: n != bound,
    }
    check = checks[op]

    def compare(found: Any) -> bool:
        number = _number(found)
        return number is not None and check(number)

    return compare


# --- keywords ---------------------------------------------------------------------------------------


_SEPARATOR = "\x00"  # joins an event's string values for keyword search; wildcards never cross it


class Haystack:
    """An event's string values for keyword search, collected at most once per event and rule."""

    __slots__ = ("_event", "_leaves", "_text")

    def __init__(self, event: Any) -> None:
        self._event = event
        self._leaves: list[str] | None = None
        self._text: str | None = None

    def leaves(self) -> list[str]:
        if self._leaves is None:
            self._leaves = string_leaves(self._event)
        return self._leaves

    def text(self) -> str:
        """All string values, lowercased, joined by a separator that keywords cannot match."""
        if self._text is None:
            self._text = _SEPARATOR.join(self.leaves()).lower()
        return self._text


NO_HAYSTACK = Haystack(None)  # for rules without keywords: never read


def _keyword(value: SigmaType) -> Predicate:
    """A keyword matches when one of the event's string values contains it (wildcards allowed)."""
    if type(value) is SigmaString or (isinstance(value, (SigmaNumber, SigmaBool))
                                      and not isinstance(value, SigmaTimestampPart)):
        parts = value.s if isinstance(value, SigmaString) else [str(value).lower()]
        if any(isinstance(part, Placeholder) for part in parts):
            raise Unsupported("placeholders (the expand modifier) are not supported")
        if not any(isinstance(part, SpecialChars) for part in parts):
            needle = "".join(str(part) for part in parts).lower()
            return lambda event, hay: needle in hay.text()
        # Wildcards stay inside one value: they match anything but the separator.
        pieces: list[str] = []
        for part in parts:
            if part is SpecialChars.WILDCARD_MULTI:
                pieces.append("[^\x00]*")
            elif part is SpecialChars.WILDCARD_SINGLE:
                pieces.append("[^\x00]")
            else:
                pieces.append(re.escape(str(part).lower()))
        search = re.compile("".join(pieces), re.DOTALL).search  # the text is lowercased already
        return lambda event, hay: search(hay.text()) is not None
    if isinstance(value, SigmaCasedString):
        wrapped: SigmaString = value
        if not wrapped.startswith(SpecialChars.WILDCARD_MULTI):
            wrapped = SpecialChars.WILDCARD_MULTI + wrapped
        if not wrapped.endswith(SpecialChars.WILDCARD_MULTI):
            wrapped = wrapped + SpecialChars.WILDCARD_MULTI
        test = _string_test(SigmaCasedString.from_sigma_string(wrapped), cased=True)
    elif isinstance(value, (SigmaRegularExpression, SigmaCIDRExpression)):
        test = value_test(value)
    else:
        raise Unsupported(f"keyword of type {type(value).__name__} is not supported")

    def anywhere(event: dict[str, Any], hay: Haystack) -> bool:
        for leaf in hay.leaves():  # noqa: SIM110 (a loop: any() would build a generator per event)
            if test(leaf):
                return True
        return False

    return anywhere


def string_leaves(event: Any) -> list[str]:
    """The string values anywhere in an event (not its keys), in document order, bounded in count and depth."""
    found: list[str] = []
    if type(event) is dict:
        _collect(event.values(), found, MAX_KEYWORD_DEPTH)
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


# --- indexing ---------------------------------------------------------------------------------------

Pair = tuple[str | None, str | None]  # (eventSource, eventName); None: any
_ANYTHING: set[Pair] = {(None, None)}


def _index_pairs(node: Any) -> set[Pair]:
    """The (eventSource, eventName) pairs an event must have to match `node`; None parts are unconstrained."""
    if isinstance(node, ConditionOR):
        union: set[Pair] = set()
        for arg in node.args:
            union |= _index_pairs(arg)
            if len(union) > MAX_INDEX_PAIRS:
                return set(_ANYTHING)
        return union
    if isinstance(node, ConditionAND):
        result: set[Pair] = set(_ANYTHING)
        for arg in node.args:
            result = {meet for left in result for right in _index_pairs(arg) if (meet := _meet(left, right))}
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


def _as_events(pairs: set[Pair]) -> frozenset[tuple[str, str]] | None:
    if not pairs:
        return None  # contradictory on every path: let it run (and never match) rather than guess
    complete: set[tuple[str, str]] = set()
    for source, name in pairs:
        if name is None:
            return None
        complete.add((source if source is not None else ANY_SOURCE, name))
    return frozenset(complete)
