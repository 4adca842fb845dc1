"""Load Sigma rules (SigmaHQ format, parsed by pySigma) for AWS CloudTrail as ordinary detectors.

`load_sigma_rules(paths)` reads files and directories (walked for *.yml / *.yaml, sorted), parses
each file with pySigma, resolves correlation rules' references across every file loaded (by rule
`name` or `id`, as pySigma does), and compiles every rule whose logsource is `product: aws, service:
cloudtrail` into a `Detector` (see `sigma_compile` for the matching semantics, `sigma_correlation`
for correlations). A rule that uses something unsupported, or is not for CloudTrail, becomes one
`RuleProblem` naming it and the reason, and is skipped whole; a file that is not YAML or not Sigma is
one problem, and loading goes on with the next file. A rule a correlation uses without `generate:
true` alerts only through that correlation (and is a problem only when the correlation did not load).

Detector ids: `sigma-` + the rule title as kebab-case (at most 64 characters). When two loaded
rules share that slug, the first one (in path order, then document order) keeps it and a later
one is named `sigma-` + its UUID `id:`; a later one without an `id:` is reported as a duplicate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.modifiers import reverse_modifier_mapping
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule, SigmaRuleBase

from monitor.model.alert import clip
from monitor.model.detector import Detector, Hit, Keys, Match, StateKind, keys
from monitor.model.event import Event
from monitor.model.severity import Severity
from monitor.rules import LoadedRules, RuleProblem
from monitor.rules.fields import compile_path
from monitor.rules.sigma_compile import CompiledCondition, compile_conditions
from monitor.rules.sigma_correlation import compile_correlation
from monitor.rules.sigma_values import Unsupported

KIND = "sigma"
ID_PREFIX = "sigma-"
MAX_SLUG = 64
MAX_FILE_BYTES = 1 << 20  # a rule file larger than this is refused rather than parsed
CONTEXT_VALUES = 5  # values shown per referenced field in an alert's context
CONTEXT_CHARS = 256

# Modifiers evaluated here; every other one makes the rule unsupported.
SUPPORTED_MODIFIERS = frozenset({
    "contains", "startswith", "endswith", "all", "neq", "re", "i", "ignorecase", "m", "multiline", "s", "dotall",
    "cidr", "exists", "cased", "base64", "gt", "gte", "lt", "lte", "fieldref",
})
# Why the others are not: shown in the problem.
_MODIFIER_REASONS = {
    "base64offset": "matches Windows-style encoded command lines, not CloudTrail fields",
    "windash": "expands Windows command-line dashes, not CloudTrail fields",
    "wide": "encodes UTF-16, which CloudTrail never uses",
    "utf16": "encodes UTF-16, which CloudTrail never uses",
    "utf16be": "encodes UTF-16, which CloudTrail never uses",
    "expand": "needs placeholder values from a conversion pipeline",
}
_LEVELS = {
    "informational": Severity.INFO,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
}
DEFAULT_SEVERITY = Severity.MEDIUM  # Sigma's `level` is optional
_TECHNIQUE = re.compile(r"^t(\d{4})(?:\.(\d{3}))?$")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def load_sigma_rules(paths: list[Path]) -> LoadedRules:
    """Compile every CloudTrail Sigma rule found in `paths` (files or directories)."""
    loaded = LoadedRules()
    parsed: list[tuple[str, SigmaRule | SigmaCorrelationRule]] = []
    for path in _rule_files(paths, loaded):
        parsed.extend(_parse_file(path, loaded))
    unresolved = _resolve_correlations([rule for _, rule in parsed])
    _Compiler(loaded, unresolved).compile_all(parsed)
    return loaded


def _rule_files(paths: Iterable[Path], loaded: LoadedRules) -> list[Path]:
    files: list[Path] = []
    seen: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
        elif path.is_file():
            found = [path]
        else:
            loaded.problems.append(RuleProblem(str(path), "", "no such file or directory"))
            continue
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                files.append(file)
    return files


def _parse_file(path: Path, loaded: LoadedRules) -> list[tuple[str, SigmaRule | SigmaCorrelationRule]]:
    """The file's rules (its meta filters applied); references are resolved later, across every file."""
    where = str(path)
    try:
        data = path.read_bytes()
        if len(data) > MAX_FILE_BYTES:
            raise ValueError(f"file is larger than {MAX_FILE_BYTES} bytes")
        collection = SigmaCollection.from_yaml(data, collect_errors=True, resolve_references=False)
    except Exception as exc:  # pySigma raises many kinds on odd input; one bad file must not stop the rest
        loaded.problems.append(RuleProblem(where, "", f"not a readable Sigma rule file: {_one_line(exc)}"))
        return []
    rules = list(collection.rules)
    if not rules:
        reason = "; ".join(_one_line(e) for e in collection.errors) or "no Sigma rule in the file"
        loaded.problems.append(RuleProblem(where, "", reason))
    return [(where, rule) for rule in rules]


def _resolve_correlations(rules: list[SigmaRule | SigmaCorrelationRule]) -> dict[int, str]:
    """Resolve each correlation's references (by rule name or id, in any loaded file), as pySigma does:
    a rule referenced by a correlation without `generate: true` then alerts only through it.
    Returns why each correlation that could not be resolved was not (by its id())."""
    unresolved: dict[int, str] = {}
    correlations = [rule for rule in rules if isinstance(rule, SigmaCorrelationRule)]
    if not correlations:
        return unresolved
    collection = SigmaCollection(rules, resolve_references=False)  # type: ignore[arg-type]
    for rule in correlations:
        try:
            rule.resolve_rule_references(collection)
            rule.aliases.resolve_rule_references(collection)
        except Exception as exc:  # a missing or odd reference: one problem for this correlation
            unresolved[id(rule)] = f"could not resolve its rules: {_one_line(exc)}"
    return unresolved


class _Compiler:
    """Compiles the parsed rules in order; a referenced rule's condition is compiled once, for every
    correlation that uses it (and for itself when it also alerts on its own)."""

    def __init__(self, loaded: LoadedRules, unresolved: dict[int, str]) -> None:
        self.loaded = loaded
        self.unresolved = unresolved
        self.taken: set[str] = set()
        self.conditions: dict[int, CompiledCondition | Unsupported] = {}
        self.correlated: set[int] = set()  # id() of every rule a loaded correlation uses

    def compile_all(self, parsed: list[tuple[str, SigmaRule | SigmaCorrelationRule]]) -> None:
        building_blocks: list[tuple[str, SigmaRule | SigmaCorrelationRule]] = []
        for where, rule in parsed:
            if not rule._output:  # only a building block of a correlation (generate: false)
                building_blocks.append((where, rule))
                continue
            name = str(rule.title or rule.id or "")
            try:
                detector = self.correlation(rule) if isinstance(rule, SigmaCorrelationRule) else self.rule(rule)
            except Unsupported as exc:
                self.loaded.problems.append(RuleProblem(where, name, str(exc)))
                continue
            except Exception as exc:  # e.g. a condition nested too deep for the parser: still one problem
                self.loaded.problems.append(RuleProblem(where, name, f"could not be compiled: {_one_line(exc)}"))
                continue
            self.taken.add(detector.id)
            self.loaded.detectors.append(detector)
            self.loaded.kinds[detector.id] = KIND
            self.loaded.files[detector.id] = where
        for where, rule in building_blocks:
            if id(rule) not in self.correlated:  # its correlation was skipped: so is it, and it says why
                users = ", ".join(repr(str(r.title or r.id)) for r in rule._backreferences)
                self.loaded.problems.append(RuleProblem(where, str(rule.title or rule.id or ""), (
                    f"used only by the correlation rule(s) {users} (no `generate: true`), which did not load")))

    def condition(self, rule: SigmaRule) -> CompiledCondition:
        found = self.conditions.get(id(rule))
        if found is None:
            try:
                found = _rule_condition(rule)
            except Unsupported as exc:
                found = exc
            except Exception as exc:
                found = Unsupported(f"could not be compiled: {_one_line(exc)}")
            self.conditions[id(rule)] = found
        if isinstance(found, Unsupported):
            raise found
        return found

    def rule(self, rule: SigmaRule) -> Detector:
        compiled = self.condition(rule)
        detector_id = _detector_id(rule, self.taken)
        return _detector(rule, detector_id, match=_matcher(detector_id, rule, compiled), runbook=_runbook(rule),
                         events=compiled.events)

    def correlation(self, rule: SigmaCorrelationRule) -> Detector:
        reason = self.unresolved.get(id(rule))
        if reason is not None:
            raise Unsupported(reason)
        if not rule.title.strip():
            raise Unsupported("the rule has no title")
        detector_id = _detector_id(rule, self.taken)
        plan = compile_correlation(rule, detector_id, self.condition)
        detector = _detector(rule, detector_id, match=plan.match, runbook=_runbook(rule, plan.summary),
                             events=plan.events, group_by=keys(), state=plan.state)
        self.correlated.update(id(ref.rule) for ref in rule.referenced_rules)
        return detector


def _rule_condition(rule: SigmaRule) -> CompiledCondition:
    if rule.errors:
        raise Unsupported("; ".join(_one_line(e) for e in rule.errors))
    source = rule.logsource
    if (source.product or "").lower() != "aws" or (source.service or "").lower() != "cloudtrail":
        raise Unsupported("logsource is not AWS CloudTrail (expected product: aws, service: cloudtrail)")
    if not rule.title.strip():
        raise Unsupported("the rule has no title")
    _check_modifiers(rule.detection.detections.values())
    trees = []
    for condition in rule.detection.parsed_condition:
        if "|" in condition.condition:
            raise Unsupported(f"aggregation in the condition ({condition.condition.split('|', 1)[1].strip()!r}) "
                              "is not supported")
        try:
            trees.append(condition.parse())
        except SigmaError as exc:
            raise Unsupported(f"condition {condition.condition!r}: {_one_line(exc)}") from None
    return compile_conditions(trees)


def _detector(rule: SigmaRuleBase, detector_id: str, *, match: Match, runbook: str,
              events: frozenset[tuple[str, str]] | None, group_by: Keys | None = None,
              state: StateKind | None = None) -> Detector:
    severity = _LEVELS.get(rule.level.name.lower(), DEFAULT_SEVERITY) if rule.level else DEFAULT_SEVERITY
    try:
        return Detector(
            id=detector_id,
            title=clip(rule.title.strip(), 200),
            severity=severity,
            mitre=_techniques(rule),  # empty when the tags name none: a valid Sigma rule needs no technique
            runbook=runbook,
            match=match,
            events=events or frozenset(),
            all_events=events is None,
            group_by=group_by,
            state=state,
        )
    except ValueError as exc:
        raise Unsupported(str(exc)) from None


def _check_modifiers(detections: Iterable[SigmaDetection | SigmaDetectionItem]) -> None:
    for item in detections:
        if isinstance(item, SigmaDetection):
            _check_modifiers(item.detection_items)
            continue
        for modifier in item.modifiers:
            name = reverse_modifier_mapping.get(modifier.__name__, modifier.__name__)
            if name not in SUPPORTED_MODIFIERS:
                why = _MODIFIER_REASONS.get(name, "is not implemented")
                where = f" on field {item.field!r}" if item.field else " on a keyword"
                raise Unsupported(f"modifier {name!r}{where} is not supported: {why}")


def _techniques(rule: SigmaRuleBase) -> tuple[str, ...]:
    found: list[str] = []
    for tag in rule.tags:
        if tag.namespace.lower() != "attack":
            continue
        matched = _TECHNIQUE.match(tag.name.lower())
        if matched:
            technique = "T" + matched.group(1) + (f".{matched.group(2)}" if matched.group(2) else "")
            if technique not in found:
                found.append(technique)
    return tuple(found)


def slug(text: str) -> str:
    """Lowercase kebab-case of `text`, cut at a word boundary to at most MAX_SLUG characters."""
    words = _NOT_SLUG.sub("-", text.lower()).strip("-")
    if len(words) > MAX_SLUG:
        words = words[:MAX_SLUG].rsplit("-", 1)[0] if "-" in words[:MAX_SLUG] else words[:MAX_SLUG]
    return words.strip("-")


def _detector_id(rule: SigmaRuleBase, taken: set[str]) -> str:
    by_title = slug(rule.title)
    if by_title and ID_PREFIX + by_title not in taken:
        return ID_PREFIX + by_title
    if rule.id is not None:
        by_uuid = ID_PREFIX + slug(str(rule.id))
        if by_uuid not in taken:
            return by_uuid
        raise Unsupported(f"duplicate rule id {rule.id}")
    raise Unsupported(f"another rule already loaded as {ID_PREFIX + by_title!r}; give this one a unique title "
                      "or an id: (UUID)")


def _runbook(rule: SigmaRuleBase, summary: str = "") -> str:
    lines = [rule.description.strip()] if rule.description and rule.description.strip() else []
    if summary:
        lines.append(summary)
    if not lines:
        lines.append(f"Review the matching event against the Sigma rule {rule.title.strip()!r}.")
    if rule.falsepositives:
        lines.append("False positives: " + "; ".join(str(f) for f in rule.falsepositives))
    if rule.references:
        lines.append("References: " + " ".join(str(r) for r in rule.references))
    return clip("\n".join(lines), 4000)


def _matcher(detector_id: str, rule: SigmaRule, compiled: CompiledCondition) -> Match:
    predicate = compiled.predicate
    readers = [(name, compile_path(name)) for name in compiled.fields]
    base: dict[str, Any] = {"rule": detector_id, "sigma_title": clip(rule.title.strip(), 200)}
    if rule.id is not None:
        base["sigma_id"] = str(rule.id)

    def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
        if not predicate(event):
            return None
        # Only for matches: show what the rule looked at, clipped.
        shown: dict[str, Any] = {}
        for name, read in readers:
            values = [_show(v) for v in read(event)[:CONTEXT_VALUES]]
            if values:
                shown[name] = values[0] if len(values) == 1 else values
        return Hit(context={**base, "fields": shown})

    return match


def _show(value: Any) -> Any:
    if value is None or type(value) in (bool, float):
        return value
    if type(value) is int:  # JSON encoders refuse integers past 64 bits
        return value if -(2**63) <= value < 2**64 else clip(str(value), CONTEXT_CHARS)
    if type(value) is str:
        return clip(value, CONTEXT_CHARS)
    try:  # an object or a list: its JSON, bounded
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        text = type(value).__name__
    return clip(text, CONTEXT_CHARS)


def _one_line(exc: BaseException) -> str:
    return clip(" ".join(str(exc).split()), 500)


