"""Sigma correlation rules as stateful detectors: one detector matches every referenced rule, and an
engine kind counts its Hits per group in event time, in the same state store as the built-in bursts.

| Sigma type | condition | engine kind | a Hit's key / value |
|---|---|---|---|
| `event_count` | `gte N` / `gt N` | `Threshold(N or N+1, timespan)` | the group-by values / - |
| `value_count` | `gte N` / `gt N`, `field` | `DistinctCount(N or N+1, timespan)` | group / the field's value |
| `temporal` | default: every rule; `gte N` / `gt N`: that many of them | `DistinctCount` | group / the rule's name |
| `temporal_ordered` | default (every rule) | `Ordered(rules, timespan)` | group / the rule's name |

So a correlation persists with `EmbeddedStore`, is shared through `RedisStore` (each finding names
the one key it reads), and fires once per window that meets its condition; later matches of the group
join the alert's episode. A group-by field is read through the correlation's `aliases` for each rule
(a list's first value); an event that lacks a group-by field (or, for `value_count`, the counted field)
does not count, as in a SIEM's `stats ... by`. What needs a window to close with no event to carry it
(`lt`, `lte`, `eq`, `neq`) and the other types are refused with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.rule import SigmaRule

from monitor.model.alert import clip
from monitor.model.detector import DistinctCount, Hit, Match, Ordered, StateKind, Threshold
from monitor.model.event import Event
from monitor.rules.fields import FieldReader, compile_path
from monitor.rules.predicates import Predicate
from monitor.rules.sigma_compile import CompiledCondition
from monitor.rules.sigma_values import Unsupported, sigma_text

KEY_CHARS = 256  # each group-by value in a key and in the alert context
_AT_LEAST = (SigmaCorrelationConditionOperator.GTE, SigmaCorrelationConditionOperator.GT)
_NO_WINDOW_CLOSE = ("alerting on {what} needs the timespan to close with no event to carry it; the engine's "
                    "state is read and written per matching event (that is what lets replicas share it), so "
                    "only `gte` and `gt` conditions are supported")


@dataclass(frozen=True, slots=True)
class Correlated:
    """What the detector is made of, beside the identity `sigma.py` gives every rule."""

    state: StateKind
    match: Match
    events: frozenset[tuple[str, str]] | None  # None: every event
    summary: str  # for the runbook


@dataclass(frozen=True, slots=True)
class _Referenced:
    name: str  # as the correlation names it
    predicate: Predicate
    group: tuple[FieldReader, ...]
    counted: tuple[FieldReader, ...]  # value_count: the condition's field(s)


def compile_correlation(rule: SigmaCorrelationRule, detector_id: str,
                        condition_of: Callable[[SigmaRule], CompiledCondition]) -> Correlated:
    """The state, match and index of a correlation rule whose references pySigma has resolved."""
    if rule.errors:
        raise Unsupported("; ".join(" ".join(str(e).split()) for e in rule.errors))
    kind = rule.type
    if kind not in (SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.VALUE_COUNT,
                    SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED):
        raise Unsupported(f"correlation type {kind.name.lower()!r} is not supported (supported: event_count, "
                          "value_count, temporal, temporal_ordered)")
    condition = rule.condition
    if not isinstance(condition, SigmaCorrelationCondition):
        raise Unsupported("extended correlation conditions (rules combined with and/or/not) are not supported")
    names = [ref.reference for ref in rule.referenced_rules]
    if not names:
        raise Unsupported("the correlation references no rule")
    if len(set(names)) != len(names):
        raise Unsupported("the correlation lists one rule twice")
    group_by = list(rule.group_by or [])
    counted = _counted_fields(condition) if kind is SigmaCorrelationType.VALUE_COUNT else []
    referenced: list[_Referenced] = []
    events: set[tuple[str, str]] | None = set()
    for ref in rule.referenced_rules:
        target = ref.rule
        if not isinstance(target, SigmaRule):
            raise Unsupported(f"references the correlation rule {ref.reference!r}: correlations of correlations "
                              "are not supported")
        try:
            compiled = condition_of(target)
        except Unsupported as exc:
            raise Unsupported(f"referenced rule {ref.reference!r}: {exc}") from None
        if events is not None:
            events = None if compiled.events is None else events | compiled.events
        referenced.append(_Referenced(
            name=ref.reference, predicate=compiled.predicate,
            group=tuple(_reader(_aliased(rule, name, target)) for name in group_by),
            counted=tuple(_reader(_aliased(rule, name, target)) for name in counted)))
    window = rule.timespan.seconds
    need = _at_least(condition)
    state: StateKind
    if kind is SigmaCorrelationType.EVENT_COUNT:
        state = Threshold(count=need, window_seconds=window)
        what = f"at least {need} events"
    elif kind is SigmaCorrelationType.VALUE_COUNT:
        label = clip(",".join(counted), 128)
        state = DistinctCount(count=need, window_seconds=window, label=label)
        what = f"at least {need} distinct values of {label}"
    elif need > len(names):
        raise Unsupported(f"the condition asks for {need} of {len(names)} rules: it can never be met")
    elif kind is SigmaCorrelationType.TEMPORAL:
        state = DistinctCount(count=need, window_seconds=window, label="rules")
        what = f"{need} of the rules {', '.join(names)} (any order)"
    else:
        if need != len(names):
            raise Unsupported("temporal_ordered takes no condition other than every rule in order")
        state = Ordered(steps=tuple(names), window_seconds=window, label="rules")
        what = f"the rules {' then '.join(names)} in this order"
    summary = (f"Sigma {kind.name.lower()} correlation: {what} within {rule.timespan.spec}"
               + (f" for one {', '.join(group_by)}" if group_by else "") + ".")
    base = {"correlation": kind.name.lower(), "timespan": rule.timespan.spec}
    return Correlated(state=state, match=_matcher(detector_id, kind, referenced, group_by, base),
                      events=frozenset(events) if events is not None else None, summary=summary)


def _counted_fields(condition: SigmaCorrelationCondition) -> list[str]:
    field = condition.fieldref
    fields = [field] if isinstance(field, str) else list(field or [])
    if not fields:
        raise Unsupported("value_count needs the condition's `field`")
    return [str(name) for name in fields]


def _at_least(condition: SigmaCorrelationCondition) -> int:
    op, count = condition.op, condition.count
    if op not in _AT_LEAST:
        what = {SigmaCorrelationConditionOperator.LT: "fewer than N (lt)",
                SigmaCorrelationConditionOperator.LTE: "at most N (lte)",
                SigmaCorrelationConditionOperator.EQ: "exactly N (eq)",
                SigmaCorrelationConditionOperator.NEQ: "other than N (neq)"}[op]
        raise Unsupported(f"condition {op.name.lower()}: " + _NO_WINDOW_CLOSE.format(what=what))
    need = math.ceil(count) if op is SigmaCorrelationConditionOperator.GTE else math.floor(count) + 1
    return max(need, 1)  # a group is only seen once something matched


def _aliased(rule: SigmaCorrelationRule, name: str, target: SigmaRule) -> str:
    """The field `name` (a group-by field or alias) as the referenced rule's events call it."""
    alias = rule.aliases.aliases.get(name)
    if alias is None:
        return name
    for ref, field in alias.mapping.items():
        if getattr(ref, "rule", None) is target:
            return field
    return name


def _reader(path: str) -> FieldReader:
    try:
        return compile_path(path)
    except ValueError as exc:
        raise Unsupported(str(exc)) from None


def _first_text(read: FieldReader, event: Event) -> str | None:
    for value in read(event):
        text = sigma_text(value)
        if text is not None:
            return clip(text, KEY_CHARS)
    return None


def _matcher(detector_id: str, kind: SigmaCorrelationType, referenced: list[_Referenced], group_by: list[str],
             base: Mapping[str, Any]) -> Match:
    temporal = kind in (SigmaCorrelationType.TEMPORAL, SigmaCorrelationType.TEMPORAL_ORDERED)
    counting = kind is SigmaCorrelationType.VALUE_COUNT

    def group(ref: _Referenced, event: Event) -> tuple[str, dict[str, Any]] | None:
        values: list[str] = []
        for read in ref.group:
            text = _first_text(read, event)
            if text is None:
                return None  # no group to count it in
            values.append(text)
        context = {"rule": detector_id, **base, "group": dict(zip(group_by, values, strict=True))}
        return _joined(values), context

    def match(event: Event, params: Mapping[str, Any]) -> Hit | list[Hit] | None:
        hits: list[Hit] = []
        for ref in referenced:
            if not ref.predicate(event):
                continue
            grouped = group(ref, event)
            if grouped is None:
                continue
            key, context = grouped
            if temporal:  # each rule the event matches is a step of its own
                hits.append(Hit(key=key, value=ref.name, context=context))
                continue
            if not counting:
                return Hit(key=key, context={**context, "matched": ref.name})
            value = _counted(ref, event)
            if value is not None:
                return Hit(key=key, value=value, context={**context, "matched": ref.name})
        return hits or None

    return match


def _counted(ref: _Referenced, event: Event) -> str | None:
    """value_count: the value counted for this event (a list's first value; several fields, joined)."""
    parts = [_first_text(read, event) for read in ref.counted]
    if any(part is None for part in parts):
        return None
    return _joined([part for part in parts if part is not None])


def _joined(values: list[str]) -> str:
    """One key of several values that no two different lists share (values are attacker-controlled)."""
    if len(values) == 1:
        return values[0]
    return orjson.dumps(values).decode()
