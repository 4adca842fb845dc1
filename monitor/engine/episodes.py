"""Episodes: repeated detections of one detector and key folded into one alert.

An alert is emitted when its episode opens (on-call hears at once), again immediately if its severity
rises, and once more when the episode closes if more events joined since the last emission. Every
emission of an episode carries the same alert id, so downstream stages update rather than repeat.

Episodes live in the state store like every other state (space "episodes", values replaced, never
changed in place), so they survive restarts, undo with their batch and are shared by replicas. An
episode expires at its end: the store hands out the ended ones in order (`due`) and they are closed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from monitor.engine.state.store import Codec, SpaceOptions, StateStore
from monitor.model.alert import MAX_EVENT_IDS, Alert, clip
from monitor.model.severity import Severity

SPACE = "episodes"
NEVER = float("inf")


@dataclass(frozen=True, slots=True)
class Episode:
    alert: Alert  # as it stands; replaced on every change, never modified (emitted alerts are shared)
    start: float
    end: float
    emitted_count: int
    emitted_severity: Severity

    def covers(self, ts: float, length: float) -> bool:
        return self.start - length <= ts < self.end

    def pending(self) -> bool:
        return self.alert.count > self.emitted_count or self.alert.severity > self.emitted_severity

    def emitted(self) -> Episode:
        return dataclasses.replace(self, emitted_count=self.alert.count, emitted_severity=self.alert.severity)


def _dump(episode: Episode) -> dict[str, Any]:
    return {"start": episode.start, "end": episode.end, "emitted_count": episode.emitted_count,
            "emitted_severity": int(episode.emitted_severity), "alert": episode.alert.to_dict()}


def _load(data: dict[str, Any]) -> Episode:
    return Episode(alert=Alert.from_dict(data["alert"]), start=float(data["start"]), end=float(data["end"]),
                   emitted_count=int(data["emitted_count"]), emitted_severity=Severity(int(data["emitted_severity"])))


CODEC = Codec(dump=_dump, load=_load)


def slot(detector_id: str, key: str) -> str:
    return f"{detector_id}\x1f{key}"


class Episodes:
    def __init__(self, store: StateStore) -> None:
        self._store = store
        store.space(SPACE, CODEC, SpaceOptions(due_index=True))

    def get(self, detector_id: str, key: str) -> Episode | None:
        episode: Episode | None = self._store.get(SPACE, slot(detector_id, key))
        return episode

    def open(self, detector_id: str, key: str, alert: Alert, start: float, length: float) -> Alert:
        """Start an episode with its first alert; returns the alert to emit."""
        name = slot(detector_id, key)
        episode = Episode(alert=alert, start=start, end=start + length, emitted_count=alert.count,
                          emitted_severity=alert.severity)
        self._store.put(SPACE, name, episode, episode.end)
        return alert

    def join(self, detector_id: str, key: str, episode: Episode, ts: float, event_ids: list[str], count: int,
             severity: Severity, out: list[Alert], label: str | None = None, values: list[str] | None = None) -> None:
        """Fold detections into an open episode; emit at once only if the severity rose."""
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
        alert = dataclasses.replace(alert, count=alert.count + count, event_time=min(alert.event_time, ts),
                                    last_event_time=max(alert.last_event_time, ts), event_ids=ids,
                                    severity=max(alert.severity, severity), context=context)
        changed = dataclasses.replace(episode, alert=alert)
        if alert.severity > episode.emitted_severity:
            changed = changed.emitted()
            out.append(alert)
        self._store.put(SPACE, slot(detector_id, key), changed, changed.end)

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
