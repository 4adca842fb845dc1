"""The trailsentry config file: YAML, validated at start, every error reported with its path.

Secrets are never written in this file: sinks name an environment variable or
a file that holds them (see the alerting section of the README).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.alerts.settings import AlertingSettings, parse_alerting
from monitor.configreader import ConfigError, Section
from monitor.decode import DEFAULT_MAX_DECOMPRESSED_BYTES
from monitor.engine.settings import (
    DEFAULT_DEDUPE_CAPACITY,
    DEFAULT_LATENESS_SECONDS,
    DetectorSettings,
    EngineSettings,
)
from monitor.metrics.settings import MetricsSettings, parse_metrics
from monitor.model.severity import Severity
from monitor.rules.config import RulesSettings, parse_rules
from monitor.service_config import LiveConfig, parse_live_sections
from monitor.suppress_config import parse_suppressions

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]


@dataclass(frozen=True, slots=True)
class Config:
    engine: EngineSettings = field(default_factory=EngineSettings)
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES
    live: LiveConfig = field(default_factory=LiveConfig)  # sources, checkpoint, service (monitor/service_config.py)
    alerting: AlertingSettings = field(default_factory=AlertingSettings)  # sinks, routes, alerting
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    rules: RulesSettings = field(default_factory=RulesSettings)  # custom and Sigma rule files (monitor/rules/)


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # Only the position: the parser's own message quotes the offending line, which may hold a secret.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError([f"{path}: not valid YAML{where}: {problem}"]) from None
    config = parse_config(data)
    return dataclasses.replace(config, rules=config.rules.relative_to(path.parent))


def parse_config(data: Any) -> Config:
    errors: list[str] = []
    top = Section(data, "", errors)
    engine_section = top.section("engine")
    lateness = engine_section.integer("lateness_seconds", DEFAULT_LATENESS_SECONDS, minimum=0)
    dedupe = engine_section.integer("dedupe_capacity", DEFAULT_DEDUPE_CAPACITY, minimum=1)
    engine_section.reject_unknown()
    decode_section = top.section("decode")
    max_bytes = decode_section.integer("max_decompressed_bytes", DEFAULT_MAX_DECOMPRESSED_BYTES, minimum=1024)
    decode_section.reject_unknown()
    aliases = _account_aliases(top.section("accounts"))
    detectors = _detector_settings(top.section("detectors"))
    suppressions = parse_suppressions(top)  # monitor/suppress_config.py
    live = parse_live_sections(top)
    alerting = parse_alerting(top)
    metrics = parse_metrics(top)
    rules = parse_rules(top)
    top.reject_unknown()
    if errors:
        raise ConfigError(errors)
    engine = EngineSettings(lateness_seconds=lateness, dedupe_capacity=dedupe,
                            account_aliases=aliases, detectors=detectors, suppressions=suppressions)
    return Config(engine=engine, max_decompressed_bytes=max_bytes, live=live, alerting=alerting, metrics=metrics,
                  rules=rules)


def _account_aliases(section: Section) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for account, alias in section.data.items():
        key = str(account)
        if not (key.isdigit() and len(key) == 12):
            section.error(key, "account ids are 12 digits (quote them in YAML)")
        elif not isinstance(alias, str):
            section.error(key, "alias must be a string")
        else:
            aliases[key] = alias
    return aliases


def _detector_settings(section: Section) -> dict[str, DetectorSettings]:
    settings: dict[str, DetectorSettings] = {}
    for detector_id in section.data:
        entry = section.section(str(detector_id))
        settings[str(detector_id)] = DetectorSettings(
            enabled=entry.boolean("enabled", True),
            severity=entry.parsed("severity", Severity.parse, None),
            threshold=entry.optional_integer("threshold"),
            window_seconds=entry.optional_integer("window_seconds"),
            episode_seconds=entry.optional_integer("episode_seconds"),
            learning_seconds=entry.optional_integer("learning_seconds", minimum=0),
            params=entry.mapping("params"),
            extra_events=frozenset(_event_pairs(entry)),
        )
        entry.reject_unknown()
    return settings


def _event_pairs(entry: Section) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for text in entry.strings("extra_events"):
        source, _, name = text.partition(":")
        if not source.endswith(".amazonaws.com") or not name:
            entry.error("extra_events", f"{text!r}: write 'eventSource:eventName', e.g. iam.amazonaws.com:CreateRole")
            continue
        pairs.append((source, name))
    return pairs

