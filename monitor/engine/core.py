"""The detection engine: validate, de-duplicate, dispatch by event name, group into alerts.

`Engine.process` takes one batch (one file or object) of events and returns
the alerts it produced plus the input issues it found. It is synchronous and
does no I/O, so `scan` and the live service produce identical alerts for the
same events. Per-event work is kept to a few dict lookups: detectors are
indexed by eventName, and counters are plain integers summed per batch.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.engine.clock import EventTimeParser
from monitor.engine.dedupe import EventDeduper
from monitor.engine.episodes import Episode, EpisodeBook
from monitor.engine.history import FirstSeenBook, RateBook
from monitor.engine.sequences import PrecededWindows
from monitor.engine.settings import EngineSettings
from monitor.engine.suppressions import SuppressionSet
from monitor.engine.windows import CountWindows, DistinctWindows, Fired
from monitor.model import event as ev_fields
from monitor.model.alert import MAX_EVENT_IDS, Alert, clip, fingerprint
from monitor.model.detector import ANY_SOURCE, Detector, Hit, Match
from monitor.model.event import Event
from monitor.model.issue import InputIssue
from monitor.model.severity import Severity

log = logging.getLogger("trailsentry.engine")

STATE_VERSION = 1
# Stands in for a missing userIdentity, which is allowed (unlike a null or a string).
_ABSENT: dict[str, Any] = {}


@dataclass(slots=True)
class EngineStats:
    events_in: int = 0
    events_processed: int = 0
    duplicates: int = 0
    matches: Counter[str] = field(default_factory=Counter)
    detector_errors: Counter[str] = field(default_factory=Counter)
    suppressed: Counter[str] = field(default_factory=Counter)  # detections dropped by a configured suppression
    alerts: Counter[str] = field(default_factory=Counter)
    newest_event_time: float = 0.0


@dataclass(slots=True)
class BatchResult:
    alerts: list[Alert]
    issues: list[InputIssue]
    events: int = 0
    duplicates: int = 0
    newest_event_time: float = 0.0  # of this batch's valid event times; 0.0 when it had none


class _Runtime:
    """A detector plus the engine-owned state it declared."""

    __slots__ = ("counter", "detector", "distinct", "failed_once", "first_seen", "id", "match", "params",
                 "preceded", "rate", "suppressions")

    def __init__(self, detector: Detector, suppressions: SuppressionSet) -> None:
        self.detector = detector
        self.id = detector.id
        self.match = detector.match
        self.params: Mapping[str, Any] = detector.params
        self.counter: CountWindows | None = None
        self.distinct: DistinctWindows | None = None
        if detector.distinct is not None:
            self.distinct = DistinctWindows(detector.distinct.count, detector.distinct.window_seconds)
        self.preceded: PrecededWindows | None = None
        self.first_seen: FirstSeenBook | None = None
        self.rate: RateBook | None = None
        if detector.threshold is not None:
            self.counter = CountWindows(detector.threshold.count, detector.threshold.window_seconds)
        if detector.preceded is not None:
            self.preceded = PrecededWindows(detector.preceded.count, detector.preceded.window_seconds)
        if detector.first_seen is not None:
            self.first_seen = FirstSeenBook(detector.first_seen)
        if detector.rate is not None:
            self.rate = RateBook(detector.rate)
        self.failed_once = False
        # None when no configured suppression can apply, so the common case costs nothing.
        self.suppressions = suppressions if suppressions.applies_to(detector.id) else None

    @property
    def history(self) -> FirstSeenBook | RateBook | None:
        return self.first_seen if self.first_seen is not None else self.rate


class Engine:
    def __init__(self, detectors: Iterable[Detector], settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings()
        self.stats = EngineStats()
        self._runtimes = [_Runtime(d, self.settings.suppressions) for d in detectors]
        self._index: dict[str, list[tuple[str, _Runtime]]] = {}
        self._catch_all: list[_Runtime] = []
        # Catch-all detectors narrowed by declaration: to failed calls, or to callers of one identity type.
        self._on_errors: list[_Runtime] = []
        self._by_identity_type: dict[str, list[_Runtime]] = {}
        # First-seen detectors with a profile function, grouped so a shared profile runs once per event.
        profiled: dict[Callable[[Event], tuple[str | None, ...] | None], list[_Runtime]] = {}
        for runtime in self._runtimes:
            detector = runtime.detector
            if detector.inert is not None and detector.inert(runtime.params):
                continue  # nothing to detect with these params: never dispatched
            spec = detector.first_seen
            if runtime.detector.all_events and spec is not None and spec.profile is not None:
                profiled.setdefault(spec.profile, []).append(runtime)
            elif runtime.detector.all_events and runtime.detector.errors_only:
                self._on_errors.append(runtime)
            elif runtime.detector.identity_types:
                for kind in runtime.detector.identity_types:
                    self._by_identity_type.setdefault(kind, []).append(runtime)
            elif runtime.detector.all_events:
                self._catch_all.append(runtime)
            for source, name in sorted(runtime.detector.events):
                self._index.setdefault(name, []).append((source, runtime))
        # What the hot loop calls for every event, unpacked once.
        self._catch_all_calls = [(r.match, r.params, r) for r in self._catch_all]
        self._error_calls = [(r.match, r.params, r) for r in self._on_errors]
        self._typed_calls = {kind: [(r.match, r.params, r) for r in runtimes]
                             for kind, runtimes in self._by_identity_type.items()}
        # Per profile, its learners grouped by the row column holding their key: a row usually has a key in
        # one or two columns, so the others are skipped with one test each.
        self._profiles: list[tuple[Callable[[Event], tuple[str | None, ...] | None],
                                   list[tuple[int, list[tuple[int, Callable[[str, str, float], bool], bool,
                                                              _Runtime]]]]]] = []
        for profile, runtimes in profiled.items():
            by_key: dict[int, list[tuple[int, Callable[[str, str, float], bool], bool, _Runtime]]] = {}
            for r in runtimes:
                spec = r.detector.first_seen
                if r.first_seen is None or spec is None:
                    continue
                for key_at, value_at in ((spec.key_at, spec.value_at), *spec.more_columns):
                    by_key.setdefault(key_at, []).append((value_at, r.first_seen.observe, spec.fold_repeats, r))
            self._profiles.append((profile, sorted(by_key.items())))
        self._times = EventTimeParser()
        self._dedupe = EventDeduper(self.settings.dedupe_capacity)
        self._episodes = EpisodeBook()
        self._lateness = float(self.settings.lateness_seconds)
        self._watermark = 0.0

    @property
    def detectors(self) -> list[Detector]:
        return [r.detector for r in self._runtimes]

    @property
    def deduper(self) -> EventDeduper:
        return self._dedupe

    @property
    def watermark(self) -> float:
        """The newest event time seen so far (epoch seconds)."""
        return self._watermark

    def process(self, events: list[Any], origin: str, lines: list[int] | None = None) -> BatchResult:
        alerts: list[Alert] = []
        issues: list[InputIssue] = []
        # Every event passes through this loop, so each step below is one lookup
        # or one call at most: bound methods and the catch-all calls are hoisted,
        # a known eventTime is a dict hit, and counts are derived once per batch.
        index_get = self._index.get
        catch_all = self._catch_all_calls
        profiles = self._profiles
        error_calls = self._error_calls
        typed_get = self._typed_calls.get
        scan_calls = self._scan_calls
        dedupe = self._dedupe
        recent, older = dedupe.generations()
        dedupe_capacity = dedupe.capacity
        parse_time = self._times.parse
        known_time = self._times.cache.get
        watermark = self._watermark
        newest = 0.0  # the newest valid event time of this batch
        duplicates = 0
        not_objects = 0
        for position, event in enumerate(events):
            if type(event) is not dict:
                not_objects += 1
                issues.append(_issue(origin, lines, position, "not_an_object",
                                     f"record is a {type(event).__name__}, not an object"))
                continue
            event_id = event.get("eventID")
            if type(event_id) is str:
                if event_id in recent or event_id in older:  # EventDeduper.seen_before, inlined
                    duplicates += 1
                    continue
                recent.add(event_id)
                if len(recent) >= dedupe_capacity:
                    dedupe.rotate()
                    recent, older = dedupe.generations()
            elif event_id is not None:
                issues.append(_issue(origin, lines, position, "wrong_type", "eventID is not a string"))
            raw_time = event.get("eventTime")
            if type(raw_time) is str:
                ts = known_time(raw_time)
                if ts is None:
                    ts = parse_time(raw_time)
            else:
                ts = None
            if ts is None:
                issues.append(_issue(origin, lines, position, "bad_event_time",
                                     f"eventTime {_preview(raw_time)} is missing or not a timestamp"))
                # Keep the event: its detections are placed at the newest time seen.
                ts = newest if newest > watermark else watermark
            elif ts > newest:
                newest = ts
            name = event.get("eventName")
            source = event.get("eventSource")
            ident = event.get("userIdentity", _ABSENT)
            if type(name) is not str or type(source) is not str:
                issues.append(_issue(origin, lines, position, "wrong_type",
                                     "eventName/eventSource missing or not strings"))
                name = source = ""
            elif type(ident) is not dict:  # absent is fine, null is not
                issues.append(_issue(origin, lines, position, "wrong_type", "userIdentity is not an object"))
            wanted = index_get(name)
            if wanted is not None:
                for wanted_source, runtime in wanted:
                    if wanted_source in (source, ANY_SOURCE):
                        self._evaluate(runtime, event, ts, origin, alerts)
            if catch_all:
                scan_calls(catch_all, event, ts, origin, alerts)
            if error_calls and "errorCode" in event:
                scan_calls(error_calls, event, ts, origin, alerts)
            if type(ident) is dict:
                kind = ident.get("type")
                typed = typed_get(kind) if type(kind) is str else None
                if typed is not None:
                    scan_calls(typed, event, ts, origin, alerts)
            for profile, books in profiles:
                try:
                    row = profile(event)
                except Exception as exc:  # a bug in one profile must not stop the others
                    self._profile_failed(books, exc, origin)
                    continue
                if row is None:
                    continue
                for key_at, learners in books:
                    key = row[key_at]
                    if key is None:
                        continue
                    for value_at, observe, fold_repeats, runtime in learners:
                        value = row[value_at]
                        if value is None:
                            continue
                        if observe(key, value, ts):
                            self._on_new_sighting(runtime, event, ts, (key, value), origin, alerts)
                        elif fold_repeats:
                            self._fold_repeat(runtime, event, ts, key, value)
        processed = len(events) - not_objects - duplicates
        if newest > watermark:
            watermark = newest
        self._watermark = watermark
        stats = self.stats
        stats.events_in += len(events)
        stats.events_processed += processed
        stats.duplicates += duplicates
        stats.newest_event_time = watermark
        alerts.extend(self._advance(watermark))
        for alert in alerts:
            stats.alerts[alert.detector] += 1
        return BatchResult(alerts, issues, processed, duplicates, newest)

    def snapshot(self) -> dict[str, Any]:
        """The detection state a restart needs (windows, open episodes, watermark) as plain JSON data.

        Together with the eventID memory this lets a burst that spans a restart still fire, and an
        episode continue under the same alert id.
        """
        windows: dict[str, Any] = {}
        for runtime in self._runtimes:
            if runtime.counter is not None and len(runtime.counter):
                windows[runtime.id] = {"count": runtime.counter.snapshot()}
            elif runtime.preceded is not None and len(runtime.preceded):
                windows[runtime.id] = {"preceded": runtime.preceded.snapshot()}
            elif runtime.distinct is not None and len(runtime.distinct):
                windows[runtime.id] = {"distinct": runtime.distinct.snapshot()}
        return {"version": STATE_VERSION, "watermark": self._watermark, "windows": windows,
                "episodes": self._episodes.snapshot()}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load a `snapshot()` (at start, before any batch). State of unknown detectors is dropped."""
        if state.get("version") != STATE_VERSION:
            log.warning("engine state of version %r ignored (this build reads %d)", state.get("version"),
                        STATE_VERSION)
            return
        self._watermark = max(self._watermark, float(state.get("watermark", 0.0)))
        by_id = {runtime.id: runtime for runtime in self._runtimes}
        for detector_id, saved in dict(state.get("windows", {})).items():
            runtime = by_id.get(detector_id)
            if runtime is None:
                continue
            if runtime.counter is not None and "count" in saved:
                runtime.counter.restore(saved["count"])
            elif runtime.preceded is not None and "preceded" in saved:
                runtime.preceded.restore(saved["preceded"])
            elif runtime.distinct is not None and "distinct" in saved:
                runtime.distinct.restore(saved["distinct"])
        self._episodes.restore(list(state.get("episodes", [])), set(by_id))

    def flush(self) -> list[Alert]:
        """Close every open episode (end of a scan, or shutdown)."""
        updates = self._episodes.close_all()
        for alert in updates:
            self.stats.alerts[alert.detector] += 1
        return updates

    def close_expired(self, now: float) -> list[Alert]:
        """Live mode: close episodes by wall-clock time when no newer events arrive.

        Detection itself runs on event time; this only lets a quiet stream
        still deliver the final count of an episode.
        """
        updates = self._advance(max(self._watermark, now))
        for alert in updates:
            self.stats.alerts[alert.detector] += 1
        return updates

    def _advance(self, watermark: float) -> list[Alert]:
        horizon = watermark - self._lateness
        for runtime in self._runtimes:
            if runtime.counter is not None:
                runtime.counter.prune(horizon - runtime.counter.window)
            if runtime.distinct is not None:
                runtime.distinct.prune(horizon - runtime.distinct.window)
            if runtime.preceded is not None:
                runtime.preceded.prune(horizon - runtime.preceded.window)
            history = runtime.history
            if history is not None:
                history.sweep(watermark)
        return self._episodes.close_until(horizon)

    def history_changes(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        """First-seen and usual-rate history changed since the last call: (detector, row key, data or None).

        The live service writes these rows to its embedded store; `restore_history` reads them back.
        """
        changes: list[tuple[str, str, dict[str, Any] | None]] = []
        for runtime in self._runtimes:
            history = runtime.history
            if history is not None:
                changes.extend((runtime.id, name, data) for name, data in history.take_changes())
        return changes

    def restore_history(self, rows: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        """Load saved history rows (at start). Rows of unknown or changed detectors are dropped."""
        by_detector: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for detector_id, name, data in rows:
            by_detector.setdefault(detector_id, []).append((name, data))
        for runtime in self._runtimes:
            history = runtime.history
            saved = by_detector.get(runtime.id)
            if history is not None and saved:
                history.restore(saved)
                history.take_changes()  # what was just loaded is not a change

    def _profile_failed(self, books: list[Any], exc: Exception, origin: str) -> None:
        runtimes = {learner[-1].id: learner[-1] for _, learners in books for learner in learners}
        for runtime in runtimes.values():  # a learner of two columns counts once
            self._detector_failed(runtime, exc, origin)

    def _fold_repeat(self, runtime: _Runtime, event: Event, ts: float, key: str, value: str) -> None:
        """A known value of a key whose open episode it started: count the call in that episode."""
        episode = self._episodes.get((runtime.id, key))
        spec = runtime.detector.first_seen
        if episode is None or spec is None or not episode.covers(ts, runtime.detector.episode_seconds):
            return
        if clip(value, 256) in episode.alert.context.get(spec.label, ()):
            event_id = event.get("eventID")
            episode.add(ts, event_id if type(event_id) is str else "")

    def _scan_calls(self, calls: list[tuple[Match, Mapping[str, Any], _Runtime]], event: Event, ts: float,
                    origin: str, out: list[Alert]) -> None:
        for match, params, runtime in calls:
            try:
                hit = match(event, params)
            except Exception as exc:  # a bug in one detector must not stop the others
                self._detector_failed(runtime, exc, origin)
                continue
            if hit is not None:
                self._apply(runtime, event, ts, hit, origin, out)

    def _evaluate(self, runtime: _Runtime, event: Event, ts: float, origin: str, out: list[Alert]) -> None:
        try:
            hit = runtime.match(event, runtime.params)
        except Exception as exc:  # a bug in one detector must not stop the others
            self._detector_failed(runtime, exc, origin)
            return
        if hit is not None:
            self._apply(runtime, event, ts, hit, origin, out)

    def _suppressed(self, runtime: _Runtime, event: Event, ts: float) -> bool:
        """A configured suppression covers this detection: counted here, never counted toward a burst."""
        assert runtime.suppressions is not None
        if runtime.suppressions.match(runtime.id, event, ts) is None:
            return False
        self.stats.suppressed[runtime.id] += 1
        return True

    def _apply(self, runtime: _Runtime, event: Event, ts: float, hit: Hit, origin: str, out: list[Alert]) -> None:
        if runtime.suppressions is not None and self._suppressed(runtime, event, ts):
            return
        self.stats.matches[runtime.id] += 1
        try:
            self._on_hit(runtime, event, ts, hit, out)
        except Exception as exc:  # e.g. a group_by or distinct value function that raised
            self._detector_failed(runtime, exc, origin)

    def _detector_failed(self, runtime: _Runtime, exc: Exception, origin: str) -> None:
        self.stats.detector_errors[runtime.id] += 1
        if not runtime.failed_once:
            runtime.failed_once = True
            log.error("detector %s failed on an event from %s: %s: %s (further errors are only counted)",
                      runtime.id, origin, type(exc).__name__, clip(str(exc), 200))

    def _on_hit(self, runtime: _Runtime, event: Event, ts: float, hit: Hit, out: list[Alert]) -> None:
        detector = runtime.detector
        event_id = event.get("eventID")
        if type(event_id) is not str:
            event_id = ""
        severity = hit.severity if hit.severity is not None else detector.severity
        if detector.group_by is None:
            alert_id = fingerprint(detector.id, event_id or _event_identity(event))
            out.append(self._new_alert(detector, event, ts, hit, alert_id, [event_id]))
            return
        key = detector.group_by(event)
        if key is None:
            if detector.stateful:
                return  # nothing to count against
            alert_id = fingerprint(detector.id, event_id or _event_identity(event))
            out.append(self._new_alert(detector, event, ts, hit, alert_id, [event_id]))
            return
        book_key = (detector.id, key)
        if runtime.preceded is not None or runtime.history is not None:
            self._on_gated_hit(runtime, event, ts, hit, key, event_id, out)
            return
        episode = self._episodes.get(book_key)
        if episode is not None:
            if episode.covers(ts, detector.episode_seconds):
                self._join(episode, ts, event_id, 1, severity, out)
                return
            self._close(book_key, out)
        fired: Fired | None = None
        if runtime.counter is not None:
            fired = runtime.counter.add(key, ts, event_id)
        elif runtime.distinct is not None and detector.distinct is not None:
            spec = detector.distinct
            value = spec.value(event)
            if value is None:
                return
            fired = runtime.distinct.add(key, ts, event_id, value)
            if fired is not None:
                fired.context.update({"distinct_count": len(fired.values), spec.label: fired.values[:MAX_EVENT_IDS],
                                      "window_seconds": spec.window_seconds})
        else:
            fired = Fired(start=ts, count=1, event_ids=[event_id] if event_id else [])
        if fired is None:
            return
        self._open_episode(runtime, event, ts, hit, key, fired, out)

    def _on_gated_hit(self, runtime: _Runtime, event: Event, ts: float, hit: Hit, key: str, event_id: str,
                      out: list[Alert]) -> None:
        """Sequences, first-seen and usual-rate: the kind decides on every event, before any episode."""
        detector = runtime.detector
        fired: Fired | None = None
        if runtime.preceded is not None and detector.preceded is not None:
            if detector.preceded.prior(event):
                runtime.preceded.prior(key, ts, event_id)
                return
            fired = runtime.preceded.trigger(key, ts, event_id)
            if fired is not None:
                fired.context.update({detector.preceded.label: fired.count - 1,
                                      "window_seconds": detector.preceded.window_seconds})
        elif runtime.first_seen is not None and detector.first_seen is not None:
            value = detector.first_seen.value(event)
            if value is None:
                return
            if not runtime.first_seen.observe(key, value, ts):
                if detector.first_seen.fold_repeats:
                    self._fold_repeat(runtime, event, ts, key, value)
                return
            fired = _new_value(detector, value, event_id, ts)
        elif runtime.rate is not None:
            reason = runtime.rate.observe(key, ts)
            if reason is not None:
                fired = Fired(start=ts, count=int(reason.get("bucket_count", 1)),
                              event_ids=[event_id] if event_id else [], context=reason)
            elif self._episodes.get((detector.id, key)) is not None:
                # Every call during an open episode joins it: the alert counts the whole burst.
                fired = Fired(start=ts, count=1, event_ids=[event_id] if event_id else [])
        if fired is None:
            return
        self._fold_or_open(runtime, event, ts, hit, key, event_id, fired, out)

    def _on_new_sighting(self, runtime: _Runtime, event: Event, ts: float, seen: tuple[str, str], origin: str,
                         out: list[Alert]) -> None:
        """A first-seen profile found a value new to its key: now the detector's full verdict."""
        try:
            hit = runtime.match(event, runtime.params)
        except Exception as exc:
            self._detector_failed(runtime, exc, origin)
            return
        if hit is None:
            return
        if runtime.suppressions is not None and self._suppressed(runtime, event, ts):
            return
        self.stats.matches[runtime.id] += 1
        event_id = ev_fields.text(event, "eventID")
        try:
            fired = _new_value(runtime.detector, seen[1], event_id, ts)
            spec = runtime.detector.first_seen
            open_episode = self._episodes.get((runtime.id, seen[0]))
            if (spec is not None and spec.min_distinct > 1 and runtime.first_seen is not None
                    and (open_episode is None or not open_episode.covers(ts, runtime.detector.episode_seconds))):
                # Opening: the alert names (and counts) every value that made the count, not only the last.
                values = runtime.first_seen.recent_values(seen[0], ts)
                fired = Fired(start=ts, count=len(values), event_ids=fired.event_ids, values=values,
                              context={**fired.context, spec.label: [clip(v, 256) for v in values[:MAX_EVENT_IDS]]})
            self._fold_or_open(runtime, event, ts, hit, seen[0], event_id, fired, out)
        except Exception as exc:
            self._detector_failed(runtime, exc, origin)

    def _fold_or_open(self, runtime: _Runtime, event: Event, ts: float, hit: Hit, key: str, event_id: str,
                      fired: Fired, out: list[Alert]) -> None:
        detector = runtime.detector
        book_key = (detector.id, key)
        episode = self._episodes.get(book_key)
        severity = hit.severity if hit.severity is not None else detector.severity
        if episode is not None:
            if episode.covers(ts, detector.episode_seconds):
                if runtime.rate is not None:
                    self._join(episode, ts, event_id, 1, severity, out)  # every call of the burst counts once
                else:
                    label = detector.first_seen.label if detector.first_seen is not None else None
                    self._join(episode, ts, event_id, fired.count, severity, out, label, fired.values)
                return
            self._close(book_key, out)
        self._open_episode(runtime, event, ts, hit, key, fired, out)

    @staticmethod
    def _join(episode: Episode, ts: float, event_id: str, count: int, severity: Severity, out: list[Alert],
              label: str | None = None, values: list[str] | None = None) -> None:
        """Fold a detection into its open episode; re-emit at once only if the severity rose."""
        episode.add(ts, event_id, count)
        if label is not None and values:
            listed = episode.alert.context.get(label)
            if isinstance(listed, list) and len(listed) < MAX_EVENT_IDS:
                listed.extend(clipped for clipped in (clip(v, 256) for v in values) if clipped not in listed)
        if episode.escalate(severity):
            out.append(episode.emit())

    def _close(self, book_key: tuple[str, str], out: list[Alert]) -> None:
        update = self._episodes.close(book_key)
        if update is not None:
            out.append(update)

    def _open_episode(self, runtime: _Runtime, event: Event, ts: float, hit: Hit, key: str, fired: Fired,
                      out: list[Alert]) -> None:
        detector = runtime.detector
        length = detector.episode_seconds
        book_key = (detector.id, key)
        alert = self._new_alert(detector, event, fired.start, hit,
                                fingerprint(detector.id, key, str(int(fired.start))), fired.event_ids)
        alert.count = fired.count
        alert.last_event_time = max(ts, fired.start)
        if detector.threshold is not None:
            alert.context = {**alert.context, "threshold": detector.threshold.count,
                             "window_seconds": detector.threshold.window_seconds}
        if fired.context:
            alert.context = {**alert.context, **fired.context}
        episode = Episode(alert=alert, start=fired.start, end=fired.start + length,
                          emitted_count=0, emitted_severity=alert.severity)
        self._episodes.open(book_key, episode)
        out.append(episode.emit())

    def _new_alert(self, detector: Detector, event: Event, ts: float, hit: Hit, alert_id: str,
                   event_ids: list[str]) -> Alert:
        account = ev_fields.account(event)
        return Alert(
            id=alert_id,
            detector=detector.id,
            title=clip(hit.title or detector.title, 200),
            severity=hit.severity if hit.severity is not None else detector.severity,
            account=clip(account, 64),
            account_alias=self.settings.account_aliases.get(account, ""),
            region=clip(ev_fields.text(event, "awsRegion"), 64),
            principal=clip(ev_fields.principal(event)),
            source_ip=clip(ev_fields.text(event, "sourceIPAddress"), 256),
            user_agent=clip(ev_fields.text(event, "userAgent")),
            event_source=clip(ev_fields.text(event, "eventSource"), 128),
            event_name=clip(ev_fields.text(event, "eventName"), 128),
            event_time=ts,
            last_event_time=ts,
            event_ids=[clip(e, 128) for e in event_ids if e][:MAX_EVENT_IDS],
            count=1,
            mitre=detector.mitre,
            runbook=detector.runbook,
            context=dict(hit.context),
        )


def _new_value(detector: Detector, value: str, event_id: str, ts: float) -> Fired:
    spec = detector.first_seen
    assert spec is not None
    return Fired(start=ts, count=1, event_ids=[event_id] if event_id else [], values=[value],
                 context={spec.label: [clip(value, 256)], "history_days": round(spec.history_seconds / 86400, 3)})


def _event_identity(event: Event) -> str:
    """A stand-in for a missing eventID: what makes this event this event."""
    return "\x1f".join((ev_fields.text(event, "eventTime"), ev_fields.principal(event),
                        ev_fields.text(event, "eventSource"), ev_fields.text(event, "eventName"),
                        ev_fields.text(event, "sourceIPAddress")))


def _issue(origin: str, lines: list[int] | None, position: int, reason: str, detail: str) -> InputIssue:
    if lines is not None and position < len(lines):
        return InputIssue(origin, reason, detail, line=lines[position])
    return InputIssue(origin, reason, detail, record=position)


def _preview(value: object) -> str:
    if value is None:
        return "(absent)"
    return clip(repr(value), 40)


__all__ = ["BatchResult", "Engine", "EngineStats"]
