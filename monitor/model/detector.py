"""The detector contract.

A detector is data plus one pure function. Its identity (id, title, severity, MITRE techniques,
runbook) is written once; `events` names the `(eventSource, eventName)` pairs it wants so the engine
can index it, or `all_events=True` opts in to every event. `match(event, params)` looks at one
event and returns a `Hit` (or None); it is the only place a detector's logic lives. What the
detector counts is in the Hit: the group key (unless the detector declares `group_by`), the value a
distinct count or first-seen history learns, whether the event only precedes a trigger.

A detector declares at most one stateful kind in `state` (`Threshold | DistinctCount | Preceded |
FirstSeen | RateBaseline | Ordered`); the engine carries it out, owns the state, and folds repeated
detections of one key into one alert per episode.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from monitor.model.event import Event, UserIdentity
from monitor.model.severity import Severity

# In `events`, (ANY_SOURCE, name) wants that eventName from any eventSource (rules that name only the call).
ANY_SOURCE = "*"
# In `identity_types`, kinds of AssumedRole session besides the type itself, each told by a cheap test of the
# session's names that the engine runs once per event (most role sessions are none of them):
# - IAM Identity Center sessions (people): sessions of an AWSReservedSSO_ role;
IDENTITY_CENTER = "IdentityCenter"
IDENTITY_CENTER_MARK = ":assumed-role/AWSReservedSSO_"
# - EC2 instance sessions: named after the instance ("AROA...:i-0123456789abcdef0");
INSTANCE_SESSION = "InstanceSession"
# - ECS task and Lambda function sessions: named after the task (its 32-character id), or sessions of a role
#   named the way the Lambda console names execution roles ("<function>-role-<suffix>").
TASK_OR_FUNCTION_SESSION = "TaskOrFunctionSession"




def identity_center_session(identity: UserIdentity) -> bool:
    return IDENTITY_CENTER_MARK in identity.arn


def instance_session(identity: UserIdentity) -> bool:
    return ":i-" in identity.principalId


def task_or_function_session(identity: UserIdentity) -> bool:
    principal_id = identity.principalId
    return len(principal_id) - principal_id.rfind(":") == 33 or "-role-" in identity.arn


SESSION_KINDS: Mapping[str, Callable[[UserIdentity], bool]] = types.MappingProxyType({
    IDENTITY_CENTER: identity_center_session, INSTANCE_SESSION: instance_session,
    TASK_OR_FUNCTION_SESSION: task_or_function_session,
})

_ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_MITRE_PATTERN = re.compile(r"^T\d{4}(?:\.\d{3})?$")
_NO_CONTEXT: Mapping[str, Any] = types.MappingProxyType({})


class Hit(msgspec.Struct, frozen=True, gc=False):
    """A positive verdict on one event; a field left None keeps the detector's default.

    A msgspec struct rather than a dataclass: detectors that see every event build many, and this
    costs a tenth as much.

    `context["targets"]` (optional) names what the event acted on, as "kind:value" strings
    (`monitor.model.alert.target`: "user:deploy-bot", "trail:org-trail"); an alert that folds several
    events lists every distinct one (`detectors/_common.py` and `_changes.py` fill it for most detectors).
    """

    severity: Severity | None = None
    title: str | None = None
    context: Mapping[str, Any] = _NO_CONTEXT
    # The group key, when `match` classifies the actor itself (else the detector's `group_by`).
    key: str | None = None
    # DistinctCount and FirstSeen: the value counted or learned for the key.
    value: str | None = None
    # Preceded: this event only counts toward a later trigger of the same key.
    prior: bool = False
    # FirstSeen: this value alerts on its own, even as the key's first sighting or while learning.
    standalone: bool = False
    # FirstSeen: learn this value for the key but never alert on it (an address listed as the key's own).
    quiet: bool = False
    # The title the alert takes when this Hit raises the severity of its open episode ("failed, then
    # succeeded {after} later"): `{after}` becomes the time since the episode's first event.
    escalation_title: str | None = None
    # Preceded: how many prior events this trigger needs (a per-key threshold); None: the kind's `count`.
    priors_needed: int | None = None


@dataclass(frozen=True, slots=True)
class Threshold:
    """Alert when `count` matching events share a group key within `window_seconds` of event time."""

    count: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class DistinctCount:
    """Alert when `count` distinct values (`Hit.value`) share a group key within the window."""

    count: int
    window_seconds: int
    label: str


@dataclass(frozen=True, slots=True)
class Preceded:
    """Alert on a matching event that follows >= `count` prior events (`Hit.prior`) of the same key
    within the window. Prior events are only remembered; the key's memory is cleared when it fires."""

    count: int
    window_seconds: int
    label: str = "prior_events"


@dataclass(frozen=True, slots=True)
class FirstSeen:
    """Alert when `Hit.value` is new for the group key: not seen within `history_seconds`.

    Quiet while learning: for `learning_seconds` after the key is first seen (`learn_per_key`),
    or after the detector saw its first event at all; a brand-new key's burst (`learning_burst`)
    alerts anyway. History is bounded: at most `max_keys` keys and `max_values` values per key,
    least recently seen dropped first.
    """

    label: str
    history_seconds: int = 14 * 86400
    learning_seconds: int = 7 * 86400
    learn_per_key: bool = True
    max_keys: int = 100_000
    max_values: int = 256
    # Repeats of a value that opened the key's episode join it, so the alert counts every such call.
    fold_repeats: bool = False
    # A new value alerts only when the key then holds at least this many values seen within the history
    # ("one user from four networks within the hour"); 1: any new value.
    min_distinct: int = 1
    # A key first seen after the detector's own learning period is brand new (a principal created minutes
    # ago): while it learns, a new value alerts anyway once it has shown this many values within
    # `burst_seconds` ("a new principal acting in three regions in its first hours"); 0: never.
    learning_burst: int = 0
    burst_seconds: int = 6 * 3600


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


@dataclass(frozen=True, slots=True)
class Ordered:
    """Alert when a key's matches carry every one of `steps` (`Hit.value`) in that order within
    `window_seconds` of event time, each step a different event (events of one second count as in
    order). Sigma's `temporal_ordered` correlation."""

    steps: tuple[str, ...]
    window_seconds: int
    label: str = "sequence"


@dataclass(frozen=True, slots=True)
class Sequences:
    """Attack sequences: the steps (alerts and signals of every other detector) of one actor, linked across its
    access keys and role sessions (`Hit.context["links"]` of this detector's own matches), within
    `window_seconds` of event time; one incident alert when they span `min_tactics` tactics (or follow a named
    sequence, `params["sequences"]`). Links expire after `link_seconds`; at most `max_actors` actors and
    `max_links` links are kept, the least recently active dropped first. An open incident is emitted again
    at most once per `update_seconds` of event time, and always at its end."""

    window_seconds: int = 86400
    link_seconds: int = 86400
    min_tactics: int = 3
    update_seconds: int = 60
    max_actors: int = 50_000
    max_links: int = 100_000


StateKind = Threshold | DistinctCount | Preceded | FirstSeen | RateBaseline | Ordered | Sequences

# The facts a declared group key may join, each a pure function of the event (see `monitor.model.facts`).
KEY_FACTS = ("account", "principal", "source_ip", "region", "user", "user_agent", "event_source", "event_name",
             "identity_type", "access_key")


@dataclass(frozen=True, slots=True)
class Keys:
    """A group key declared by the facts it joins with "|": `keys("account", "principal")`.

    `keys()` (no facts) means the key comes from each Hit (`Hit.key`): `match` classifies the actor,
    so the verdict and the key can never disagree.
    """

    facts: tuple[str, ...]

    def __post_init__(self) -> None:
        unknown = [name for name in self.facts if name not in KEY_FACTS]
        if unknown:
            raise ValueError(f"unknown group key fact(s) {unknown}; known: {', '.join(KEY_FACTS)}")


def keys(*facts: str) -> Keys:
    return Keys(tuple(facts))


Match = Callable[[Event, Mapping[str, Any]], Hit | Sequence[Hit] | None]
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
    # Repeats with the same key fold into one alert per episode (count, first and last time, event ids).
    # None: one alert per matching event (unless the Hit carries a key).
    group_by: Keys | GroupKey | None = None
    episode_seconds: int = 3600
    state: StateKind | None = None
    # Detectors that see every event may narrow that cheaply: to callers of these userIdentity types
    # (or SESSION_KINDS, kinds of AssumedRole session), to failed calls (records with an errorCode), or to
    # calls that change something (readOnly not true). The engine works each out once per event.
    identity_types: frozenset[str] = frozenset()
    # The identity types given the params, when they depend on them (a configured list of roles widens a
    # session kind to every role session); replaces `identity_types`.
    identity_types_for: Callable[[Mapping[str, Any]], frozenset[str]] | None = None
    errors_only: bool = False
    changes_only: bool = False
    # True when these params leave nothing to detect (an allowlist not configured yet): the engine then
    # does not run the detector at all, so an unconfigured one costs nothing.
    inert: Callable[[Mapping[str, Any]], bool] | None = None
    # Tunables with their defaults; config may override them by name.
    params: Mapping[str, Any] = field(default_factory=dict)
    # A weak signal, not worth a page on its own (recon, refused calls, credential discovery): the engine
    # folds it into episodes like an alert and remembers it for attack sequences, counts it in metrics, and
    # never sends it to a sink; `scan --signals` shows it.
    signal: bool = False

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
        # Empty is allowed for rules users load (a Sigma rule may name no technique); the built-in
        # catalog must name its techniques (`monitor/rules/builtin.py` refuses one that does not).
        if any(not _MITRE_PATTERN.match(t) for t in self.mitre):
            found.append("mitre must list ATT&CK technique ids like T1078 or T1078.004")
        if self.all_events == bool(self.events):
            found.append("declare either events or all_events=True, exactly one")
        narrowed = bool(self.identity_types or self.identity_types_for)
        if (narrowed or self.errors_only or self.changes_only) and not self.all_events:
            found.append("identity_types, errors_only and changes_only narrow all_events detectors only")
        if sum((narrowed, self.errors_only, self.changes_only)) > 1:
            found.append("narrow by one of identity_types, errors_only or changes_only")
        if self.state is not None and self.group_by is None:
            found.append("a stateful detector needs group_by (keys() when match gives Hit.key)")
        found.extend(_kind_problems(self.state))
        if self.episode_seconds < 1:
            found.append("episode_seconds must be positive")
        return found

    @property
    def stateful(self) -> bool:
        return self.state is not None


def _kind_problems(state: StateKind | None) -> list[str]:
    if isinstance(state, Threshold | DistinctCount | Preceded) and (state.count < 1 or state.window_seconds < 1):
        return ["threshold counts and windows must be positive"]
    if isinstance(state, Ordered) and (not state.steps or state.window_seconds < 1):
        return ["a sequence needs at least one step and a positive window"]
    if isinstance(state, FirstSeen) and (state.history_seconds < 1 or state.max_keys < 1 or state.max_values < 1
                                         or state.learning_seconds < 0 or state.min_distinct < 1
                                         or state.learning_burst < 0 or state.burst_seconds < 1):
        return ["first_seen history, bounds, min_distinct and burst_seconds must be positive, learning and "
                "learning_burst not negative"]
    if isinstance(state, Sequences) and min(state.window_seconds, state.link_seconds, state.min_tactics,
                                            state.update_seconds, state.max_actors, state.max_links) < 1:
        return ["sequence windows, bounds and min_tactics must be positive"]
    if isinstance(state, RateBaseline) and (state.bucket_seconds < 1 or state.factor <= 1 or state.min_count < 1
                                            or state.history_seconds < state.bucket_seconds):
        return ["rate needs a positive bucket, a factor above 1, min_count >= 1 and history >= one bucket"]
    return []
