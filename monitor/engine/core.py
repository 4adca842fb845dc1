"""The detection engine: decode -> dedupe -> dispatch -> match -> apply state -> emit.

Two halves with one seam between them:

    Slice (typed events) ──► Detection.detect ──► SliceFindings ──► Applier.apply ──► alerts
                              (pure, per event;      (no events:      (the state store:
                               any process)           small, picklable) one owner, in order)

`Engine` runs both in one process, which is what `scan --workers 1` and the live service do; with
worker processes (`monitor.workers`) detection runs in the workers and only the findings
travel. Either way the state sees the same findings in the same order, so the alerts are the same.

State changes happen inside a batch (one file or object, however many slices it was cut into):
`with engine.batch():` commits them together, or undoes all of them if anything raises, so the
eventID memory never remembers events whose effects were undone. Nothing here does I/O; a store
that persists does it in `persist()`, called by whoever acknowledges the source.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import orjson

from monitor.decode import Slice, decode_slices
from monitor.engine.apply import Applier
from monitor.engine.detect import Detection
from monitor.engine.findings import SliceFindings
from monitor.engine.settings import EngineSettings
from monitor.engine.state.memory import MemoryStore
from monitor.engine.state.store import StateStore
from monitor.model.alert import Alert
from monitor.model.detector import Detector
from monitor.model.issue import InputIssue

log = logging.getLogger("trailsentry.engine")


@dataclass(slots=True)
class EngineStats:
    events_in: int = 0
    events_processed: int = 0
    duplicates: int = 0
    matches: Counter[str] = field(default_factory=Counter)
    detector_errors: Counter[str] = field(default_factory=Counter)
    suppressed: Counter[str] = field(default_factory=Counter)  # detections dropped by a configured suppression
    alerts: Counter[str] = field(default_factory=Counter)
    signals: Counter[str] = field(default_factory=Counter)  # emissions of signal detectors (never delivered)
    newest_event_time: float = 0.0


@dataclass(slots=True)
class BatchResult:
    alerts: list[Alert]
    issues: list[InputIssue]
    events: int = 0
    duplicates: int = 0
    newest_event_time: float = 0.0  # of this slice's usable event times; 0.0 when it had none


class Engine:
    def __init__(self, detectors: Iterable[Detector], settings: EngineSettings | None = None,
                 store: StateStore | None = None) -> None:
        self.settings = settings or EngineSettings()
        self._detectors = list(detectors)
        self.stats = EngineStats()
        self.detection = Detection(self._detectors, self.settings.suppressions)
        self.store: StateStore = store if store is not None else MemoryStore(self.settings.dedupe_capacity)
        self.applier = Applier(self._detectors, self.store, self.settings)
        self._in_batch = False

    @property
    def detectors(self) -> list[Detector]:
        return list(self._detectors)

    @property
    def watermark(self) -> float:
        """The newest event time seen so far (epoch seconds)."""
        return self.applier.watermark

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One input's state changes, kept together or undone together. Inside a batch, another joins it."""
        if self._in_batch:
            yield
            return
        self.store.begin()
        self._in_batch = True
        try:
            yield
        except BaseException:
            self.store.rollback()
            raise
        else:
            self.store.commit()
        finally:
            self._in_batch = False

    def process(self, part: Slice) -> BatchResult:
        """Detect and apply one slice (inside `batch()`, or as a batch of its own)."""
        if not self._in_batch:
            with self.batch():
                return self.process(part)
        return self.apply(self.detection.detect(part))

    def process_records(self, records: Sequence[object], origin: str) -> BatchResult:
        """Plain JSON records (tests, samples, embedders): decoded as a delivery object, then processed."""
        result = BatchResult([], [])
        data, unwritable = _records_document(records)
        with self.batch():
            for part in decode_slices(data, origin):
                found = self.process(part)
                result.alerts.extend(found.alerts)
                result.issues.extend(issue for issue in found.issues
                                     if not (issue.record in unwritable and issue.reason == "not_an_object"))
                result.events += found.events
                result.duplicates += found.duplicates
                result.newest_event_time = max(result.newest_event_time, found.newest_event_time)
        result.issues.extend(InputIssue(origin, "unwritable", f"record cannot be written as JSON ({why}); skipped",
                                        record=index) for index, why in unwritable.items())
        return result

    def apply(self, found: SliceFindings, *, again: bool = False) -> BatchResult:
        """Apply findings detected elsewhere (a worker process), inside `batch()`. `again`: findings already
        counted, applied once more after their batch was undone (another replica committed first)."""
        if not self._in_batch:
            with self.batch():
                return self.apply(found, again=again)
        alerts, duplicates = self.applier.apply(found)
        if again:
            return BatchResult(alerts, found.issues, len(found.event_ids) - found.set_aside - duplicates, duplicates,
                               max(found.newest, 0.0))
        stats = self.stats
        events = len(found.event_ids) - found.set_aside
        stats.events_in += events
        stats.events_processed += events - duplicates
        stats.duplicates += duplicates
        stats.matches.update(found.matches)
        stats.detector_errors.update(found.detector_errors)
        stats.suppressed.update(found.suppressed)
        stats.newest_event_time = self.applier.watermark
        self._count(alerts)
        return BatchResult(alerts, found.issues, events - duplicates, duplicates, max(found.newest, 0.0))

    def flush(self) -> list[Alert]:
        """Close every open episode (end of a scan)."""
        with self.batch():
            alerts = self.applier.flush()
        self._count(alerts)
        return alerts

    def close_expired(self, now: float) -> list[Alert]:
        """Live mode: close episodes by wall-clock time when no newer events arrive."""
        with self.batch():
            alerts = self.applier.close_expired(now)
        self._count(alerts)
        return alerts

    def restored(self) -> None:
        """The store was loaded from saved state (at start, before any batch).

        Open episodes of detectors this engine does not run (removed or disabled in the config) are dropped,
        as the rest of their state was: they would otherwise still emit alerts when they close.
        """
        with self.batch():
            self.applier.restored({detector.id for detector in self._detectors})
        self.stats.newest_event_time = self.applier.watermark

    def forget_unpersisted(self) -> None:
        """Undo every batch since the last persist (their alerts could not be recorded)."""
        self.store.forget_unpersisted()

    def _count(self, alerts: Sequence[Alert]) -> None:
        stats = self.stats
        for alert in alerts:
            (stats.signals if alert.signal else stats.alerts)[alert.detector] += 1


def _records_document(records: Sequence[object]) -> tuple[bytes, dict[int, str]]:
    """A delivery object of the records, and why each record no encoder could write is a null in its place."""
    try:
        return orjson.dumps({"Records": list(records)}, default=str), {}
    except TypeError:  # what orjson will not write (integers past 64 bits, odd keys, deep nesting, surrogates)
        pass
    parts: list[bytes] = []
    unwritable: dict[int, str] = {}
    for index, record in enumerate(records):
        try:
            parts.append(orjson.dumps(record, default=str))
            continue
        except TypeError:
            pass
        try:
            parts.append(json.dumps(record, default=str).encode())
        except (TypeError, ValueError, RecursionError) as exc:  # keys no JSON has, a cycle, nesting past any limit
            parts.append(b"null")
            unwritable[index] = f"{type(exc).__name__}: {str(exc)[:100]}"
    return b'{"Records":[' + b",".join(parts) + b"]}", unwritable


__all__ = ["BatchResult", "Engine", "EngineStats"]
