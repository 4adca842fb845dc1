"""Tunables for the engine and per-detector overrides (filled from config or CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.engine.suppressions import SuppressionSet
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
