"""Detectors without a stateful kind: one alert per event, or repeats of a key folded into episodes."""

from __future__ import annotations

from monitor.engine.findings import EVENT_NAME, EVENT_SOURCE, EVENT_TIME, PRINCIPAL, SOURCE_IP, Finding
from monitor.engine.kinds.base import Batch, Fired, Kind
from monitor.model.alert import fingerprint


class Single(Kind):
    """No group key: every matching event is its own alert, identified by its eventID."""

    eager_updates = True  # for the Hits that name their own key

    def apply(self, finding: Finding, ts: float, batch: Batch) -> None:
        event_id = batch.event_ids[finding.position]
        if finding.key is not None:  # this Hit named its own key: repeats of it fold
            self.fold_or_open(finding, ts, finding.key, Fired(start=ts, count=1, event_ids=[event_id]), batch)
            return
        facts = finding.facts
        # Without an eventID, what makes this event this event.
        identity = event_id or "\x1f".join((facts[EVENT_TIME], facts[PRINCIPAL], facts[EVENT_SOURCE],
                                            facts[EVENT_NAME], facts[SOURCE_IP]))
        batch.alerts.append(self.new_alert(finding, ts, ts, fingerprint(self.id, identity), [event_id]))


class Grouped(Kind):
    """Repeats of one key within an episode fold into one alert."""

    eager_updates = True

    def apply(self, finding: Finding, ts: float, batch: Batch) -> None:
        key = finding.key
        assert key is not None
        event_id = batch.event_ids[finding.position]
        self.fold_or_open(finding, ts, key, Fired(start=ts, count=1, event_ids=[event_id]), batch)
