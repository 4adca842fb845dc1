"""Sources to alerts, and nothing acknowledged before it is durable.

    source.run(emit) ──► Queue(queue_batches) ──► decode + detect + apply ──► group ──► commit ──► ack
                                                  (one worker thread,          │  outbox.record(alerts)
                                                   one batch at a time)        │  state.persist()
                                                                               └► release (retry) / quarantine

A batch (one object or file) is applied to the engine's state whole or not at all. Batches then wait
in a group; the group is committed when no other batch is ready (so a quiet stream commits each batch
at once), when it holds `group_batches` batches, or after `group_seconds`. A commit writes the
group's alerts to the durable outbox, then writes everything the group changed in the engine's state
(windows, episodes, histories, the eventID memory) in one transaction, and only then acknowledges the
group's sources. A crash before the outbox commit loses nothing (the sources redeliver, and the state
on disk predates the group); a crash between the two commits redelivers batches whose alerts are
already in the outbox: they come out the same and the outbox keeps one copy of each. When a commit
fails, the group's state changes are undone and its batches released for redelivery.

A batch that fails to apply (a bug, not bad input: bad input is reported and counted inside the
batch) is released after a growing delay; after `max_attempts` failures it is quarantined: the
source is told to give it up (acknowledged, or left to SQS's dead-letter queue), it is counted and
logged, and an alert on the monitor itself says so. Never a hot loop.

Counting is plain integers per batch on `PipelineStats`, read by the metrics collector at scrape time;
each batch's lags go to the `observe_batch` it was given.
"""


from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from monitor.alerts.contract import AlertRecorder
from monitor.checkpoint import CheckpointStore
from monitor.decode import DecodeLimits
from monitor.engine import Engine
from monitor.engine.findings import SliceFindings, drain
from monitor.engine.state.store import SharedStateStore, StateUnavailable
from monitor.failpoints import Failpoints
from monitor.model import Alert
from monitor.pipeline.applied import Applied, count_batch, log_issues
from monitor.pipeline.intake import Intake
from monitor.pipeline.retries import RETRY_BASE_SECONDS, Retries, release
from monitor.pipeline.shared import SharedCommit, detect_all
from monitor.pipeline.stats import BatchObserver, PipelineStats
from monitor.pipeline.tasks import newest_per_id, printable, run_to_completion, settled
from monitor.sources.base import Batch
from monitor.workers import DetectionPool, Job, detect_locally
from monitor.workers.pool import gc_paused

log = logging.getLogger("trailsentry.pipeline")


T = TypeVar("T")


class Pipeline:
    def __init__(self, engine: Engine, recorder: AlertRecorder, checkpoints: CheckpointStore, *,
                 queue_batches: int = 16, queue_bytes: int = 128 * 1024 * 1024, limits: DecodeLimits | None = None,
                 clock: Callable[[], float] = time.time, group_batches: int = 32, group_seconds: float = 0.2,
                 max_attempts: int = 5, retry_base_seconds: float = RETRY_BASE_SECONDS,
                 failpoints: Failpoints | None = None, observe_batch: BatchObserver | None = None,
                 pool: DetectionPool | None = None, shared: SharedStateStore | None = None) -> None:
        self.engine = engine
        self.recorder = recorder
        self.checkpoints = checkpoints
        self.limits = limits or DecodeLimits()
        self.clock = clock
        self.group_batches = max(1, group_batches)
        self.group_seconds = group_seconds
        self.max_attempts = max(1, max_attempts)
        self.retry_base_seconds = retry_base_seconds
        self._intake = Intake(queue_batches, queue_bytes)
        self.stats = self._intake.stats = PipelineStats(self._intake.queue)
        # One thread: the engine and its store are used by one caller at a time, in order.
        self._worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="trailsentry-detect")
        self._lock = asyncio.Lock()  # one batch, commit or checkpoint at a time: they share the group
        self._group: list[Applied] = []
        self._group_started = 0.0
        self._retries = Retries(self.stats, max_attempts, retry_base_seconds, clock)
        self._monitor_alerts: list[Alert] = []
        self._failpoints = failpoints or Failpoints()
        self._observe_batch = observe_batch
        # Worker processes that decode and detect, when configured; the engine thread applies their findings.
        self._pool = pool
        self._in_flight: deque[Batch] = deque()
        # A state store shared by replicas: batches are fetched for, and groups committed to it with their alerts.
        self._shared = SharedCommit(shared, engine, self._in_worker, self.stats) if shared is not None else None

    # -- the source side -------------------------------------------------------------------------

    async def emit(self, batch: Batch) -> None:
        """Queue a batch; blocks while the queue is full (in batches or bytes). Given to every source's `run`.

        Once `emit` returned, the pipeline owns the batch and calls exactly one of ack/release. If
        `emit` raises (the source is cancelled while waiting for room), the batch was not taken and
        the source still owns it.
        """
        await self._intake.put(batch)

    # -- the detect stage --------------------------------------------------------------------------

    async def run(self) -> None:
        """Process batches until cancelled. Exactly one consumer."""
        try:
            while True:
                if (self._group or self._monitor_alerts) and self._intake.empty() and not self._in_flight:
                    await self.commit()  # nothing else ready: make what is done durable now
                if self._shared is not None and not self._shared.store.available:
                    await self._shared.store.wait_available()  # meanwhile sources wait, and SQS redelivers
                batch = await self._next_batch()
                if batch is None:
                    await self.commit()
                    continue
                try:
                    if self._pool is None:
                        await self.process(batch)
                    else:
                        await self._through_workers(batch)
                finally:
                    self._intake.done()
                if len(self._group) >= self.group_batches:
                    await self.commit()
        finally:
            # Batches handed to the workers but not applied yet go back to their sources.
            while self._in_flight:
                await run_to_completion(self._release(self._in_flight.popleft(), "shutdown during processing"))

    async def _through_workers(self, batch: Batch) -> None:
        """Hand the batch to the worker processes; apply the oldest ones in flight, in order, once enough are
        ahead to keep every worker busy, or once nothing else is ready."""
        pool = self._pool
        assert pool is not None
        pool.submit(Job(origin=batch.origin, data=batch.data))
        self._in_flight.append(batch)
        while self._in_flight and (len(self._in_flight) > 2 * pool.size or self._intake.empty()):
            oldest = self._in_flight.popleft()
            await self.process(oldest, pool.take(Job(origin=oldest.origin)))

    async def _next_batch(self) -> Batch | None:
        """The next batch, or None when the open group is due for its commit before one arrives."""
        if not self._group:
            return await self._intake.get()
        wait = self._group_started + self.group_seconds - time.monotonic()
        return await self._intake.get(wait) if wait > 0 else None

    async def process(self, batch: Batch, findings: Iterator[SliceFindings] | None = None) -> None:
        """Apply one batch to the state and add it to the open group (committed later); `findings` when
        worker processes detected it, else it is decoded and detected here."""
        async with self._lock:
            work: Callable[[], Applied] = functools.partial(self._apply, batch, findings)
            if self._shared is not None:
                prepared = await self._prepare_shared(batch, findings)
                if prepared is None:
                    return
                work = functools.partial(self._apply_slices, batch, prepared)
            future = asyncio.get_running_loop().run_in_executor(self._worker, work)
            try:
                try:
                    applied = await asyncio.shield(future)
                except asyncio.CancelledError:
                    # Stopping: the state already holds (or is taking) this batch; keep it in the group, so
                    # the final commit makes it durable with its alerts, or the batch is released.
                    await settled(future)
                    if future.exception() is None:
                        self._add_to_group(future.result())
                    else:
                        await run_to_completion(self._release(batch, "shutdown during processing"))
                    raise
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug: the batch was undone; retried later, then quarantined
                await self._failed(batch, exc)
                return
            count_batch(self.stats.source(batch.source), batch, applied, self.clock(), self._observe_batch)
            log_issues(batch, applied.issues)
            applied.issues = []
            batch.data = b""  # applied: only its acknowledgement is needed any more
            self._add_to_group(applied)

    def _apply(self, batch: Batch, findings: Iterator[SliceFindings] | None) -> Applied:
        """Decode, detect and apply one batch, whole or not at all; runs on the worker thread."""
        applied = Applied(batch=batch, alerts=[], size=len(batch.data))
        engine = self.engine
        if findings is None:
            findings = detect_locally(engine.detection, Job(origin=batch.origin, data=batch.data), self.limits)
        try:
            self._apply_findings(applied, findings)
        except BaseException:
            drain(findings)  # the workers' results of this batch, so the next batch's line up
            raise
        return applied

    async def _prepare_shared(self, batch: Batch, findings: Iterator[SliceFindings] | None
                              ) -> list[SliceFindings] | None:
        """Detect the whole batch, then fetch the shared state it reads; None when the batch was handed back."""
        assert self._shared is not None
        try:
            slices = await self._in_worker(detect_all, self.engine.detection, self.limits, batch, findings)
            await self._shared.fetch_for(slices)
        except asyncio.CancelledError:
            await run_to_completion(self._release(batch, "shutdown during processing"))
            raise
        except StateUnavailable as exc:  # not the batch's fault: not an attempt; its source redelivers it
            self.stats.source(batch.source).batches_failed += 1
            await self._release(batch, f"state store unavailable: {exc}")
            return None
        except Exception as exc:  # a bug
            await self._failed(batch, exc)
            return None
        return slices

    def _apply_slices(self, batch: Batch, slices: list[SliceFindings]) -> Applied:
        applied = Applied(batch=batch, alerts=[], size=len(batch.data), slices=slices)
        self._apply_findings(applied, iter(slices))
        return applied

    def _apply_findings(self, applied: Applied, findings: Iterator[SliceFindings]) -> None:
        engine = self.engine
        with gc_paused(), engine.batch():
            for found in findings:
                self._failpoints.reached("mid_batch")
                result = engine.apply(found)
                applied.alerts.extend(result.alerts)
                applied.issues.extend(result.issues)
                applied.skipped.update(found.skipped)
                applied.events += result.events
                applied.duplicates += result.duplicates
                applied.newest_event_time = max(applied.newest_event_time, result.newest_event_time)

    def _add_to_group(self, applied: Applied) -> None:
        if not self._group:
            self._group_started = time.monotonic()
        self._group.append(applied)

    # -- commits ---------------------------------------------------------------------------------

    async def commit(self) -> None:
        """Make the open group durable (outbox, then state) and acknowledge its batches."""
        async with self._lock:
            await self._commit()

    async def _commit(self) -> None:
        group, self._group = self._group, []
        monitor_alerts, self._monitor_alerts = self._monitor_alerts, []
        if not group and not monitor_alerts:
            return
        failpoints = self._failpoints
        try:
            recorded = await self._make_durable(group, monitor_alerts)
        except asyncio.CancelledError:
            # Stopping mid-commit: nothing is lost; the final checkpoint commits the group, or releases it.
            self._group = group + self._group
            self._monitor_alerts = monitor_alerts + self._monitor_alerts
            raise
        except Exception as exc:  # disk full, outbox down: undo the group, let the sources redeliver it
            self.stats.commit_failures += 1
            self._monitor_alerts = monitor_alerts
            await self._in_worker(self.engine.forget_unpersisted)
            log.error("could not make %d batch(es) durable, released for redelivery: %s: %s", len(group),
                      type(exc).__name__, printable(str(exc)))
            for applied in group:
                if applied.batch is not None:
                    self.stats.source(applied.batch.source).batches_failed += 1
                    await self._release(applied.batch, f"commit failed: {type(exc).__name__}")
            return
        self.stats.commits += 1
        self.stats.alerts_recorded += recorded
        for applied in group:
            batch = applied.batch
            if batch is None:
                continue
            counters = self.stats.source(batch.source)
            counters.batches += 1
            counters.alerts += len(applied.alerts)
            self.stats.batches_committed += 1
            self._retries.succeeded(batch)
            try:
                await batch.ack()
            except Exception as exc:  # the state is durable; a redelivery is de-duplicated by eventID
                counters.ack_errors += 1
                log.error("acknowledging %s from source %s failed: %s: %s", printable(batch.origin), batch.source,
                          type(exc).__name__, printable(str(exc)))
        self.checkpoints.commit()
        failpoints.reached("after_ack")

    async def _make_durable(self, group: list[Applied], monitor_alerts: list[Alert]) -> int:
        """The outbox first, then the state: a crash between the two redelivers batches whose alerts the
        outbox already holds, and they come out the same. With a shared store the group's alerts are
        committed with its state, in one step. Returns how many alerts were recorded."""
        failpoints = self._failpoints
        failpoints.reached("before_record")
        if self._shared is None:
            alerts = newest_per_id([*(alert for applied in group for alert in applied.alerts), *monitor_alerts])
            await self._record(alerts)
            failpoints.reached("after_record")
            await self._in_worker(self.engine.store.persist)
            failpoints.reached("after_persist")
            return len(alerts)
        await self._record(newest_per_id(monitor_alerts))  # the monitor's own: to this replica's outbox
        failpoints.reached("after_record")
        committed = await self._shared.commit(group)
        failpoints.reached("after_persist")
        return committed + len(monitor_alerts)

    async def _record(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        try:
            await self.recorder.record(alerts)
        except Exception:
            self.stats.record_failures += 1
            raise

    async def _failed(self, batch: Batch, exc: Exception) -> None:
        alert = await self._retries.failed(batch, exc)
        if alert is not None:
            self._monitor_alerts.append(alert)

    async def _release(self, batch: Batch, reason: str) -> None:
        await release(batch, reason)

    async def _in_worker(self, function: Callable[..., T], *args: Any) -> T:
        future = asyncio.get_running_loop().run_in_executor(self._worker, function, *args)
        # Shielded: the state is never left half-changed by a cancelled caller; the work finishes.
        return await asyncio.shield(future)

    # -- housekeeping ----------------------------------------------------------------------------

    async def run_checkpoints(self, interval: float) -> None:
        """Every `interval` seconds: close quiet episodes and commit. Until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.checkpoint()
            except Exception as exc:  # disk full, recorder down: try again next time
                self.stats.checkpoint_failures += 1
                log.error("checkpoint failed: %s: %s", type(exc).__name__, printable(str(exc)))

    async def checkpoint(self, *, final: bool = False) -> None:
        """Close episodes that ended by the wall clock, then commit everything open."""
        async with self._lock:
            # Open episodes and windows are not closed at shutdown: they are durable and continue after a
            # restart (a burst spanning the restart still fires, an episode keeps its alert id).
            now = self.clock()
            closed: list[Alert] = []
            if self._shared is None:
                closed = await self._in_worker(self.engine.close_expired, now)
            elif self._shared.store.available:
                try:
                    await self._shared.fetch_for([], now)  # the episodes that ended by now
                    closed = await self._in_worker(self.engine.close_expired, now)
                except StateUnavailable:
                    pass  # closed by a later checkpoint, here or on another replica
            if closed:
                self._add_to_group(Applied(batch=None, alerts=closed, closed_at=now))
            await self._commit()
            self.checkpoints.commit()
        self.stats.checkpoints += 1

    def restore_state(self) -> tuple[int, int]:
        """Load the durable engine state (at start, before any batch): (values, eventIDs) restored."""
        store = self.engine.store
        restore = getattr(store, "restore", None)
        if restore is None:
            return 0, 0
        restored: tuple[int, int] = restore()
        self.engine.restored()
        return restored

    # -- shutdown --------------------------------------------------------------------------------

    async def join(self) -> None:
        """Wait until every queued batch was processed (the consumer must be running)."""
        await self._intake.join()

    async def release_queued(self, reason: str) -> int:
        """Release batches still queued (after the consumer stopped) and those waiting for a retry."""
        batches = self._intake.take_all()
        for batch in batches:
            await self._release(batch, reason)
        await self._retries.release_held()
        return len(batches)

    async def release_uncommitted(self, reason: str) -> int:
        """Release the batches of a group that could not be committed (after the final checkpoint failed)."""
        group, self._group = self._group, []
        self._monitor_alerts = []
        batches = [applied.batch for applied in group if applied.batch is not None]
        for batch in batches:
            await self._release(batch, reason)
        return len(batches)

    @property
    def pending_alerts(self) -> int:
        """Alerts of applied batches not yet durable (a commit is due)."""
        return sum(len(applied.alerts) for applied in self._group) + len(self._monitor_alerts)

    def close(self) -> None:
        """Stop the worker thread (after the consumer and checkpoints stopped)."""
        self._worker.shutdown(wait=True)
