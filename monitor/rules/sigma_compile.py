"""Compile a parsed Sigma condition (pySigma's condition tree) into one predicate over CloudTrail events.

Each AND/OR/NOT becomes a combinator of the shared predicate library
(monitor/rules/predicates.py), each field test a leaf that reads the field
through `compile_path` and tests its values (monitor/rules/sigma_values.py),
each keyword a search of the event's string values (monitor/rules/sigma_keywords.py),
once, at load. Evaluation never raises.

Semantics (documented in the README's "Sigma rules" section):
- strings match case-insensitively (`cased` makes them case-sensitive); `*` and `?` are wildcards;
  booleans and numbers in the event are compared as their JSON text (`true`, `42`);
- a field path that fans out over lists (`resources.ARN`) matches when any of its values matches;
- `null` matches a missing or null field, `exists: true` a field with a non-null value;
- keywords (values without a field) match, as substrings, the string values anywhere in the event;
- `fieldref` compares a field with another field of the same event (see `sigma_values.field_reference`).
"""

from __future__ import annotations

from collections.abc import Sequence
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
from sigma.types import SigmaExists, SigmaFieldReference, SigmaNull, SigmaString, SigmaType

from monitor.rules.fields import FieldReader, compile_path
from monitor.rules.predicates import Predicate, absent, all_of, any_of, any_value, negate, present
from monitor.rules.sigma_index import Pair, as_events, index_pairs
from monitor.rules.sigma_keywords import KeywordText, keyword
from monitor.rules.sigma_values import Unsupported, field_reference, folded_string, string_set, value_test

ConditionNode = ConditionItem | ConditionFieldEqualsValueExpression | ConditionValueExpression

MAX_CONDITION_DEPTH = 64


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    predicate: Predicate
    fields: tuple[str, ...]  # field paths the condition reads, in first-use order
    # (eventSource, eventName) pairs every match must have; None when the rule can match any event.
    events: frozenset[tuple[str, str]] | None


def compile_conditions(trees: Sequence[ConditionNode | None]) -> CompiledCondition:
    """Compile a rule's conditions (several are alternatives, as in the Sigma spec) into one predicate."""
    compiler = _Compiler()
    parts: list[Predicate] = []
    pairs: set[Pair] = set()
    for tree in trees:
        if tree is None:
            raise Unsupported("the condition selects nothing")
        parts.append(compiler.node(tree))
        pairs |= index_pairs(tree)
    return CompiledCondition(any_of(parts), tuple(compiler.fields), as_events(pairs))


class _Compiler:
    def __init__(self) -> None:
        self.fields: dict[str, FieldReader] = {}
        self.keywords = KeywordText()  # shared by the rule's keywords: the event's values are collected once
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
            return all_of([self.node(arg) for arg in node.args])
        if isinstance(node, ConditionOR):
            return any_of(self.alternatives(node.args))
        if isinstance(node, ConditionNOT):
            return negate(self.node(node.args[0]))
        if isinstance(node, ConditionFieldEqualsValueExpression):
            return self.field(node.field, node.value)
        if isinstance(node, ConditionValueExpression):
            return keyword(node.value, self.keywords)
        raise Unsupported(f"condition element {type(node).__name__} is not supported")

    def alternatives(self, args: Sequence[Any]) -> list[Predicate]:
        """OR-ed string values of one field (`field: [a, b*, *c*]`) read the field and fold its case once."""
        strings: dict[str, list[SigmaString]] = {}
        others: list[Any] = []
        for arg in args:
            if isinstance(arg, ConditionFieldEqualsValueExpression) and folded_string(arg.value):
                strings.setdefault(arg.field, []).append(arg.value)  # type: ignore[arg-type]
            else:
                others.append(arg)
        return ([any_value(self.reader(path), string_set(values)) for path, values in strings.items()]
                + [self.node(arg) for arg in others])

    def field(self, path: str, value: SigmaType) -> Predicate:
        read = self.reader(path)
        if isinstance(value, SigmaNull):
            return absent(read)
        if isinstance(value, SigmaExists):
            return present(read) if value.exists else absent(read)
        if isinstance(value, SigmaFieldReference):
            return field_reference(read, self.reader(value.field), value)
        return any_value(read, value_test(value))
