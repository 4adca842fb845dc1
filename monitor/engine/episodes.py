"""Episodes: repeated detections of one detector and key folded into one alert.

An alert is emitted when the episode opens (on-call hears at once), again
immediately if its severity rises, and once more when the episode closes if
more events joined since the last emission. Every emission of an episode
carries the same alert id, so downstream stages update rather than repeat.
"""

from __future__ import annotations

import dataclasses
import heapq
from dataclasses import dataclass
from typing import Any

from monitor.model.alert import MAX_EVENT_IDS, Alert
from monitor.model.severity import Severity


@dataclass(slots=True)
class Episode:
    alert: Alert
    start: float
    end: float
    emitted_count: int
    emitted_severity: Severity

    def covers(self, ts: float, length: float) -> bool:
        return self.start - length <= ts < self.end

    def add(self, ts: float, event_id: str, count: int = 1) -> None:
        alert = self.alert
        alert.count += count
        if ts < alert.event_time:
            alert.event_time = ts
        if ts > alert.last_event_time:
            alert.last_event_time = ts
        if event_id and len(alert.event_ids) < MAX_EVENT_IDS:
            alert.event_ids.append(event_id)

    def escalate(self, severity: Severity) -> bool:
        if severity > self.alert.severity:
            self.alert.severity = severity
        return self.alert.severity > self.emitted_severity

    def pending(self) -> bool:
        return self.alert.count > self.emitted_count or self.alert.severity > self.emitted_severity

    def emit(self) -> Alert:
        self.emitted_count = self.alert.count
        self.emitted_severity = self.alert.severity
        return snapshot(self.alert)


def snapshot(alert: Alert) -> Alert:
    return dataclasses.replace(alert, event_ids=list(alert.event_ids), context=dict(alert.context))


class EpisodeBook:
    """Open episodes by (detector id, group key), closed in order of their end time."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], Episode] = {}
        self._ends: list[tuple[float, int, tuple[str, str]]] = []
        self._sequence = 0

    def get(self, key: tuple[str, str]) -> Episode | None:
        return self._open.get(key)

    def open(self, key: tuple[str, str], episode: Episode) -> None:
        self._open[key] = episode
        self._sequence += 1
        heapq.heappush(self._ends, (episode.end, self._sequence, key))

    def close(self, key: tuple[str, str]) -> Alert | None:
        episode = self._open.pop(key, None)
        if episode is not None and episode.pending():
            return episode.emit()
        return None

    def close_until(self, horizon: float) -> list[Alert]:
        """Close every episode that ended before `horizon`; return the final updates."""
        updates: list[Alert] = []
        ends = self._ends
        while ends and ends[0][0] < horizon:
            end, _, key = heapq.heappop(ends)
            episode = self._open.get(key)
            if episode is not None and episode.end == end:
                update = self.close(key)
                if update is not None:
                    updates.append(update)
        return updates

    def snapshot(self) -> list[dict[str, Any]]:
        """Open episodes as plain data, so a restart continues them under the same alert ids."""
        return [{"detector": detector_id, "key": key, "start": e.start, "end": e.end,
                 "emitted_count": e.emitted_count, "emitted_severity": int(e.emitted_severity),
                 "alert": e.alert.to_dict()}
                for (detector_id, key), e in self._open.items()]

    def restore(self, state: list[dict[str, Any]], known_detectors: set[str]) -> None:
        for item in state:
            if item["detector"] not in known_detectors:
                continue  # a detector disabled or removed since: its episode ends here
            episode = Episode(alert=Alert.from_dict(item["alert"]), start=float(item["start"]),
                              end=float(item["end"]), emitted_count=int(item["emitted_count"]),
                              emitted_severity=Severity(int(item["emitted_severity"])))
            self.open((str(item["detector"]), str(item["key"])), episode)

    def close_all(self) -> list[Alert]:
        return self.close_until(float("inf"))

    def __len__(self) -> int:
        return len(self._open)
