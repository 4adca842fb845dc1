"""Applying findings to state: the half of the engine that remembers.

Runs in exactly one place per deployment slice of state (the process that owns the store), one slice
at a time and in order, so the result is the same however many processes detected. For each slice:
claim its eventIDs (duplicates change nothing), place events with unusable times at the newest time
seen, hand each finding to its detector's kind, advance the watermark, forget what expired and close
the episodes that ended.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

import msgspec

from monitor.decode import BAD_TIME
from monitor.engine.episodes import Episodes
from monitor.engine.findings import Finding, SliceFindings
from monitor.engine.kinds import Batch, Kind, kind_for
from monitor.engine.kinds.sequence import SEEN_KEY, SEEN_SPACE, SequenceKind, identity_reads
from monitor.engine.settings import EngineSettings
from monitor.engine.state.store import SpaceOptions, StateStore, Wanted
from monitor.model.alert import Alert
from monitor.model.detector import Detector, FirstSeen

ENGINE_SPACE = "engine"
WATERMARK = "watermark"
NEVER = float("inf")


class Applier:
    def __init__(self, detectors: Sequence[Detector], store: StateStore, settings: EngineSettings) -> None:
        self.store = store
        self.lateness = float(settings.lateness_seconds)
        store.space(ENGINE_SPACE, options=SpaceOptions(sweep_every=NEVER, merge_max=True))
        self.episodes = Episodes(store)
        self.kinds: list[Kind] = [kind_for(detector, store, self.episodes, settings.account_aliases, self.lateness)
                                  for detector in detectors]
        # Attack sequences: every other detector's alerts and signals are steps of their actor's sequence.
        self.sequence = next((kind for kind in self.kinds if isinstance(kind, SequenceKind)), None)
        if self.sequence is not None:
            self.sequence.detector_ids = [detector.id for detector in detectors]
        # First-seen learners whose repeats join the open episode: those repeats are applied one by one.
        self.folding = frozenset(index for index, detector in enumerate(detectors)
                                 if isinstance(detector.state, FirstSeen) and detector.state.fold_repeats)

    @property
    def watermark(self) -> float:
        """The newest event time applied so far (epoch seconds; 0 before any)."""
        value: float | None = self.store.get(ENGINE_SPACE, WATERMARK)
        return value or 0.0

    def apply(self, found: SliceFindings) -> tuple[list[Alert], int]:
        """The alerts a slice's findings produce, and how many of its events were duplicates."""
        store = self.store
        fresh = store.claim_events(found.event_ids)
        watermark = self.watermark
        times = found.times
        if BAD_TIME in times:
            times = _placed(times, watermark)
        duplicates = fresh.count(False)
        batch = Batch(event_ids=found.event_ids, times=times, fresh=fresh, watermark=watermark, alerts=[],
                      duplicates=duplicates > 0)
        kinds = self.kinds
        sequence = self.sequence
        if sequence is not None:
            sequence.refresh()
        alerts = batch.alerts
        findings = _in_event_order(found.findings, self.folding) if self.folding else found.findings
        for finding in findings:
            position = finding.position
            if duplicates and not fresh[position] and not any(fresh[p] for p in finding.repeats):
                continue
            kind = kinds[finding.detector]
            if sequence is None or kind is sequence:
                kind.apply(finding, times[position], batch)
                continue
            first = len(alerts)
            kind.apply(finding, times[position], batch)
            if len(alerts) > first or sequence.seen:  # else nothing to observe: no step, no incident to tag
                sequence.observe(finding, times[position], batch, first)
        newest = max(watermark, found.newest)
        if newest > watermark:
            store.put(ENGINE_SPACE, WATERMARK, newest, NEVER)
        self._advance(newest, batch.alerts)
        return batch.alerts, duplicates

    def close_expired(self, now: float) -> list[Alert]:
        """Live mode: close episodes by wall-clock time when no newer events arrive.

        Detection runs on event time; this only lets a quiet stream still deliver an episode's final count.
        """
        alerts: list[Alert] = []
        self._advance(max(self.watermark, now), alerts)
        return alerts

    def flush(self) -> list[Alert]:
        """Close every open episode (the end of a scan)."""
        alerts: list[Alert] = []
        self.episodes.close_all(alerts)
        return alerts

    def _advance(self, watermark: float, alerts: list[Alert]) -> None:
        self.store.expire(watermark)
        self.episodes.close_until(watermark - self.lateness, alerts)

    def restored(self, detector_ids: set[str]) -> None:
        """State was restored: drop the open episodes of every other detector (state restored from an earlier
        configuration), and give episodes saved without an expiry their end."""
        self.episodes.forget_except(detector_ids)
        self.episodes.expire_at_end()

    def wanted(self, slices: Iterable[SliceFindings]) -> Wanted:
        """What applying these slices will read from the store (a shared store fetches it first)."""
        wanted = Wanted()
        wanted.add(ENGINE_SPACE, WATERMARK)
        if self.sequence is not None:
            wanted.add(SEEN_SPACE, SEEN_KEY)
        kinds = self.kinds
        for found in slices:
            wanted.event_ids.extend(found.event_ids)
            wanted.newest = max(wanted.newest, found.newest)
            for finding in found.findings:
                for space, key in kinds[finding.detector].reads(finding):
                    wanted.add(space, key)
                if self.sequence is not None:
                    for space, key in identity_reads(finding):
                        wanted.add(space, key)
        return wanted

    def wanted_next(self, slices: Iterable[SliceFindings]) -> Wanted | None:
        """What applying these slices reads besides `wanted`, known only once that is fetched: the state of the
        actors the findings' keys and sessions are linked to (attack sequences). None when there is nothing."""
        sequence = self.sequence
        if sequence is None:
            return None
        wanted = Wanted()
        pending: dict[str, Any] = {}  # links these slices make, before they are stored
        for found in slices:
            for finding in found.findings:
                for space, key in sequence.actor_reads(finding, pending):
                    wanted.add(space, key)
        return wanted if wanted.keys else None


_POSITION = attrgetter("position")


def _in_event_order(findings: list[Finding], folding: frozenset[int]) -> list[Finding]:
    """The findings, with the repeats detection folded for `folding` detectors given back one finding per event
    and in event order: each joins the episode open where it happened (and its event id is listed in turn),
    exactly as processing event by event would. Quiet findings keep their repeats (they join nothing)."""
    unfold = [finding for finding in findings if finding.repeats and finding.detector in folding and not finding.quiet]
    if not unfold:
        return findings
    replace = msgspec.structs.replace
    alone = {id(finding): replace(finding, repeats=[]) for finding in unfold}
    ordered = [alone.get(id(finding), finding) for finding in findings]
    ordered.extend(replace(finding, position=position, repeats=[]) for finding in unfold
                   for position in finding.repeats)
    ordered.sort(key=_POSITION)  # stable: findings of one event keep detection's order
    return ordered


def _placed(times: list[float], watermark: float) -> list[float]:
    """Times with each unusable one replaced by the newest usable time before it (or the watermark)."""
    placed: list[float] = []
    newest = watermark
    for ts in times:
        if ts == BAD_TIME:
            placed.append(newest)
        else:
            placed.append(ts)
            if ts > newest:
                newest = ts
    return placed
