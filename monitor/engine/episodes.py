"""Episodes: repeated detections of one detector and key folded into one alert.

An alert is emitted when its episode opens (on-call hears at once), again at once when something worse
joins, and once more when the episode closes if more events joined since the last emission. Worse is:
a higher severity (the alert then takes the title and context of that event); or, for a high or critical
alert of a detector without a stateful kind (where each event is a finding of its own), a changing call
(not read-only) not seen so far in the episode (a DeleteTrail after a PutEventSelectors) or a target of a
kind not listed yet (an RDS snapshot after an AMI). An emission made at once says why in
`context.updated_for`. Every emission of an episode carries the same alert id, so downstream stages update
rather than repeat.

`context.targets` lists the distinct targets ("kind:value", from each event's context) of every event
folded: the first MAX_TARGETS, and past them the first of each kind not yet listed (up to MAX_KIND_EXTRAS
more); `context.targets_omitted` counts the other distinct ones (remembered as short digests, so exact
up to MAX_OMITTED and a lower bound past it).

Episodes live in the state store like every other state (space "episodes", values replaced, never
changed in place), so they survive restarts, undo with their batch and are shared by replicas. An
episode expires at its end: the store hands out the ended ones in order (`due`) and they are closed.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Any

import msgspec

from monitor.engine.findings import EVENT_NAME, EVENT_SOURCE, Finding
from monitor.engine.state.store import Codec, SpaceOptions, StateStore
from monitor.model.alert import (
    MAX_EVENT_IDS,
    MAX_TARGET_CHARS,
    MAX_TARGETS,
    TARGETS,
    TARGETS_OMITTED,
    UPDATED_FOR,
    Alert,
    clip,
    target_kind,
)
from monitor.model.severity import Severity

SPACE = "episodes"
NEVER = float("inf")
MAX_KIND_EXTRAS = 5
MAX_OMITTED = 256
MAX_CALLS = 32  # changing calls remembered per episode; past them a new call no longer counts as worse
EAGER_FROM = Severity.HIGH  # a new call or target kind re-emits at once from this severity up
ESCALATED_AFTER = "escalated_after_seconds"


class Episode(msgspec.Struct, frozen=True):
    """One open episode. A msgspec struct: every event folded into it replaces it, and replacing a dataclass
    costs several times as much."""

    alert: Alert  # as it stands; replaced on every change, never modified (emitted alerts are shared)
    start: float
    end: float
    emitted_count: int
    emitted_severity: Severity
    calls: tuple[str, ...] = ()  # the changing calls folded so far ("cloudtrail:DeleteTrail"), at most MAX_CALLS
    omitted: tuple[str, ...] = ()  # digests of the distinct targets left out of the list, at most MAX_OMITTED

    def covers(self, ts: float, length: float) -> bool:
        return self.start - length <= ts < self.end

    def pending(self) -> bool:
        return self.alert.count > self.emitted_count or self.alert.severity > self.emitted_severity

    def emitted(self) -> Episode:
        return msgspec.structs.replace(self, emitted_count=self.alert.count, emitted_severity=self.alert.severity)


def _dump(episode: Episode) -> dict[str, Any]:
    return {"start": episode.start, "end": episode.end, "emitted_count": episode.emitted_count,
            "emitted_severity": int(episode.emitted_severity), "alert": episode.alert.to_dict(),
            "calls": list(episode.calls), "omitted": list(episode.omitted)}


def _load(data: dict[str, Any]) -> Episode:
    alert = Alert.from_dict(data["alert"])
    # Saved by an earlier version without its calls: the first event's call stands for them.
    calls = data.get("calls") or [call_label(alert.event_source, alert.event_name)]
    return Episode(alert=alert, start=float(data["start"]), end=float(data["end"]),
                   emitted_count=int(data["emitted_count"]), emitted_severity=Severity(int(data["emitted_severity"])),
                   calls=tuple(str(c) for c in calls), omitted=tuple(str(d) for d in data.get("omitted") or ()))


CODEC = Codec(dump=_dump, load=_load)


def slot(detector_id: str, key: str) -> str:
    return f"{detector_id}\x1f{key}"


def call_label(event_source: str, event_name: str) -> str:
    """"cloudtrail:DeleteTrail": a call as an episode remembers it."""
    return clip(f"{event_source.removesuffix('.amazonaws.com')}:{event_name}", 160)


def _digest(entry: str) -> str:
    return hashlib.blake2b(entry.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()


def fold_targets(context: dict[str, Any], omitted: tuple[str, ...],
                 entries: object) -> tuple[dict[str, Any], tuple[str, ...], list[str]]:
    """Add an event's targets (its context["targets"]) to an alert context's list of targets.

    Returns the context (a new dict when anything was added), the digests of the omitted targets, and the
    kinds listed now that were not before. Entries that are not non-empty strings are ignored.
    """
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        return context, omitted, []
    value = context.get(TARGETS)
    listed: list[str] = value if type(value) is list else []
    kinds = {target_kind(entry) for entry in listed}
    added: list[str] = []
    new_kinds: list[str] = []
    more: list[str] = []
    for raw in entries:
        if type(raw) is not str or not raw:
            continue
        entry = clip(raw, MAX_TARGET_CHARS)
        if entry in listed or entry in added:
            continue
        kind = target_kind(entry)
        size = len(listed) + len(added)
        if size < MAX_TARGETS or (kind not in kinds and size < MAX_TARGETS + MAX_KIND_EXTRAS):
            added.append(entry)
            if kind not in kinds:
                kinds.add(kind)
                new_kinds.append(kind)
            continue
        digest = _digest(entry)
        if digest not in omitted and digest not in more and len(omitted) + len(more) < MAX_OMITTED:
            more.append(digest)
    if not added and not more:
        return context, omitted, []
    changed = dict(context)
    if added:
        changed[TARGETS] = listed + added
    if more:
        omitted = (*omitted, *more)
        changed[TARGETS_OMITTED] = len(omitted)
    return changed, omitted, new_kinds


def _duration(seconds: float) -> str:
    """"43 s", "5 min", "2 h 5 min": how long after the first event."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    hours, minutes = divmod(whole // 60, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


class Episodes:
    def __init__(self, store: StateStore) -> None:
        self._store = store
        store.space(SPACE, CODEC, SpaceOptions(due_index=True))

    def get(self, detector_id: str, key: str) -> Episode | None:
        episode: Episode | None = self._store.get(SPACE, slot(detector_id, key))
        return episode

    def open(self, detector_id: str, key: str, alert: Alert, start: float, length: float,
             omitted: tuple[str, ...] = ()) -> Alert:
        """Start an episode with its first alert; returns the alert to emit."""
        name = slot(detector_id, key)
        episode = Episode(alert=alert, start=start, end=start + length, emitted_count=alert.count,
                          emitted_severity=alert.severity, calls=(call_label(alert.event_source, alert.event_name),),
                          omitted=omitted)
        self._store.put(SPACE, name, episode, episode.end)
        return alert

    def join(self, detector_id: str, key: str, episode: Episode, ts: float, event_ids: list[str], count: int,
             severity: Severity, out: list[Alert], label: str | None = None, values: list[str] | None = None,
             finding: Finding | None = None, eager: bool = False) -> None:
        """Fold detections into an open episode; emit at once when something worse joined (see the module doc).

        `finding` is the joining detection (its targets, call, title and context); `eager`: a new call or
        target kind counts as worse (detectors without a stateful kind)."""
        alert = episode.alert
        ids = alert.event_ids
        room = MAX_EVENT_IDS - len(ids)
        if room > 0:
            # An event already listed (one event folding several values) is listed once.
            ids = ids + [e for e in dict.fromkeys(clip(e, 128) for e in event_ids if e) if e not in ids][:room]
        context = alert.context
        if label is not None and values:
            listed = context.get(label)
            if isinstance(listed, list) and len(listed) < MAX_EVENT_IDS:
                added = [v for v in dict.fromkeys(clip(value, 256) for value in values) if v not in listed]
                if added:
                    context = {**context, label: (listed + added)[:MAX_EVENT_IDS]}
        title = alert.title
        calls, omitted = episode.calls, episode.omitted
        new_call = ""
        new_kinds: list[str] = []
        if finding is not None:
            if severity > alert.severity:  # the alert now describes its worst event
                title, context = self._escalated(alert, context, finding, ts)
            entries = finding.context.get(TARGETS)
            if entries:
                context, omitted, new_kinds = fold_targets(context, omitted, entries)
            if not finding.read_only:  # reads do not make an alert worse (root's Describe* calls)
                call = call_label(finding.facts[EVENT_SOURCE], finding.facts[EVENT_NAME])
                if call not in calls and len(calls) < MAX_CALLS:
                    calls = (*calls, call)
                    new_call = call
        alert = alert.folded(count=alert.count + count, event_time=min(alert.event_time, ts),
                             last_event_time=max(alert.last_event_time, ts), event_ids=ids,
                             severity=max(alert.severity, severity), title=title, context=context)
        changed = msgspec.structs.replace(episode, alert=alert, calls=calls, omitted=omitted)
        reason = ""
        if alert.severity > episode.emitted_severity:
            reason = f"severity rose to {alert.severity.label}"
        elif eager and alert.severity >= EAGER_FROM:
            if new_call:
                reason = f"new call {new_call}"
            elif new_kinds:
                reason = "new target kind " + ", ".join(new_kinds)
        if reason:
            changed = changed.emitted()
            # The reason goes with this emission only: the episode keeps the alert without it.
            out.append(dataclasses.replace(alert, context={**alert.context, UPDATED_FOR: reason}))
        self._store.put(SPACE, slot(detector_id, key), changed, changed.end)

    @staticmethod
    def _escalated(alert: Alert, context: dict[str, Any], finding: Finding, ts: float) -> tuple[str, dict[str, Any]]:
        """The title and context of an alert whose severity `finding` raised: its title, its context over the old."""
        extra = {name: value for name, value in finding.context.items() if name != TARGETS}
        title = finding.title
        if finding.escalation_title:
            after = ts - alert.event_time
            title = clip(finding.escalation_title.replace("{after}", _duration(after)), 200)
            extra[ESCALATED_AFTER] = max(0, round(after))
        return title, {**context, **extra}

    def close(self, detector_id: str, key: str, out: list[Alert]) -> None:
        self._close(slot(detector_id, key), out)

    def _close(self, name: str, out: list[Alert]) -> None:
        episode: Episode | None = self._store.get(SPACE, name)
        if episode is None:
            return
        self._store.delete(SPACE, name)
        if episode.pending():
            out.append(episode.alert)

    def close_until(self, horizon: float, out: list[Alert]) -> None:
        """Close every episode that ended before `horizon`, emitting final updates."""
        for name in self._store.due(SPACE, horizon):
            self._close(name, out)

    def close_all(self, out: list[Alert]) -> None:
        self.close_until(NEVER, out)

    def forget_except(self, detector_ids: set[str]) -> None:
        """Delete the episodes of detectors not in `detector_ids`, without emitting anything."""
        for name, episode in self._store.items(SPACE):
            if episode.alert.detector not in detector_ids:
                self._store.delete(SPACE, name)

    def expire_at_end(self) -> None:
        """State saved by an earlier version kept episodes without an expiry: give each its end."""
        for name, episode in self._store.items(SPACE):
            if self._store.expires_of(SPACE, name) != episode.end:
                self._store.put(SPACE, name, episode, episode.end)

    def __len__(self) -> int:
        return self._store.size(SPACE)
