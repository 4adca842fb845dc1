"""Sources to alerts: a bounded queue, one detect stage, the recorder, then the acknowledgement.

    source.run(emit) ──► Queue(queue_batches) ──► decode + Engine ──► recorder.record(alerts) ──► batch.ack()
                                                  (one worker thread)          │ raised
                                                                               └──► batch.release(reason)

`emit` blocks while the queue is full, so a source can never read ahead of the
detectors by more than `queue_batches` batches: memory stays bounded however
fast the producer is. The engine is not thread-safe and is CPU-bound: all
engine work runs, one call at a time, on a single worker thread so SQS long
polls, S3 downloads and HTTP keep flowing on the event loop.

A batch is acknowledged only once `record()` returned for its alerts. When
recording fails the batch is released for redelivery and its alerts are kept
and recorded with the next batch: the engine already remembers the batch's
eventIDs, so the redelivered copy is a duplicate and cannot re-create them.
For the same reason the eventID memory is persisted only while every alert
behind it has been recorded.

Counting is plain integers per batch on `PipelineStats`, read by the metrics
collector at scrape time; each batch's lags go to the `observe_batch` it was given.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import orjson

from monitor.alerts.contract import AlertRecorder
from monitor.checkpoint import CheckpointStore
from monitor.decode import DEFAULT_MAX_DECOMPRESSED_BYTES, decode_bytes
from monitor.engine import Engine
from monitor.engine.clock import EventTimeParser
from monitor.model import Alert, InputIssue
from monitor.model.alert import clip
from monitor.sources.base import Batch

log = logging.getLogger("trailsentry.pipeline")

# A batch with thousands of broken records gets a few log lines, then a count.
ISSUE_LINES_PER_BATCH = 5
# The checkpoint store's name for the engine's windows and open episodes.
ENGINE_STATE = "engine"

T = TypeVar("T")


class BatchObserver(Protocol):
    """Told each processed batch's lags in seconds (the metrics' histograms); given by the composition root."""

    def __call__(self, source: str, *, ingest_lag: float | None, delivery_lag: float | None) -> None: ...



@dataclass(slots=True)
class SourceCounters:
    """What the pipeline saw from one source. Plain integers, bumped once per batch."""

    batches: int = 0  # processed and acknowledged
    batches_failed: int = 0  # released for redelivery
    events: int = 0
    bytes: int = 0
    duplicates: int = 0
    alerts: int = 0
    ack_errors: int = 0
    restarts: int = 0  # the source's task crashed and was restarted (counted by the app)
    queued: int = 0  # batches of this source waiting in the queue now
    issues: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    newest_event_time: float = 0.0  # epoch seconds of the newest event processed
    last_batch_at: float = 0.0  # wall clock when the last batch was processed


class PipelineStats:
    def __init__(self, queue: asyncio.Queue[Batch]) -> None:
        self._queue = queue
        self.sources: dict[str, SourceCounters] = {}
        self.alerts_recorded = 0
        self.record_failures = 0
        self.checkpoints = 0
        self.checkpoint_failures = 0

    def source(self, name: str) -> SourceCounters:
        counters = self.sources.get(name)
        if counters is None:
            counters = self.sources[name] = SourceCounters()
        return counters

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    @property
    def queue_capacity(self) -> int:
        return self._queue.maxsize


@dataclass(slots=True)
class _Detected:
    alerts: list[Alert]
    issues: list[InputIssue]
    skipped: dict[str, int]
    events: int
    duplicates: int
    newest_event_time: float


class Pipeline:
    def __init__(self, engine: Engine, recorder: AlertRecorder, checkpoints: CheckpointStore, *,
                 queue_batches: int = 16, max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
                 clock: Callable[[], float] = time.time, observe_batch: BatchObserver | None = None) -> None:
        self.engine = engine
        self.recorder = recorder
        self.checkpoints = checkpoints
        self.max_bytes = max_decompressed_bytes
        self.clock = clock
        self._observe_batch = observe_batch
        self._queue: asyncio.Queue[Batch] = asyncio.Queue(maxsize=queue_batches)
        self.stats = PipelineStats(self._queue)
        # One thread: the engine is used by one caller at a time, in order.
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="trailsentry-detect")
        self._lock = asyncio.Lock()  # one batch or checkpoint at a time: they share `_pending`
        # Alerts produced but not yet recorded (the recorder failed), newest emission per id.
        self._pending: dict[str, Alert] = {}
        # A detection was abandoned mid-way (shutdown deadline): its eventIDs are in the engine's
        # memory but its alerts are lost, so that memory must not be persisted any more.
        self._abandoned = False
        self._saved_events_in = -1
        self._times = EventTimeParser()

    # -- the source side -------------------------------------------------------------------------

    async def emit(self, batch: Batch) -> None:
        """Queue a batch; blocks while the queue is full. Given to every source's `run`.

        Once `emit` returned, the pipeline owns the batch and calls exactly one of ack/release. If
        `emit` raises (the source is cancelled while waiting for room), the batch was not taken and
        the source still owns it.
        """
        await self._queue.put(batch)
        self.stats.source(batch.source).queued += 1

    # -- the detect stage --------------------------------------------------------------------------

    async def run(self) -> None:
        """Process batches until cancelled. Exactly one consumer."""
        while True:
            batch = await self._queue.get()
            self.stats.source(batch.source).queued -= 1
            try:
                await self.process(batch)
            finally:
                self._queue.task_done()

    async def process(self, batch: Batch) -> None:
        counters = self.stats.source(batch.source)
        try:
            async with self._lock:
                detected = await self._in_worker(self._detect, batch)
                self._count(counters, batch, detected)
                self._log_issues(batch, detected.issues)
                await self._record(detected.alerts)
        except asyncio.CancelledError:
            await run_to_completion(self._release(batch, "shutdown during processing"))
            raise
        except Exception as exc:  # the recorder or a bug: this batch only, the next one still flows
            counters.batches_failed += 1
            log.error("batch %s from source %s not processed, released for redelivery: %s: %s",
                      printable(batch.origin), batch.source, type(exc).__name__, printable(str(exc)))
            await self._release(batch, f"processing failed: {type(exc).__name__}")
            return
        counters.batches += 1
        counters.alerts += len(detected.alerts)
        try:
            await batch.ack()
        except Exception as exc:  # the alerts are safe; redelivery is de-duplicated by eventID
            counters.ack_errors += 1
            log.error("acknowledging %s from source %s failed: %s: %s", printable(batch.origin), batch.source,
                      type(exc).__name__, printable(str(exc)))

    def _detect(self, batch: Batch) -> _Detected:
        """Decode and detect; runs on the worker thread."""
        # Parsing allocates many objects that all stay alive; pausing the cyclic
        # collector meanwhile roughly doubles throughput.
        gc.disable()
        try:
            decoded = decode_bytes(batch.data, batch.origin, max_bytes=self.max_bytes)
            result = self.engine.process(decoded.events, batch.origin, decoded.lines)
            newest = result.newest_event_time
        finally:
            gc.enable()
        return _Detected(alerts=result.alerts, issues=[*decoded.issues, *result.issues], skipped=decoded.skipped,
                         events=result.events, duplicates=result.duplicates, newest_event_time=newest)

    def _count(self, counters: SourceCounters, batch: Batch, detected: _Detected) -> None:
        now = self.clock()
        counters.events += detected.events
        counters.bytes += len(batch.data)
        counters.duplicates += detected.duplicates
        counters.last_batch_at = now
        counters.skipped.update(detected.skipped)
        for issue in detected.issues:
            counters.issues[issue.reason] += 1
        if detected.newest_event_time > counters.newest_event_time:
            counters.newest_event_time = detected.newest_event_time
        ingest = now - detected.newest_event_time if detected.newest_event_time else None
        delivery = now - batch.landed_at if batch.landed_at is not None else None
        if self._observe_batch is not None:
            self._observe_batch(batch.source, ingest_lag=ingest, delivery_lag=delivery)

    def _log_issues(self, batch: Batch, issues: list[InputIssue]) -> None:
        # Input problems are not failures: logged (capped), counted, and the batch is acknowledged.
        for issue in issues[:ISSUE_LINES_PER_BATCH]:
            log.warning("input problem (source %s): %s", batch.source, printable(str(issue)))
        if len(issues) > ISSUE_LINES_PER_BATCH:
            log.warning("input problem (source %s): %s: %d more problems in this batch; counted", batch.source,
                        printable(batch.origin), len(issues) - ISSUE_LINES_PER_BATCH)

    async def _record(self, alerts: list[Alert]) -> None:
        """Record new alerts together with any left over from a failed attempt; keep them all on failure."""
        for alert in alerts:
            self._pending[alert.id] = alert  # a later emission of an episode supersedes an earlier one
        if not self._pending:
            return
        batch = list(self._pending.values())
        try:
            await self.recorder.record(batch)
        except Exception:
            self.stats.record_failures += 1
            raise
        self.stats.alerts_recorded += len(batch)
        self._pending.clear()

    async def _release(self, batch: Batch, reason: str) -> None:
        try:
            await batch.release(reason)
        except Exception as exc:  # the source keeps its own redelivery (visibility timeout, cursor)
            log.error("releasing %s from source %s failed: %s: %s", printable(batch.origin), batch.source,
                      type(exc).__name__, printable(str(exc)))

    async def _in_worker(self, function: Callable[..., T], *args: Any) -> T:
        future = asyncio.get_running_loop().run_in_executor(self._worker, function, *args)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.done():
                self._abandoned = True  # the engine finishes it, but its result is dropped
            raise

    # -- housekeeping ----------------------------------------------------------------------------

    async def run_checkpoints(self, interval: float) -> None:
        """Every `interval` seconds: close quiet episodes, record them, persist state. Until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.checkpoint()
            except Exception as exc:  # disk full, recorder down: try again next time
                self.stats.checkpoint_failures += 1
                log.error("checkpoint failed: %s: %s", type(exc).__name__, printable(str(exc)))

    async def checkpoint(self, *, final: bool = False) -> None:
        """Close expired episodes, record them, save the eventID memory and engine state, commit cursors."""
        async with self._lock:
            # Open episodes and windows are not closed at shutdown: they are saved with the eventID
            # memory and continue after a restart (a burst spanning the restart still fires).
            closed = await self._in_worker(self.engine.close_expired, self.clock())
            try:
                await self._record(closed)
            finally:
                await self._save_seen_events()
                self.checkpoints.commit()
        self.stats.checkpoints += 1

    async def _save_seen_events(self) -> None:
        if self._pending or self._abandoned:
            return  # the memory names events whose alerts are not recorded: a restart must see them again
        events_in = self.engine.stats.events_in
        if events_in == self._saved_events_in:
            return
        snapshot = await self._in_worker(self.engine.deduper.snapshot)
        state = await self._in_worker(self.engine.snapshot)
        history = await self._in_worker(self.engine.history_changes)
        self.checkpoints.save_seen_events(snapshot)
        self.checkpoints.save_state(ENGINE_STATE, orjson.dumps(state))
        # Only what changed since the last checkpoint: history can be large, its changes are small.
        self.checkpoints.save_history((detector, key, None if data is None else orjson.dumps(data))
                                      for detector, key, data in history)
        self._saved_events_in = events_in

    def restore_seen_events(self) -> int:
        """Load the persisted eventID memory and engine state (at start, before any batch)."""
        event_ids = self.checkpoints.load_seen_events()
        self.engine.deduper.restore(event_ids)
        saved = self.checkpoints.load_state(ENGINE_STATE)
        if saved is not None:
            try:
                self.engine.restore(orjson.loads(saved))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                log.error("saved engine state is unreadable, starting with empty windows: %s", exc)
        rows: list[tuple[str, str, dict[str, Any]]] = []
        for detector, key, value in self.checkpoints.load_history():
            try:
                rows.append((detector, key, orjson.loads(value)))
            except orjson.JSONDecodeError:
                log.error("saved history row of %s is unreadable and was skipped", detector)
        try:
            self.engine.restore_history(rows)
        except (KeyError, TypeError, ValueError) as exc:
            log.error("saved history is unreadable, learning again: %s", exc)
        self._saved_events_in = self.engine.stats.events_in
        return len(event_ids)

    # -- shutdown --------------------------------------------------------------------------------

    async def join(self) -> None:
        """Wait until every queued batch was processed (the consumer must be running)."""
        await self._queue.join()

    async def release_queued(self, reason: str) -> int:
        """Release batches still queued (after the consumer stopped)."""
        released = 0
        while not self._queue.empty():
            batch = self._queue.get_nowait()
            self.stats.source(batch.source).queued -= 1
            self._queue.task_done()
            await self._release(batch, reason)
            released += 1
        return released

    @property
    def pending_alerts(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        """Stop the worker thread (after the consumer and checkpoints stopped)."""
        self._worker.shutdown(wait=True)


async def run_to_completion(awaitable: Any) -> None:
    """Run bookkeeping to completion even while the caller is being cancelled."""
    task = asyncio.ensure_future(awaitable)
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                break
    task.result()


def printable(text: str, limit: int = 400) -> str:
    # Origins and details carry attacker-controlled text: no terminal escapes in the logs.
    return clip("".join(ch if ch.isprintable() else "?" for ch in text), limit)

