"""`Alerting`: the alert delivery stage the app builds and the pipeline records into.

    alerting = Alerting(settings, db_path=state_dir / "outbox.sqlite", aws=aws_clients)
    await alerting.start()            # delivery workers, one per sink
    await alerting.record(alerts)     # durable on return: then acknowledge the source
    alerting.stats(); alerting.ready()
    await alerting.stop(deadline_seconds=10)   # pending rows stay for the next start

Construction resolves every secret reference and raises ConfigError (paths,
no values) if one is missing. It does no network I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from monitor.alerts.base import Sink
from monitor.alerts.console import ConsoleSink
from monitor.alerts.outbox import Outbox
from monitor.alerts.outbox_schema import MERGED, SUPPRESSED, Target
from monitor.alerts.router import RepeatWindow, Router
from monitor.alerts.secrets import Secret, SecretError, expand
from monitor.alerts.settings import AlertingSettings
from monitor.alerts.sink_settings import ConsoleOptions, SinkSettings, SlackOptions, SnsOptions, WebhookOptions
from monitor.alerts.slack import SlackSink
from monitor.alerts.sns import SnsSink
from monitor.alerts.stats import AlertingStats, SinkStats
from monitor.alerts.webhook import WebhookSink
from monitor.alerts.worker import DeliveryWorker, HealthChange
from monitor.aws.clients import AwsClients
from monitor.configreader import ConfigError
from monitor.model.alert import Alert, fingerprint
from monitor.model.severity import Severity

log = logging.getLogger("trailsentry.alerts")

SINK_FAILING_DETECTOR = "trailsentry-sink-failing"
HOUSEKEEPING_SECONDS = 3600.0
_FAILING_RUNBOOK = (
    "Alerts for this sink wait in the outbox and are retried with backoff; nothing is lost until they reach the "
    "sink's max age, when they move to the dead-letter table and are logged with their ids. Check the sink's "
    "credentials (webhook URL, bot token and its channel, or topic permissions), network egress and the "
    "provider's status page. The monitor says here when the sink recovers."
)


def build_sink(settings: SinkSettings, *, aws: AwsClients | None, stdout: TextIO | None,
               clock: Callable[[], float]) -> Sink:
    """The sink for one settings entry; raises SecretError naming the config path of a missing secret."""
    options = settings.options
    if isinstance(options, SlackOptions):
        if options.token is not None:
            return SlackSink(settings, token=options.token.resolve(), channel=options.channel,
                             api_url=options.api_url, clock=clock)
        assert options.url is not None
        return SlackSink(settings, options.url.resolve())
    if isinstance(options, WebhookOptions):
        url = options.url.resolve()
        secret = options.secret.resolve() if options.secret is not None else None
        headers: dict[str, Secret] = {}
        for name, template in options.headers:
            headers[name] = expand(template.reveal(), f"{settings.where}.headers.{name}")
        return WebhookSink(settings, url, secret, headers, clock)
    if isinstance(options, SnsOptions):
        if aws is None:
            raise SecretError(f"{settings.where or settings.name}: an SNS sink needs the AWS client factory")
        return SnsSink(settings, options, aws)
    assert isinstance(options, ConsoleOptions)
    return ConsoleSink(settings, options.path, stdout)


class Alerting:
    def __init__(self, settings: AlertingSettings, *, db_path: Path | str, aws: AwsClients | None = None,
                 clock: Callable[[], float] = time.time, rng: random.Random | None = None,
                 stdout: TextIO | None = None, sinks: Sequence[Sink] | None = None) -> None:
        """`sinks` replaces the sinks built from settings (same names), for embedding and tests."""
        self.settings = settings
        self._clock = clock
        self._router = Router(settings.sinks, settings.routes)
        self._repeat_window = RepeatWindow(settings.repeat_window)
        self._sink_settings = {s.name: s for s in settings.sinks}
        built = {s.name: s for s in sinks} if sinks is not None else self._build_sinks(aws, stdout)
        self.outbox = Outbox(db_path)
        for sink in built.values():
            if isinstance(sink, SlackSink) and sink.threads:
                sink.bind(self.outbox)  # its threads are recorded beside the deliveries they belong to
        self._workers = {
            name: DeliveryWorker(built[name], sink_settings, self.outbox, clock=clock, health=settings.health,
                                 on_health=self._health_changed, rng=rng, on_progress=self._progressed)
            for name, sink_settings in self._sink_settings.items()
        }
        self._recorded: Counter[tuple[str, str]] = Counter()
        self._duplicates = 0
        self._unrouted = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        self._stopped = False
        self._final: AlertingStats | None = None
        self._progress = asyncio.Event()

    def _build_sinks(self, aws: AwsClients | None, stdout: TextIO | None) -> dict[str, Sink]:
        errors: list[str] = []
        built: dict[str, Sink] = {}
        for sink_settings in self.settings.sinks:
            try:
                built[sink_settings.name] = build_sink(sink_settings, aws=aws, stdout=stdout, clock=self._clock)
            except SecretError as exc:
                errors.append(str(exc))
        if errors:
            raise ConfigError(errors)
        return built

    # -- lifecycle -------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        if self._stopped:
            raise RuntimeError("alerting was stopped; build a new instance")
        self._started = True
        self.outbox.prune(self._clock(), self.settings.retention_seconds)
        pending = self.outbox.pending_by_sink(self._clock())
        for name, worker in self._workers.items():
            await worker.sink.start()
            self._tasks.append(asyncio.create_task(worker.run(), name=f"alerts:{name}"))
            count = pending.get(name, (0, 0.0))[0]
            if count:
                log.info("sink %s: %d alert messages pending from before, delivering", name, count)
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="alerts:housekeeping"))

    async def stop(self, deadline_seconds: float = 10.0) -> None:
        """Deliver what is due now until the deadline, then stop; undelivered rows stay in the outbox."""
        if self._stopped:
            return
        self._stopped = True
        workers = [t for t in self._tasks if t.get_name() != "alerts:housekeeping"]
        for worker in self._workers.values():
            worker.draining = True
            worker.wake()
        if workers:
            _, late = await asyncio.wait(workers, timeout=max(deadline_seconds, 0.0))
            if late:
                log.warning("alert delivery: %d sink(s) still busy at the shutdown deadline; their pending "
                            "alerts stay in the outbox", len(late))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for worker in self._workers.values():
            try:
                await worker.sink.close()
            except Exception as exc:  # closing must not hide the rest of shutdown
                log.warning("sink %s: close failed (%s)", worker.name, type(exc).__name__)
        self._final = self.stats()
        self.outbox.close()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            self.outbox.prune(self._clock(), self.settings.retention_seconds)

    def wake(self) -> None:
        """Make every worker look at the outbox and the clock now (after moving an injected clock)."""
        for worker in self._workers.values():
            worker.wake()

    # -- recording -------------------------------------------------------------------------------------------------

    async def record(self, alerts: Sequence[Alert], receipt: str | None = None) -> None:
        """Durably store alerts and their deliveries; committed to SQLite when this returns. A `receipt`
        names a group of alerts handed over by the replicas: recorded once however often it is given."""
        if self._stopped:
            raise RuntimeError("alerting is stopped")
        if not alerts:
            return
        items = []
        for alert in alerts:
            window = self._repeat_window.window(alert.detector)
            targets = [Target(name, window if self._sink_settings[name].dedup else 0.0)
                       for name in self._router.route(alert)]
            items.append((alert, self._repeat_window.group_key(alert), targets))
        outcomes = self.outbox.record(items, self._clock(), receipt)
        if outcomes is None:
            self._duplicates += len(alerts)
            return
        for alert, outcome in zip(alerts, outcomes, strict=True):
            if outcome.duplicate:
                self._duplicates += 1
                continue
            self._recorded[(alert.detector, alert.severity.label)] += 1
            if not outcome.per_sink and outcome.new:
                self._unrouted += 1
                log.warning("alert %s (%s, %s) matched no route and goes to no sink",
                            alert.id, alert.detector, alert.severity.label)
            for name, result in outcome.per_sink.items():
                worker = self._workers[name]
                if result == SUPPRESSED:
                    worker.counters.suppressed += 1
                elif result == MERGED:
                    worker.counters.merged += 1
                worker.wake()
        self._progressed()

    # -- the monitor alerting on itself ----------------------------------------------------------------------------

    def _health_changed(self, change: HealthChange) -> None:
        now = self._clock()
        context: dict[str, object] = {"sink": change.sink, "sink_type": change.kind, "reason": change.reason,
                                      "consecutive_failures": change.consecutive_failures,
                                      "oldest_pending_seconds": round(change.oldest_pending_seconds)}
        state = "failing" if change.failing else "recovered"
        context["state"] = state
        if change.failing:
            title = f"Alert sink {change.sink} is failing"
            severity = Severity.HIGH
            log.error("sink %s is failing (%s, %d consecutive failures, oldest pending %.0fs); telling the other "
                      "sinks", change.sink, change.reason, change.consecutive_failures, change.oldest_pending_seconds)
        else:
            title = f"Alert sink {change.sink} recovered"
            severity = Severity.INFO
            context["failing_seconds"] = round(max(now - change.since, 0.0))
            log.warning("sink %s recovered after %.0fs", change.sink, max(now - change.since, 0.0))
        alert = Alert(
            id=fingerprint(SINK_FAILING_DETECTOR, change.sink, str(change.since), state),
            detector=SINK_FAILING_DETECTOR, title=title, severity=severity, account="", region="",
            principal="trailsentry", source_ip="", user_agent="", event_source="trailsentry",
            event_name="SinkFailing" if change.failing else "SinkRecovered", event_time=now, last_event_time=now,
            event_ids=[], count=1, mitre=(), runbook=_FAILING_RUNBOOK, context=context)
        notify = self.settings.health.notify or tuple(self._workers)
        targets = [Target(name, 0.0) for name in notify if name != change.sink and name in self._workers]
        self.outbox.record([(alert, alert.id, targets)], now)
        self._recorded[(alert.detector, alert.severity.label)] += 1
        for target in targets:
            self._workers[target.sink].wake()

    # -- observation -----------------------------------------------------------------------------------------------

    def stats(self) -> AlertingStats:
        if self._final is not None:
            return self._final
        now = self._clock()
        pending = self.outbox.pending_by_sink(now)
        sinks: dict[str, SinkStats] = {}
        for name, worker in self._workers.items():
            count, oldest = pending.get(name, (0, 0.0))
            c = worker.counters
            sinks[name] = SinkStats(
                kind=worker.sink.kind, sent=c.sent, failed=c.failed, retried=c.retried,
                dead_lettered=c.dead_lettered, rate_limited=c.rate_limited, suppressed=c.suppressed,
                merged=c.merged, skipped=c.skipped, pending=count, oldest_pending_seconds=oldest,
                failing=worker.failing, consecutive_failures=worker.consecutive_failures)
        oldest_all = max((s.oldest_pending_seconds for s in sinks.values()), default=0.0)
        return AlertingStats(
            outbox_depth=sum(s.pending for s in sinks.values()), oldest_pending_seconds=oldest_all, sinks=sinks,
            recorded=dict(self._recorded), duplicates=self._duplicates, unrouted=self._unrouted,
            ready=oldest_all < self.settings.ready_max_pending_seconds)

    def _progressed(self) -> None:
        # Wake every waiter, then arm a fresh event for the next change.
        self._progress.set()
        self._progress = asyncio.Event()

    async def wait_for(self, predicate: Callable[[AlertingStats], bool],
                       timeout_seconds: float = 30.0) -> AlertingStats:
        """Wait until `predicate(stats())` holds (checked after every record and delivery attempt).

        For drain tooling and tests; raises TimeoutError with the last stats after `timeout_seconds`.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        while True:
            current = self.stats()
            if predicate(current):
                return current
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"alert delivery did not reach the expected state: {current}")
            event = self._progress
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=remaining)

    def ready(self) -> bool:
        """False when the outbox is stuck: something has waited longer than `ready_max_pending_seconds`."""
        return self.stats().ready
