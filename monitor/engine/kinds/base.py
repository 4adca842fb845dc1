"""What every stateful kind shares: the batch it applies to, alerts from findings, and episodes.

A kind turns one detector's findings into state changes and alerts. `Batch` carries what a kind needs
besides the finding: the slice's eventIDs and times, the watermark, and where alerts go. Each kind
decides whether a finding fires (a window fills, a value is new, ...); what happens next is the same
for all of them and lives here: fold into the open episode of the key, or open a new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from monitor.engine.episodes import SPACE as EPISODES
from monitor.engine.episodes import Episodes, fold_targets
from monitor.engine.episodes import slot as episode_slot
from monitor.engine.findings import (
    ACCOUNT,
    EVENT_NAME,
    EVENT_SOURCE,
    PRINCIPAL,
    REGION,
    SOURCE_IP,
    USER_AGENT,
    Finding,
)
from monitor.engine.state.store import PLAIN, Codec, SpaceOptions, StateStore
from monitor.model.alert import MAX_EVENT_IDS, TARGETS, TARGETS_OMITTED, Alert, clip, fingerprint
from monitor.model.attack import tactics_of
from monitor.model.detector import Detector


@dataclass(slots=True)
class Fired:
    """A kind's decision to alert: where the alert starts, what it counts, what it adds to the context."""

    start: float
    count: int
    event_ids: list[str]
    values: list[str] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Batch:
    event_ids: list[str]
    times: list[float]  # usable times: an unusable one is replaced by where it is placed
    fresh: list[bool]  # False for an event already applied (a duplicate eventID)
    watermark: float  # the newest event time before this batch
    alerts: list[Alert]
    duplicates: bool = False  # any False in `fresh`


class Kind:
    """Base of every kind: a detector, the store and the episodes, and the alert plumbing."""

    # A new call or target kind joining a high alert re-emits it at once: kinds where each event is a finding
    # of its own (no stateful kind) say so; in bursts and learners new calls and targets are the usual case.
    eager_updates: ClassVar[bool] = False

    def __init__(self, detector: Detector, store: StateStore, episodes: Episodes,
                 account_aliases: Mapping[str, str], lateness: float) -> None:
        self.detector = detector
        self.id = detector.id
        self.store = store
        self.episodes = episodes
        self.aliases = account_aliases
        self.lateness = lateness
        self.tactics = tactics_of(detector.mitre)

    def apply(self, finding: Finding, ts: float, batch: Batch) -> None:
        raise NotImplementedError

    def reads(self, finding: Finding) -> list[tuple[str, str]]:
        """The (space, key) pairs `apply` may read for this finding: a shared store fetches them first.

        A kind that reads a key it does not list here would see it absent with a shared store; the
        engine tests run every detector's samples against a store that refuses such reads."""
        if finding.key is None:
            return []
        return [(EPISODES, episode_slot(self.id, finding.key))]

    def new_alert(self, finding: Finding, start: float, last: float, alert_id: str, event_ids: list[str],
                  count: int = 1) -> Alert:
        facts = finding.facts
        detector = self.detector
        context = finding.context
        if type(context.get(TARGETS)) in (list, tuple):  # the Hit's targets, clipped and capped as an episode's
            context, _, _ = fold_targets({k: v for k, v in context.items() if k != TARGETS}, (), context[TARGETS])
        return Alert(
            id=alert_id, detector=detector.id, title=finding.title, severity=finding.severity,
            account=facts[ACCOUNT], account_alias=self.aliases.get(facts[ACCOUNT], ""), region=facts[REGION],
            principal=facts[PRINCIPAL], source_ip=facts[SOURCE_IP], user_agent=facts[USER_AGENT],
            event_source=facts[EVENT_SOURCE], event_name=facts[EVENT_NAME], event_time=start,
            last_event_time=max(last, start), event_ids=[clip(e, 128) for e in event_ids if e][:MAX_EVENT_IDS],
            count=count, mitre=detector.mitre, runbook=detector.runbook, context=context,
            tactics=self.tactics, signal=detector.signal,
        )

    def open_episode(self, finding: Finding, ts: float, key: str, fired: Fired, batch: Batch) -> None:
        detector = self.detector
        alert = self.new_alert(finding, fired.start, ts, fingerprint(detector.id, key, str(int(fired.start))),
                               fired.event_ids, fired.count)
        if fired.context:
            alert.context = {**alert.context, **fired.context}
        omitted: tuple[str, ...] = ()
        if TARGETS_OMITTED in alert.context:  # one event named more targets than an alert lists
            _, omitted, _ = fold_targets({}, (), finding.context.get(TARGETS))
        batch.alerts.append(self.episodes.open(detector.id, key, alert, fired.start, detector.episode_seconds,
                                               omitted))

    def join_open_episode(self, finding: Finding, ts: float, key: str, batch: Batch, *, count: int = 1,
                          label: str | None = None, values: list[str] | None = None) -> bool:
        """Fold the event into the key's open episode when that covers `ts` (True); else close it (False)."""
        episode = self.episodes.get(self.id, key)
        if episode is None:
            return False
        if episode.covers(ts, self.detector.episode_seconds):
            self.episodes.join(self.id, key, episode, ts, [batch.event_ids[finding.position]], count,
                               finding.severity, batch.alerts, label, values, finding, self.eager_updates)
            return True
        self.episodes.close(self.id, key, batch.alerts)
        return False

    def fold_or_open(self, finding: Finding, ts: float, key: str, fired: Fired, batch: Batch, *,
                     count: int | None = None, label: str | None = None) -> None:
        """Join the key's open episode when it covers `ts`, else close it and open a new one."""
        if not self.join_open_episode(finding, ts, key, batch, count=fired.count if count is None else count,
                                      label=label, values=fired.values):
            self.open_episode(finding, ts, key, fired, batch)

    def expiry(self, ts: float, window: float) -> float:
        """When a key last written at `ts` may be forgotten: past its window and the allowed lateness."""
        return ts + window + self.lateness


STARTED = "started"  # the space holding each learning detector's first event time
NEVER = float("inf")


class StatefulKind(Kind):
    """A kind that keeps one value per group key in a space of its own, `<prefix>/<detector id>`."""

    prefix: ClassVar[str]
    codec: ClassVar[Codec] = PLAIN
    sweep_every: ClassVar[float] = 300.0  # event-time seconds between sweeps of expired values
    learns: ClassVar[bool] = False  # also keeps the detector's first event time (learning is counted from it)

    def __init__(self, detector: Detector, store: StateStore, episodes: Episodes,
                 account_aliases: Mapping[str, str], lateness: float) -> None:
        super().__init__(detector, store, episodes, account_aliases, lateness)
        self.space = f"{self.prefix}/{detector.id}"
        store.space(self.space, self.codec, SpaceOptions(sweep_every=self.sweep_every))
        if self.learns:
            store.space(STARTED, options=SpaceOptions(sweep_every=NEVER))

    def reads(self, finding: Finding) -> list[tuple[str, str]]:
        assert finding.key is not None
        keys = [*super().reads(finding), (self.space, finding.key)]
        if self.learns:
            keys.append((STARTED, self.id))
        return keys
