"""The detector contract.

A detector is data plus one pure function. Its identity (id, title, severity,
MITRE techniques, runbook) is written once; `events` names the
`(eventSource, eventName)` pairs it wants so the engine can index it, or
`all_events=True` opts in to every event. `match(event, params)` looks at one
event and returns a `Hit` (or None). Everything stateful (thresholds,
distinct counts, grouping of repeats into one episode) is declared here and
carried out by the engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.model.event import Event
from monitor.model.severity import Severity

_ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_MITRE_PATTERN = re.compile(r"^T\d{4}(?:\.\d{3})?$")


@dataclass(frozen=True, slots=True)
class Hit:
    """A positive verdict on one event; any field left None keeps the detector's default."""

    severity: Severity | None = None
    title: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Threshold:
    """Alert when `count` matching events share a group key within `window_seconds` of event time."""

    count: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class DistinctCount:
    """Alert when `count` distinct values of `value(event)` share a group key within the window."""

    value: Callable[[Event], str | None]
    count: int
    window_seconds: int
    label: str


Match = Callable[[Event, Mapping[str, Any]], Hit | None]
GroupKey = Callable[[Event], str | None]


@dataclass(frozen=True)
class Detector:
    id: str
    title: str
    severity: Severity
    mitre: tuple[str, ...]
    runbook: str
    match: Match
    events: frozenset[tuple[str, str]] = frozenset()
    all_events: bool = False
    # Repeats with the same key fold into one alert per episode (count, first
    # and last time, event ids). None: one alert per matching event.
    group_by: GroupKey | None = None
    episode_seconds: int = 3600
    threshold: Threshold | None = None
    distinct: DistinctCount | None = None
    # Tunables with their defaults; config may override them by name.
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError(f"detector {self.id!r}: " + "; ".join(problems))

    def problems(self) -> list[str]:
        found: list[str] = []
        if not _ID_PATTERN.match(self.id):
            found.append("id must be kebab-case")
        if not self.title.strip():
            found.append("title is empty")
        if not self.runbook.strip():
            found.append("runbook is empty")
        if not self.mitre or any(not _MITRE_PATTERN.match(t) for t in self.mitre):
            found.append("mitre must list ATT&CK technique ids like T1078 or T1078.004")
        if self.all_events == bool(self.events):
            found.append("declare either events or all_events=True, exactly one")
        if (self.threshold or self.distinct) and self.group_by is None:
            found.append("threshold and distinct need group_by")
        if self.threshold and self.distinct:
            found.append("declare threshold or distinct, not both")
        for rule in (self.threshold, self.distinct):
            if rule is not None and (rule.count < 1 or rule.window_seconds < 1):
                found.append("threshold counts and windows must be positive")
        if self.episode_seconds < 1:
            found.append("episode_seconds must be positive")
        return found

    @property
    def stateful(self) -> bool:
        return self.threshold is not None or self.distinct is not None
