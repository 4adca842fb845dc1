"""Tunables for the engine and per-detector overrides: the `engine`, `accounts`, `detectors` and
`suppressions` sections of the config (suppressions are read by monitor/engine/suppressions_settings.py).

    engine: {lateness_seconds: 1200, dedupe_capacity: 500000}
    accounts: {"111122223333": prod}
    detectors:
      console-login-failure-burst: {threshold: 5, window_seconds: 600}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.configreader import Section
from monitor.engine.suppressions import SuppressionSet
from monitor.engine.suppressions_settings import parse_suppressions
from monitor.model.severity import Severity

DEFAULT_LATENESS_SECONDS = 20 * 60
DEFAULT_DEDUPE_CAPACITY = 500_000


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    enabled: bool = True
    severity: Severity | None = None
    threshold: int | None = None
    window_seconds: int | None = None
    episode_seconds: int | None = None
    learning_seconds: int | None = None  # first-seen and usual-rate detectors: the quiet learning period
    params: dict[str, Any] = field(default_factory=dict)
    # Extra (eventSource, eventName) pairs the detector should also see.
    extra_events: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True, slots=True)
class EngineSettings:
    lateness_seconds: int = DEFAULT_LATENESS_SECONDS
    dedupe_capacity: int = DEFAULT_DEDUPE_CAPACITY
    account_aliases: dict[str, str] = field(default_factory=dict)
    detectors: dict[str, DetectorSettings] = field(default_factory=dict)
    suppressions: SuppressionSet = field(default_factory=SuppressionSet)  # monitor/engine/suppressions.py


def parse_engine(top: Section) -> EngineSettings:
    """Read `engine`, `accounts`, `detectors` and `suppressions`; errors go to `top`'s error list."""
    section = top.section("engine")
    lateness = section.integer("lateness_seconds", DEFAULT_LATENESS_SECONDS, minimum=0)
    dedupe = section.integer("dedupe_capacity", DEFAULT_DEDUPE_CAPACITY, minimum=1)
    section.reject_unknown()
    return EngineSettings(lateness_seconds=lateness, dedupe_capacity=dedupe,
                          account_aliases=_account_aliases(top.section("accounts")),
                          detectors=_detector_settings(top.section("detectors")),
                          suppressions=parse_suppressions(top))


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

