"""The whole config file: each section read by the settings module of the stage it configures.

| section                             | read by                                   |
|-------------------------------------|-------------------------------------------|
| engine, accounts, detectors         | monitor/engine/settings.py                |
| suppressions                        | monitor/engine/suppressions_settings.py   |
| decode                              | monitor/decode/settings.py                |
| sources                             | monitor/sources/settings.py               |
| checkpoint, service                 | monitor/config/service.py                 |
| sinks, routes, alerting             | monitor/alerts/settings.py                |
| metrics                             | monitor/metrics/settings.py               |
| state                               | monitor/replicas/settings.py              |
| rules                               | monitor/rules/settings.py                 |

YAML, validated at start, every error reported with its path. Secrets are never
written in this file: sinks name an environment variable or a file that holds them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.alerts.settings import AlertingSettings, parse_alerting
from monitor.config.service import LiveConfig, parse_live_sections
from monitor.configreader import ConfigError, Section
from monitor.decode.settings import DecodeLimits, parse_decode
from monitor.engine.settings import EngineSettings, parse_engine
from monitor.metrics.settings import MetricsSettings, parse_metrics
from monitor.replicas.settings import StateSettings, parse_state
from monitor.rules.settings import RulesSettings, parse_rules

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]


@dataclass(frozen=True, slots=True)
class Config:
    engine: EngineSettings = field(default_factory=EngineSettings)  # with accounts, detectors, suppressions
    decode: DecodeLimits = field(default_factory=DecodeLimits)
    live: LiveConfig = field(default_factory=LiveConfig)  # sources, checkpoint, service
    alerting: AlertingSettings = field(default_factory=AlertingSettings)  # sinks, routes, alerting
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    rules: RulesSettings = field(default_factory=RulesSettings)  # custom and Sigma rule files
    state: StateSettings = field(default_factory=StateSettings)  # embedded, or shared by replicas in Redis
    warnings: tuple[str, ...] = ()  # deprecated names that still work, each with its path


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
    warnings: list[str] = []
    top = Section(data, "", errors, warnings)
    config = Config(
        engine=parse_engine(top),
        decode=parse_decode(top),
        live=parse_live_sections(top),
        alerting=parse_alerting(top),
        metrics=parse_metrics(top),
        rules=parse_rules(top),
        state=parse_state(top),
        warnings=tuple(warnings),
    )
    top.reject_unknown()
    if errors:
        raise ConfigError(errors)
    return config
