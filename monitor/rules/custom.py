"""Custom detection rules written in YAML, compiled into ordinary detectors.

A rule file holds `rules:`, a list of rules; each rule carries the same metadata as a built-in
detector (id, title, severity, mitre, runbook, events), a condition tree (monitor/rules/conditions.py),
optional grouping, threshold or distinct count, context fields and sample cases. Everything is
validated and compiled once at load. Every problem is collected with its file and rule; a rule
with any problem is skipped whole and reported (custom rules are the user's own code, so callers
treat any problem as fatal rather than run half of them).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml

from monitor.model.alert import clip
from monitor.model.detector import Detector, Hit
from monitor.rules import LoadedRules, RuleProblem, RuleSampleCase
from monitor.rules import custom_keys as keys
from monitor.rules.conditions import compile_condition
from monitor.rules.fields import FieldReader
from monitor.rules.predicates import as_text

KIND = "custom"
RULE_KEYS = (
    "id", "title", "severity", "mitre", "runbook", "events", "all_events", "condition", "group_by",
    "threshold", "distinct", "episode_seconds", "context_fields", "samples",
)
REQUIRED_KEYS = ("id", "title", "severity", "mitre", "runbook", "condition")
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
    keys.unknown_keys(raw, RULE_KEYS, errors)
    for key in REQUIRED_KEYS:
        if raw.get(key) is None:
            errors.append(f"{key}: required")
    rule_id = keys.rule_id(raw.get("id"), errors)
    title = keys.text_field(raw, "title", errors)
    runbook = keys.text_field(raw, "runbook", errors)
    severity = keys.severity(raw.get("severity"), errors)
    mitre = keys.mitre(raw.get("mitre"), errors)
    events, all_events = keys.event_pairs(raw, errors)
    condition = compile_condition(raw["condition"], "condition", errors) if raw.get("condition") is not None else None
    group_paths = keys.field_paths(raw.get("group_by"), "group_by", errors)
    context_paths = keys.field_paths(raw.get("context_fields"), "context_fields", errors)
    episode = keys.positive(raw.get("episode_seconds", 3600), "episode_seconds", errors)
    threshold = keys.threshold(raw.get("threshold"), errors)
    counted = keys.distinct(raw.get("distinct"), errors)
    distinct, distinct_value = counted if counted is not None else (None, None)
    if (threshold is not None or distinct is not None) and not group_paths:
        errors.append(f"{'threshold' if threshold is not None else 'distinct'}: needs group_by (what to count per)")
    if raw.get("threshold") is not None and raw.get("distinct") is not None:
        errors.append("declare threshold or distinct, not both")
    samples = keys.samples(raw.get("samples"), errors)
    if errors or condition is None or severity is None:
        return None
    try:
        detector = Detector(
            id=rule_id, title=title, severity=severity, mitre=mitre, runbook=runbook,
            match=_match(condition, _context(context_paths), distinct_value), events=events,
            all_events=all_events, group_by=_group_key([reader for _, reader in group_paths]) if group_paths else None,
            episode_seconds=episode, state=threshold or distinct,
        )
    except ValueError as exc:  # the contract's own checks, should any slip past the ones above
        errors.append(str(exc))
        return None
    return detector, samples


def _match(condition: Callable[[Any], bool], context: Callable[[Any], dict[str, Any]] | None,
           value: Callable[[Any], str | None] | None) -> Callable[[Any, Mapping[str, Any]], Hit | None]:
    """The rule's verdict: its context fields, and for a distinct count the value it counts."""
    if context is None and value is None:
        def plain(event: Any, params: Mapping[str, Any]) -> Hit | None:
            return _NO_CONTEXT if condition(event) else None

        return plain

    def with_context(event: Any, params: Mapping[str, Any]) -> Hit | None:
        if not condition(event):
            return None
        return Hit(context=context(event) if context is not None else {},
                   value=value(event) if value is not None else None)

    return with_context


def _group_key(readers: list[FieldReader]) -> Callable[[Any], str | None]:
    firsts = [keys.first_value(reader) for reader in readers]

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
