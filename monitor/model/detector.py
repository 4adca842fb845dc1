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

# In `events`, (ANY_SOURCE, name) wants that eventName from any eventSource (rules that name only the call).
ANY_SOURCE = "*"

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


@dataclass(frozen=True, slots=True)
class Preceded:
    """Alert on a matching event that follows >= `count` `prior` events of the same key within the window.

    `match` must return a Hit for both kinds; `prior(event)` tells them apart. Prior events are
    only remembered (never alerted on their own); the key's memory is cleared when it fires.
    """

    prior: Callable[[Event], bool]
    count: int
    window_seconds: int
    label: str = "prior_events"


@dataclass(frozen=True, slots=True)
class FirstSeen:
    """Alert when `value(event)` is new for the group key: not seen within `history_seconds`.

    Quiet while learning: for `learning_seconds` after the key is first seen (`learn_per_key`),
    or after the detector saw its first event at all. History is bounded: at most `max_keys`
    keys and `max_values` values per key, least recently seen dropped first.
    """

    value: Callable[[Event], str | None]
    label: str
    history_seconds: int = 14 * 86400
    learning_seconds: int = 7 * 86400
    learn_per_key: bool = True
    max_keys: int = 100_000
    max_values: int = 256
    # Values that alert even as a key's first sighting (a signal strong on its own), learning or not.
    alert_first: Callable[[str], bool] | None = None
    # Repeats of a value that opened the key's episode join it, so the alert counts every such call.
    fold_repeats: bool = False
    # A new value alerts only when the key then holds at least this many values seen within the history
    # ("one user from four networks within the hour"); 1: any new value.
    min_distinct: int = 1
    # More (key_at, value_at) pairs of the profile row this detector learns from, in the same history.
    more_columns: tuple[tuple[int, int], ...] = ()
    # Fast path for detectors that see every event: `profile(event)` returns a row of strings (None
    # to skip the event) holding this detector's key at `key_at` and value at `value_at`. Detectors
    # sharing one profile function have it called once per event, and `match` is called only for
    # values new to the key. It must agree with `match`, `group_by` and `value`.
    profile: Callable[[Event], tuple[str | None, ...] | None] | None = None
    key_at: int = 0
    value_at: int = 1


@dataclass(frozen=True, slots=True)
class RateBaseline:
    """Per key, count matches in buckets of `bucket_seconds`; alert on a key's first bucket ever
    (after the detector's learning period) or on a bucket that reaches `factor` times the key's
    usual (mean active) bucket count over `history_seconds`, and at least `min_count`, once the
    key has `key_learning_seconds` of history."""

    bucket_seconds: int = 3600
    factor: float = 10.0
    min_count: int = 100
    history_seconds: int = 14 * 86400
    learning_seconds: int = 7 * 86400
    key_learning_seconds: int = 86400
    max_keys: int = 100_000


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
    preceded: Preceded | None = None
    first_seen: FirstSeen | None = None
    rate: RateBaseline | None = None
    # Detectors that see every event may narrow that cheaply: to callers of these userIdentity types,
    # and/or to failed calls (records with an errorCode). The engine checks both once per event.
    identity_types: frozenset[str] = frozenset()
    errors_only: bool = False
    # True when these params leave nothing to detect (an allowlist not configured yet): the engine then
    # does not run the detector at all, so an unconfigured one costs nothing.
    inert: Callable[[Mapping[str, Any]], bool] | None = None
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
        if (self.identity_types or self.errors_only) and not self.all_events:
            found.append("identity_types and errors_only narrow all_events detectors only")
        kinds = [kind for kind in (self.threshold, self.distinct, self.preceded, self.first_seen, self.rate)
                 if kind is not None]
        if kinds and self.group_by is None:
            found.append("threshold, distinct, preceded, first_seen and rate need group_by")
        if len(kinds) > 1:
            found.append("declare one of threshold, distinct, preceded, first_seen or rate")
        for rule in (self.threshold, self.distinct, self.preceded):
            if rule is not None and (rule.count < 1 or rule.window_seconds < 1):
                found.append("threshold counts and windows must be positive")
        if self.first_seen is not None and (self.first_seen.history_seconds < 1 or self.first_seen.max_keys < 1
                                            or self.first_seen.max_values < 1 or self.first_seen.learning_seconds < 0):
            found.append("first_seen history, bounds must be positive and learning not negative")
        rate = self.rate
        if rate is not None and (rate.bucket_seconds < 1 or rate.factor <= 1 or rate.min_count < 1
                                 or rate.history_seconds < rate.bucket_seconds):
            found.append("rate needs a positive bucket, a factor above 1, min_count >= 1 and history >= one bucket")
        if self.episode_seconds < 1:
            found.append("episode_seconds must be positive")
        return found

    @property
    def stateful(self) -> bool:
        return any(kind is not None for kind in (self.threshold, self.distinct, self.preceded, self.first_seen,
                                                 self.rate))
