"""Custom detection rules written in YAML, compiled into ordinary detectors.

A rule file holds `rules:`, a list of rules; each rule carries the same metadata as a built-in
detector (id, title, severity, mitre, runbook, events), a condition tree (monitor/rules/conditions.py),
optional grouping, threshold or distinct count, context fields and sample cases. Everything is
validated and compiled once at load. Every problem is collected with its file and rule; a rule
with any problem is skipped whole and reported (custom rules are the user's own code, so callers
treat any problem as fatal rather than run half of them).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml

from monitor.model.alert import clip
from monitor.model.detector import Detector, DistinctCount, Hit, Threshold
from monitor.model.severity import Severity
from monitor.rules import LoadedRules, RuleProblem, RuleSampleCase
from monitor.rules.conditions import as_text, compile_condition
from monitor.rules.fields import FieldReader, compile_path

KIND = "custom"
RULE_KEYS = (
    "id", "title", "severity", "mitre", "runbook", "events", "all_events", "condition", "group_by",
    "threshold", "distinct", "episode_seconds", "context_fields", "samples",
)
REQUIRED_KEYS = ("id", "title", "severity", "mitre", "runbook", "condition")
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_MITRE = re.compile(r"^T\d{4}(?:\.\d{3})?$")
_RESERVED_PREFIX = "sigma-"
_MAX_KEY_CHARS = 512
_MAX_CONTEXT_CHARS = 256
_MAX_CONTEXT_VALUES = 10
_NO_CONTEXT = Hit()


def load_custom_rules(files: Sequence[Path], taken: Collection[str] = ()) -> LoadedRules:
    """Load rule files in order. `taken`: ids already in use (the built-in detectors)."""
    loaded = LoadedRules()
    seen: dict[str, str] = {}  # rule id -> where it was first defined
    for path in files:
        data, problem = _read(path)
        if problem is not None:
            loaded.problems.append(problem)
            continue
        loaded.extend(parse_rules(data, str(path), taken, seen))
    return loaded


def parse_rules(data: Any, file: str, taken: Collection[str] = (), seen: dict[str, str] | None = None) -> LoadedRules:
    """Compile the rules of one parsed file. `seen` carries ids across files to catch duplicates."""
    loaded = LoadedRules()
    seen = {} if seen is None else seen
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        loaded.problems.append(RuleProblem(file, "", "expected a mapping with a `rules:` list"))
        return loaded
    for key in sorted(str(k) for k in data if k != "rules"):
        loaded.problems.append(RuleProblem(file, "", f"unknown top-level key {key!r} (only `rules:`)"))
    for index, raw in enumerate(data["rules"]):
        rule_id = raw.get("id") if isinstance(raw, dict) else None
        name = rule_id if isinstance(rule_id, str) and rule_id else f"rules[{index}]"
        errors: list[str] = []
        compiled = _compile_rule(raw, errors)
        if isinstance(rule_id, str) and rule_id:
            if rule_id in taken:
                errors.append(f"id {rule_id!r} is already a built-in detector's")
            elif rule_id in seen:
                errors.append(f"duplicate id {rule_id!r}: also defined in {seen[rule_id]}")
            else:
                seen[rule_id] = f"{file} (rules[{index}])"
        if errors or compiled is None:
            loaded.problems.extend(RuleProblem(file, name, message) for message in errors)
            continue
        detector, samples = compiled
        loaded.detectors.append(detector)
        loaded.kinds[detector.id] = KIND
        loaded.files[detector.id] = file
        loaded.samples.extend(RuleSampleCase(detector.id, file, case) for case in samples)
    return loaded


def _read(path: Path) -> tuple[Any, RuleProblem | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, RuleProblem(str(path), "", f"cannot read: {reason}")
    try:
        return yaml.load(text, Loader=_RuleLoader), None  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        return None, RuleProblem(str(path), "", f"not valid YAML{where}: {problem}")


class _RuleLoader(yaml.SafeLoader):
    """Safe YAML that refuses a key written twice (a second `condition:` would silently win)."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
            continue
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node)


_RuleLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def _compile_rule(raw: Any, errors: list[str]) -> tuple[Detector, list[dict[str, Any]]] | None:
    if not isinstance(raw, dict):
        errors.append(f"a rule must be a mapping, got {type(raw).__name__}")
        return None
    _unknown_keys(raw, RULE_KEYS, errors)
    for key in REQUIRED_KEYS:
        if raw.get(key) is None:
            errors.append(f"{key}: required")
    rule_id = _id(raw.get("id"), errors)
    title = _text_field(raw, "title", errors)
    runbook = _text_field(raw, "runbook", errors)
    severity = _severity(raw.get("severity"), errors)
    mitre = _mitre(raw.get("mitre"), errors)
    events, all_events = _events(raw, errors)
    condition = compile_condition(raw["condition"], "condition", errors) if raw.get("condition") is not None else None
    group_paths = _paths(raw.get("group_by"), "group_by", errors)
    context_paths = _paths(raw.get("context_fields"), "context_fields", errors)
    episode = _positive(raw.get("episode_seconds", 3600), "episode_seconds", errors)
    threshold = _threshold(raw.get("threshold"), errors)
    distinct = _distinct(raw.get("distinct"), errors)
    if (threshold is not None or distinct is not None) and not group_paths:
        errors.append(f"{'threshold' if threshold is not None else 'distinct'}: needs group_by (what to count per)")
    if raw.get("threshold") is not None and raw.get("distinct") is not None:
        errors.append("declare threshold or distinct, not both")
    samples = _samples(raw.get("samples"), errors)
    if errors or condition is None or severity is None:
        return None
    try:
        detector = Detector(
            id=rule_id, title=title, severity=severity, mitre=mitre, runbook=runbook,
            match=_match(condition, _context(context_paths)), events=events, all_events=all_events,
            group_by=_group_key([reader for _, reader in group_paths]) if group_paths else None,
            episode_seconds=episode, threshold=threshold, distinct=distinct,
        )
    except ValueError as exc:  # the contract's own checks, should any slip past the ones above
        errors.append(str(exc))
        return None
    return detector, samples


def _unknown_keys(mapping: dict[Any, Any], known: Sequence[str], errors: list[str], where: str = "") -> None:
    """One error per key of `mapping` not in `known`, with the closest known key as a hint."""
    lead = f"{where}: " if where else ""
    for key in mapping:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            errors.append(f"{lead}unknown key {key!r}{hint}")


def _id(value: Any, errors: list[str]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not _ID.match(value):
        errors.append(f"id: {value!r} is not kebab-case (lowercase letters, digits and single dashes)")
        return ""
    if value.startswith(_RESERVED_PREFIX):
        errors.append(f"id: the {_RESERVED_PREFIX!r} prefix is reserved for Sigma rules")
    return value


def _text_field(raw: dict[Any, Any], key: str, errors: list[str]) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{key}: must be a non-empty string")
        return ""
    return value.strip()


def _severity(value: Any, errors: list[str]) -> Severity | None:
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


def _mitre(value: Any, errors: list[str]) -> tuple[str, ...]:
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


def _events(raw: dict[Any, Any], errors: list[str]) -> tuple[frozenset[tuple[str, str]], bool]:
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


def _paths(value: Any, key: str, errors: list[str]) -> list[tuple[str, FieldReader]]:
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


def _positive(value: Any, where: str, errors: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        errors.append(f"{where}: must be a positive integer, got {value!r}")
        return 1
    return value


def _settings(value: Any, key: str, allowed: tuple[str, ...], errors: list[str]) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.append(f"{key}: must be a mapping with {', '.join(allowed)}")
        return None
    before = len(errors)
    _unknown_keys(value, allowed, errors, key)
    for name in allowed:
        if name not in value:
            errors.append(f"{key}.{name}: required")
    return value if len(errors) == before else None


def _threshold(value: Any, errors: list[str]) -> Threshold | None:
    data = _settings(value, "threshold", ("count", "window_seconds"), errors)
    if data is None:
        return None
    return Threshold(count=_positive(data["count"], "threshold.count", errors),
                     window_seconds=_positive(data["window_seconds"], "threshold.window_seconds", errors))


def _distinct(value: Any, errors: list[str]) -> DistinctCount | None:
    data = _settings(value, "distinct", ("field", "count", "window_seconds"), errors)
    if data is None:
        return None
    count = _positive(data["count"], "distinct.count", errors)
    window = _positive(data["window_seconds"], "distinct.window_seconds", errors)
    field = data["field"]
    if not isinstance(field, str):
        errors.append("distinct.field: must be a field path")
        return None
    try:
        reader = compile_path(field)
    except ValueError as exc:
        errors.append(f"distinct.field: {exc}")
        return None
    return DistinctCount(value=_first_value(reader), count=count, window_seconds=window, label=field)


_CASE_KEYS = ("name", "events", "expect")
_EXPECT_KEYS = ("alerts", "severity", "count")


def _samples(value: Any, errors: list[str]) -> list[dict[str, Any]]:
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
        _unknown_keys(case, _CASE_KEYS, errors, where)
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
        _unknown_keys(expect, _EXPECT_KEYS, errors, f"{where}.expect")
        alerts = expect.get("alerts")
        if isinstance(alerts, bool) or not isinstance(alerts, int) or alerts < 0:
            errors.append(f"{where}.expect.alerts: required count (0 for a near miss)")
        if "severity" in expect:
            problems: list[str] = []
            _severity(expect["severity"], problems)
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


def _match(condition: Callable[[Any], bool],
           context: Callable[[Any], dict[str, Any]] | None) -> Callable[[Any, Mapping[str, Any]], Hit | None]:
    if context is None:
        def plain(event: Any, params: Mapping[str, Any]) -> Hit | None:
            return _NO_CONTEXT if condition(event) else None

        return plain

    def with_context(event: Any, params: Mapping[str, Any]) -> Hit | None:
        return Hit(context=context(event)) if condition(event) else None

    return with_context


def _first_value(read: FieldReader) -> Callable[[Any], str | None]:
    """The first value at a path that has a text form, clipped; None when there is none."""
    def first(event: Any) -> str | None:
        for value in read(event):
            text = as_text(value)
            if text is not None:
                return clip(text, _MAX_KEY_CHARS)
        return None

    return first


def _group_key(readers: list[FieldReader]) -> Callable[[Any], str | None]:
    firsts = [_first_value(reader) for reader in readers]

    def key(event: Any) -> str | None:
        parts = [first(event) or "" for first in firsts]
        return "\x1f".join(parts) if any(parts) else None

    return key


def _context(paths: list[tuple[str, FieldReader]]) -> Callable[[Any], dict[str, Any]] | None:
    if not paths:
        return None

    def context(event: Any) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for path, read in paths:
            values = [_json_safe(value) for value in read(event)[:_MAX_CONTEXT_VALUES]]
            if values:
                found[path] = values[0] if len(values) == 1 else values
        return found

    return context


def _json_safe(value: Any) -> str:
    text = as_text(value)
    if text is None:
        try:
            text = orjson.dumps(value).decode()
        except (TypeError, orjson.JSONEncodeError):
            text = f"({type(value).__name__})"
    return clip(text, _MAX_CONTEXT_CHARS)
