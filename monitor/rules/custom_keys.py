"""The keys of a custom rule, each checked on its own: every problem is appended to `errors`.

`monitor.rules.custom` calls these while it compiles a rule, so a rule with five
mistakes reports all five (`threshold.count: must be a positive integer, got 0`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from typing import Any

from monitor.model.alert import clip
from monitor.model.detector import DistinctCount, Threshold
from monitor.model.severity import Severity
from monitor.rules.fields import FieldReader, compile_path
from monitor.rules.predicates import as_text

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_MITRE = re.compile(r"^T\d{4}(?:\.\d{3})?$")
_RESERVED_PREFIX = "sigma-"
_MAX_KEY_CHARS = 512


def unknown_keys(mapping: dict[Any, Any], known: Sequence[str], errors: list[str], where: str = "") -> None:
    """One error per key of `mapping` not in `known`, with the closest known key as a hint."""
    lead = f"{where}: " if where else ""
    for key in mapping:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            errors.append(f"{lead}unknown key {key!r}{hint}")


def rule_id(value: Any, errors: list[str]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not _ID.match(value):
        errors.append(f"id: {value!r} is not kebab-case (lowercase letters, digits and single dashes)")
        return ""
    if value.startswith(_RESERVED_PREFIX):
        errors.append(f"id: the {_RESERVED_PREFIX!r} prefix is reserved for Sigma rules")
    return value


def text_field(raw: dict[Any, Any], key: str, errors: list[str]) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{key}: must be a non-empty string")
        return ""
    return value.strip()


def severity(value: Any, errors: list[str]) -> Severity | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(f"severity: must be a string, got {type(value).__name__}")
        return None
    try:
        return Severity.parse(value)
    except ValueError as exc:
        errors.append(f"severity: {exc}")
        return None


def mitre(value: Any, errors: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        errors.append("mitre: must be a non-empty list of ATT&CK technique ids like T1078 or T1078.004")
        return ()
    bad = [item for item in items if not isinstance(item, str) or not _MITRE.match(item)]
    if bad:
        errors.append(f"mitre: {', '.join(repr(b) for b in bad)}: not ATT&CK technique ids like T1078 or T1078.004")
    return tuple(str(item) for item in items)


def event_pairs(raw: dict[Any, Any], errors: list[str]) -> tuple[frozenset[tuple[str, str]], bool]:
    everything = raw.get("all_events", False)
    if not isinstance(everything, bool):
        errors.append("all_events: must be true or false")
        everything = False
    value = raw.get("events")
    if value is None:
        if not everything:
            errors.append("events: required: a list of 'eventSource:eventName' (or all_events: true, "
                          "which evaluates the rule on every event)")
        return frozenset(), everything
    if everything:
        errors.append("declare events or all_events: true, not both")
    if not isinstance(value, list) or not value:
        errors.append("events: must be a non-empty list of 'eventSource:eventName'")
        return frozenset(), everything
    pairs: set[tuple[str, str]] = set()
    for i, item in enumerate(value):
        source, _, name = item.partition(":") if isinstance(item, str) else ("", "", "")
        if not source.endswith(".amazonaws.com") or not name or ":" in name:
            errors.append(f"events[{i}]: {item!r}: write 'eventSource:eventName', "
                          "e.g. iam.amazonaws.com:CreateAccessKey")
            continue
        pairs.add((source, name))
    return frozenset(pairs), everything


def field_paths(value: Any, key: str, errors: list[str]) -> list[tuple[str, FieldReader]]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(item, str) for item in items):
        errors.append(f"{key}: must be a non-empty list of field paths")
        return []
    readers: list[tuple[str, FieldReader]] = []
    for i, path in enumerate(items):
        try:
            readers.append((path, compile_path(path)))
        except ValueError as exc:
            errors.append(f"{key}[{i}]: {exc}")
    return readers


def positive(value: Any, where: str, errors: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        errors.append(f"{where}: must be a positive integer, got {value!r}")
        return 1
    return value


def _sub_mapping(value: Any, key: str, allowed: tuple[str, ...], errors: list[str]) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.append(f"{key}: must be a mapping with {', '.join(allowed)}")
        return None
    before = len(errors)
    unknown_keys(value, allowed, errors, key)
    for name in allowed:
        if name not in value:
            errors.append(f"{key}.{name}: required")
    return value if len(errors) == before else None


def threshold(value: Any, errors: list[str]) -> Threshold | None:
    data = _sub_mapping(value, "threshold", ("count", "window_seconds"), errors)
    if data is None:
        return None
    return Threshold(count=positive(data["count"], "threshold.count", errors),
                     window_seconds=positive(data["window_seconds"], "threshold.window_seconds", errors))


def distinct(value: Any, errors: list[str]) -> tuple[DistinctCount, Callable[[Any], str | None]] | None:
    """The distinct-count kind, and the function giving each matching event's value (its Hit.value)."""
    data = _sub_mapping(value, "distinct", ("field", "count", "window_seconds"), errors)
    if data is None:
        return None
    count = positive(data["count"], "distinct.count", errors)
    window = positive(data["window_seconds"], "distinct.window_seconds", errors)
    field = data["field"]
    if not isinstance(field, str):
        errors.append("distinct.field: must be a field path")
        return None
    try:
        reader = compile_path(field)
    except ValueError as exc:
        errors.append(f"distinct.field: {exc}")
        return None
    return DistinctCount(count=count, window_seconds=window, label=field), first_value(reader)


CASE_KEYS = ("name", "events", "expect")
EXPECT_KEYS = ("alerts", "severity", "count")


def samples(value: Any, errors: list[str]) -> list[dict[str, Any]]:
    """Sample cases in monitor/offline/samples.py's shape (no `params`: custom rules have none)."""
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append("samples: must be a list of cases {name, events, expect}")
        return []
    before = len(errors)
    for i, case in enumerate(value):
        where = f"samples[{i}]"
        if not isinstance(case, dict):
            errors.append(f"{where}: must be a mapping {{name, events, expect}}")
            continue
        unknown_keys(case, CASE_KEYS, errors, where)
        if not isinstance(case.get("name"), str) or not case["name"]:
            errors.append(f"{where}.name: required string")
        if not isinstance(case.get("events"), list):
            errors.append(f"{where}.events: required list of CloudTrail events")
        else:
            errors.extend(f"{where}.events{path}: YAML read a {kind}; quote it (CloudTrail has strings here)"
                          for path, kind in _not_json(case["events"]))
        expect = case.get("expect")
        if not isinstance(expect, dict):
            errors.append(f"{where}.expect: required mapping, e.g. {{alerts: 1}}")
            continue
        unknown_keys(expect, EXPECT_KEYS, errors, f"{where}.expect")
        alerts = expect.get("alerts")
        if isinstance(alerts, bool) or not isinstance(alerts, int) or alerts < 0:
            errors.append(f"{where}.expect.alerts: required count (0 for a near miss)")
        if "severity" in expect:
            problems: list[str] = []
            severity(expect["severity"], problems)
            errors.extend(f"{where}.expect.{problem}" for problem in problems)
        count = expect.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            errors.append(f"{where}.expect.count: must be a positive integer")
    return list(value) if len(errors) == before else []


def _not_json(value: Any, path: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Where sample data holds what JSON cannot (an unquoted `2026-03-01T10:00:00Z` becomes a datetime)."""
    if isinstance(value, dict) and depth < 64:
        return [found for key, item in value.items() for found in _not_json(item, f"{path}.{key}", depth + 1)]
    if isinstance(value, list) and depth < 64:
        return [found for i, item in enumerate(value) for found in _not_json(item, f"{path}[{i}]", depth + 1)]
    if value is None or isinstance(value, str | int | float | bool):
        return []
    return [(path, type(value).__name__)]


def first_value(read: FieldReader) -> Callable[[Any], str | None]:
    """The first value at a path that has a text form, clipped; None when there is none."""
    def first(event: Any) -> str | None:
        for value in read(event):
            text = as_text(value)
            if text is not None:
                return clip(text, _MAX_KEY_CHARS)
        return None

    return first
