"""The composition root of `trailsentry run` (and `demo`): builds the stages, owns lifecycles and signals.

Start: checkpoint store, alert delivery (the durable outbox and its sinks,
`monitor.alerts.Alerting`), engine (eventID memory restored), pipeline, AWS
clients, sources (each in a supervised task that restarts it with backoff when
it crashes), periodic checkpoints, the metrics server (/metrics, /healthz,
/readyz) when asked, and any extra `Service`.

Shutdown (SIGTERM, SIGINT, `request_stop()`), shielded from cancellation:
  1. stop receiving: cancel the source tasks (a source blocked in `emit`
     releases the batch it held);
  2. drain: the detect stage finishes what is queued, up to
     `service.drain_seconds` (default 20 s, inside Kubernetes' 30 s grace);
  3. stop the detect stage; release every batch still queued or in flight
     (redelivered after restart: SQS visibility timeout, cursor not advanced);
  4. final checkpoint: close the episodes that have ended, commit the open
     group (alerts to the outbox, then every state change), commit cursors;
     open episodes stay open in the saved state and continue after restart;
  5. stop extra services and the metrics server, let alert delivery send what
     is due for a moment (the outbox keeps the rest for the next start), close
     sources, AWS clients and the checkpoint store.
A second signal skips the rest of the drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from monitor.alerts.base import Sink
from monitor.alerts.contract import AlertRecorder
from monitor.alerts.service import Alerting
from monitor.aws.backoff import Backoff
from monitor.aws.clients import AwsClients
from monitor.checkpoint import CheckpointStore, Cursors
from monitor.config import Config, ConfigError
from monitor.engine import Engine
from monitor.engine.detect import Detection
from monitor.engine.state.embedded import EmbeddedStore
from monitor.engine.state.store import StateStore
from monitor.engine.suppressions_settings import warn_expired
from monitor.failpoints import Failpoints
from monitor.metrics.collector import Telemetry
from monitor.metrics.server import MetricsServer, readiness_check
from monitor.model.detector import Detector
from monitor.pipeline import Pipeline, printable, run_to_completion
from monitor.pipeline.tasks import as_async, cancel_all, closer, quietly, within
from monitor.replicas.runtime import Replication
from monitor.rules.loader import assemble_detectors
from monitor.sources.base import Source, SourceContext
from monitor.sources.registry import create_source
from monitor.sources.settings import SourceSpec
from monitor.workers import DetectionPool

log = logging.getLogger("trailsentry.app")

EXIT_OK = 0
EXIT_FAILED = 1

# A source that ran at least this long before crashing starts its backoff afresh.
_HEALTHY_RUN_SECONDS = 60.0
# Recording the final alerts at shutdown gets this long (a stuck recorder must not outlast the grace period).
FINAL_CHECKPOINT_SECONDS = 5.0
# At shutdown, alert delivery gets this long to send what is due (the outbox keeps the rest).
ALERT_DELIVERY_STOP_SECONDS = 5.0


class Service(Protocol):
    """Something that runs beside the pipeline for the app's lifetime; started after the sources are built."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class App:
    def __init__(self, config: Config, *, recorder: AlertRecorder | None = None,
                 alert_sinks: Sequence[Sink] | None = None, serve_metrics: bool = False,
                 clients: AwsClients | None = None, services: list[Service] | None = None,
                 sources: list[Source] | None = None, checkpoint_path: Path | None = None) -> None:
        """Raises ConfigError (every error with its path) before anything is opened or contacted.

        Without `recorder`, alerts go to the durable outbox and the sinks of the config (`Alerting`);
        `alert_sinks` replaces those sinks (same names). `serve_metrics` starts /metrics, /healthz and
        /readyz as the config's `metrics` section says (`run` and `demo` do; tests and embedders
        usually do not). `sources` replaces the config's sources.
        """
        self.config = config
        self.live = config.live
        self._alerting_settings = config.alerting if recorder is None else None
        self._metrics_settings = config.metrics if serve_metrics else None
        self._alert_sinks = list(alert_sinks) if alert_sinks is not None else None
        self.recorder: AlertRecorder | None = recorder
        self.alerting: Alerting | None = None
        self.telemetry: Telemetry | None = None
        self.metrics_server: MetricsServer | None = None
        self.clients = clients if clients is not None else AwsClients()
        self.services: list[Service] = list(services or [])
        self.checkpoints: CheckpointStore | None = None
        self.state: EmbeddedStore | None = None
        self.replication: Replication | None = None
        self.pool: DetectionPool | None = None
        self.pipeline: Pipeline | None = None
        # Sources built by the caller (tests, embedding) instead of from the config's `sources`.
        self._given_sources = list(sources) if sources is not None else None
        self._checkpoint_path = checkpoint_path
        self.sources: list[Source] = []
        self.started = asyncio.Event()
        self._stop = asyncio.Event()
        self._drain_now = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._consumer: asyncio.Task[None] | None = None
        self._checkpointer: asyncio.Task[None] | None = None
        self._signals: list[signal.Signals] = []

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        live = self.live
        path = self._checkpoint_path or live.checkpoint.resolve()
        detectors = self._detectors()
        tuning = live.service
        if tuning.workers > 1:
            # Forked first, before this process opens any file or starts any thread.
            self.pool = DetectionPool(Detection(detectors, self.config.engine.suppressions), self.config.decode,
                                      tuning.workers)
        if self.recorder is None:
            assert self._alerting_settings is not None
            # Resolves secret references first (ConfigError naming the path of a missing one), so a
            # misconfigured service stops before it creates any file; no network I/O.
            self.alerting = Alerting(self._alerting_settings, db_path=outbox_path(path), aws=self.clients,
                                     sinks=self._alert_sinks)
            self.recorder = self.alerting
        self.checkpoints = CheckpointStore(path)
        store: StateStore
        if self.config.state.shared:
            self.replication = Replication(self.config.state, path.parent,
                                           lateness=float(self.config.engine.lateness_seconds))
            store = self.replication.store
        else:
            store = self.state = EmbeddedStore(path, self.config.engine.dedupe_capacity)
        engine = Engine(detectors, self.config.engine, store=store)
        warn_expired(self.config.engine.suppressions, time.time(), log)
        settings = self._metrics_settings
        if settings is not None and settings.enabled:
            self.telemetry = Telemetry()
        self.pipeline = Pipeline(engine, self.recorder, self.checkpoints, queue_batches=tuning.queue_batches,
                                 queue_bytes=tuning.queue_bytes, limits=self.config.decode,
                                 group_batches=tuning.commit_batches, group_seconds=tuning.commit_seconds,
                                 max_attempts=tuning.max_attempts, failpoints=Failpoints.from_environment(),
                                 observe_batch=self.telemetry.observe_batch if self.telemetry is not None else None,
                                 pool=self.pool,
                                 shared=self.replication.store if self.replication is not None else None)
        values, restored = self.pipeline.restore_state()
        context = SourceContext(clients=self.clients, checkpoints=self.checkpoints)
        if self._given_sources is not None:
            self.sources = self._given_sources
        else:
            self.sources = [self._source(spec, context) for spec in live.sources]
        if self.alerting is not None:
            await self.alerting.start()
        if self.replication is not None:
            await self.replication.start(self.alerting, self.recorder)
        if settings is not None and self.telemetry is not None:
            self.telemetry.register_engine(engine)
            self.telemetry.register_pipeline(self.pipeline.stats)
            self.telemetry.register_sources(self.sources)
            if self.alerting is not None:
                self.telemetry.register_alerting(self.alerting)
            if self.replication is not None:
                self.telemetry.register_replica(self.replication)
                self.replication.trips.observe_with(self.telemetry.state_round_trip.observe)
            probe = readiness_check(self.sources, self.alerting, running=self._running, state=self._state_ready)
            self.telemetry.register_readiness(lambda: probe().ready)
            self.metrics_server = MetricsServer(self.telemetry, settings, readiness=probe)
            try:
                await self.metrics_server.start()
            except OSError as exc:
                raise ConfigError([f"metrics: cannot listen on {settings.host}:{settings.port}: "
                                   f"{exc.strerror or exc} (set metrics.port, or metrics.enabled: false)"]) from None
        for service in self.services:
            await service.start()
        self._consumer = asyncio.create_task(self.pipeline.run(), name="trailsentry-detect")
        self._checkpointer = asyncio.create_task(self.pipeline.run_checkpoints(live.service.checkpoint_seconds),
                                                 name="trailsentry-checkpoint")
        for source in self.sources:
            self._tasks[source.name] = asyncio.create_task(self._supervise(source), name=f"source-{source.name}")
        log.info("trailsentry running: %d detector(s), source(s) %s, checkpoint %s (%d state values and %d eventIDs "
                 "restored)%s", len(engine.detectors), ", ".join(f"{s.name} ({s.kind})" for s in self.sources), path,
                 values, restored,
                 f", metrics on {self.metrics_server.url}" if self.metrics_server is not None else "")
        self.started.set()

    async def run(self, *, handle_signals: bool = True) -> int:
        """Start, serve until a stop is requested (or the detect stage fails), shut down. The exit code."""
        failed = False
        try:
            if handle_signals:
                self.install_signal_handlers()  # a signal during start-up stops right after it
            await self.start()
            assert self._consumer is not None
            waiter = asyncio.create_task(self._stop.wait())
            try:
                await asyncio.wait({waiter, self._consumer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            failed = self._consumer.done() and not self._stop.is_set()
            if failed:
                error = self._consumer.exception()
                log.critical("the detect stage stopped: %r; shutting down", error)
        finally:
            await run_to_completion(self.shutdown())
            self.remove_signal_handlers()
        return EXIT_FAILED if failed else EXIT_OK

    async def wait_stop_requested(self) -> None:
        await self._stop.wait()

    def request_stop(self, reason: str = "requested") -> None:
        if self._stop.is_set():
            log.warning("second stop request (%s): skipping the rest of the drain", reason)
            self._drain_now.set()
            return
        log.info("stopping (%s): draining for up to %.0fs", reason, self.live.service.drain_seconds)
        self._stop.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
            self._signals.append(sig)

    def remove_signal_handlers(self) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop any more: nothing to remove
            loop = asyncio.get_running_loop()
            for sig in self._signals:
                loop.remove_signal_handler(sig)
        self._signals.clear()

    def ready(self) -> bool:
        """Every source has reached its upstream, the detect stage is running and the state store answers."""
        return self._running() and self._state_ready() and all(source.ready() for source in self.sources)

    def _state_ready(self) -> bool:
        return self.replication is None or self.replication.ready()

    def _source(self, spec: SourceSpec, context: SourceContext) -> Source:
        """A configured source; with replicas, one that must not run twice runs under a lease."""
        if self.replication is not None:
            def build(cursors: Cursors) -> Source:
                return create_source(spec, SourceContext(context.clients, cursors))

            leased = self.replication.leased(spec.name, spec.kind, build)
            if leased is not None:
                return leased
        return create_source(spec, context)

    def _running(self) -> bool:
        return self._consumer is not None and not self._consumer.done() and not self._stop.is_set()

    async def shutdown(self) -> None:
        """Stop receiving, drain to the deadline, release the rest, checkpoint, close. Idempotent."""
        pipeline = self.pipeline
        # 1. Stop receiving.
        tasks = list(self._tasks.values())
        self._tasks.clear()
        await cancel_all(tasks)
        if self.replication is not None:
            await quietly("leaving delivery and leases to the other replicas", self.replication.leave)
        if pipeline is not None and self._consumer is not None:
            # 2. Drain what is queued, up to the deadline (a second signal cuts it short).
            drained = not self._consumer.done() and await self._drain(pipeline)
            if not drained:
                log.warning("drain deadline reached (%d batch(es) still queued); releasing what was not processed",
                            pipeline.stats.queue_depth)
            # 3. Stop the detect stage; release what it did not reach.
            await cancel_all([t for t in (self._consumer, self._checkpointer) if t is not None])
            self._consumer = self._checkpointer = None
            released = await pipeline.release_queued("shutdown")
            if released:
                log.info("released %d unprocessed batch(es) for redelivery", released)
            # 4. Final checkpoint: close episodes that ended, commit the open group (outbox, then state), cursors.
            try:
                await asyncio.wait_for(pipeline.checkpoint(final=True), FINAL_CHECKPOINT_SECONDS)
            except Exception as exc:
                log.error("final checkpoint failed: %s: %s (unrecorded alerts are produced again after restart)",
                          type(exc).__name__, printable(str(exc)))
            if pipeline.pending_alerts:
                log.error("%d alert(s) could not be made durable; their batches are redelivered after restart",
                          pipeline.pending_alerts)
            await pipeline.release_uncommitted("shutdown before commit")
        if pipeline is not None:
            pipeline.close()
        if self.pool is not None:
            pool, self.pool = self.pool, None
            await quietly("stopping the detection workers", as_async(pool.close))
        # 5. Close everything, each step on its own so one failure does not skip the rest.
        for service in self.services:
            await quietly("stopping a service", service.stop)
        if self.metrics_server is not None:
            await quietly("stopping the metrics server", self.metrics_server.stop)
        if self.alerting is not None:
            # Deliver what is due for a moment; the rest stays in the outbox for the next start.
            await quietly("stopping alert delivery", lambda: _stop_alerting(self.alerting))
        else:
            await quietly("closing the recorder", closer(self.recorder))
        for source in self.sources:
            await quietly(f"closing source {source.name}", source.close)
        self.sources = []
        await quietly("closing AWS clients", self.clients.close)
        if self.checkpoints is not None:
            checkpoints, self.checkpoints = self.checkpoints, None
            await quietly("committing checkpoints", as_async(checkpoints.close))
        if self.state is not None:
            state, self.state = self.state, None
            await quietly("closing the engine state", as_async(state.close))
        if self.replication is not None:
            replication, self.replication = self.replication, None
            await quietly("leaving the replicas", replication.stop)
        self.pipeline = None
        if self.started.is_set():
            log.info("trailsentry stopped")

    async def _drain(self, pipeline: Pipeline) -> bool:
        drain = asyncio.create_task(within(pipeline.join(), self.live.service.drain_seconds))
        cut = asyncio.create_task(self._drain_now.wait())
        try:
            await asyncio.wait({drain, cut}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            cut.cancel()
            drain.cancel()
        return drain.done() and not drain.cancelled() and drain.result()

    async def _supervise(self, source: Source) -> None:
        """Run a source; when it crashes (or returns, which it must not), log, count and restart it with backoff."""
        assert self.pipeline is not None
        counters = self.pipeline.stats.source(source.name)
        backoff = Backoff(base=1.0, cap=self.live.service.restart_seconds)
        while True:
            started = time.monotonic()
            try:
                await source.run(self.pipeline.emit)
                problem = "returned unexpectedly"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                problem = f"crashed: {type(exc).__name__}: {printable(str(exc))}"
                log.debug("source %s traceback", source.name, exc_info=True)
            counters.restarts += 1
            if time.monotonic() - started >= _HEALTHY_RUN_SECONDS:
                backoff.reset()
            delay = max(backoff.next_delay(), backoff.base)
            log.error("source %s (%s) %s; restarting in %.1fs", source.name, source.kind, problem, delay)
            await asyncio.sleep(delay)

    def _detectors(self) -> list[Detector]:
        return assemble_detectors(self.config)[0]


def outbox_path(checkpoint_path: Path) -> Path:
    """The alert outbox lives beside the checkpoint file: trailsentry.sqlite -> trailsentry.outbox.sqlite."""
    return checkpoint_path.with_name(f"{checkpoint_path.stem}.outbox{checkpoint_path.suffix or '.sqlite'}")


async def _stop_alerting(alerting: Alerting | None) -> None:
    if alerting is not None:
        await alerting.stop(deadline_seconds=ALERT_DELIVERY_STOP_SECONDS)
