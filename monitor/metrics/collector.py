"""The scrape-time collector: stage counters turned into Prometheus families only when /metrics is read.

Counting costs nothing on the hot path: the stages bump plain integers on their
own stats objects (`EngineStats`, the pipeline's `PipelineCounters`, each source's
`SourceStats`, the alerting service's `stats()`), and `Telemetry` reads them at
scrape time. The only per-batch work is `observe_batch` (two histogram
observations), which the composition root hands to the pipeline.

    telemetry = Telemetry()              # its own CollectorRegistry
    telemetry.register_engine(engine)
    telemetry.register_pipeline(pipeline.stats)
    telemetry.register_sources(sources)
    telemetry.register_alerting(alerting)
    Pipeline(..., observe_batch=telemetry.observe_batch)
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.metrics.catalogue import CATALOGUE, ROUND_TRIP_BUCKETS, label_token
from monitor.metrics.histogram import LabelledHistogram
from monitor.metrics.views import Alerting, PipelineCounters, ReplicaView

if TYPE_CHECKING:
    from monitor.engine import Engine
    from monitor.sources.base import Source


class _Families:
    """The families of one scrape, created from the catalogue."""

    def __init__(self) -> None:
        self._families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for metric in CATALOGUE:
            if metric.kind == "counter":
                self._families[metric.name] = CounterMetricFamily(metric.name, metric.help, labels=metric.labels)
            elif metric.kind == "gauge":
                self._families[metric.name] = GaugeMetricFamily(metric.name, metric.help, labels=metric.labels)

    def add(self, name: str, value: float, *labels: str) -> None:
        family = self._families[name]
        if math.isfinite(value):
            family.add_metric(list(labels), value)

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._families.values())


def _copy(mapping: Mapping[Any, Any]) -> dict[Any, Any]:
    """A consistent copy of a dict another thread may be adding keys to (the engine runs on a worker thread)."""
    for _ in range(5):
        try:
            return dict(mapping)
        except RuntimeError:  # changed size during iteration
            continue
    return {}


class _StatsCollector(Collector):
    """Reads the registered stats objects at scrape time."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry

    def describe(self) -> Iterable[Metric]:
        return ()  # names are checked against the catalogue, not at registration

    def collect(self) -> Iterable[Metric]:
        t = self._telemetry
        families = _Families()
        families.add("trailsentry_build_info", 1, __version__, platform.python_version())
        if t.engine is not None:
            _read_engine(families, t.engine)
        if t.pipeline is not None:
            _read_pipeline(families, t.pipeline)
        for source in t.sources:
            _read_source(families, source)
        _read_state(families, t.replica)
        if t.readiness is not None:
            families.add("trailsentry_ready", 1 if _safe(t.readiness) else 0)
        if t.alerting is not None:
            # Every detector's default severity starts at 0, so increase() sees a detector's first alert.
            seeds = [(d.id, d.severity.label) for d in t.engine.detectors] if t.engine is not None else []
            _read_alerting(families, t.alerting, seeds)
        yield from families
        yield t.ingest_lag.family("trailsentry_ingest_lag_seconds")
        yield t.delivery_lag.family("trailsentry_delivery_lag_seconds")
        yield t.state_round_trip.family("trailsentry_state_round_trip_seconds")


def _read_state(families: _Families, replica: ReplicaView | None) -> None:
    if replica is None:
        families.add("trailsentry_state_store_up", 1, "embedded")
        return
    families.add("trailsentry_state_store_up", 1 if replica.state_up() else 0, "redis")
    for operation, count in sorted(dict(replica.round_trips()).items()):
        families.add("trailsentry_state_round_trips", count, label_token(operation))
    for lease, held in sorted(dict(replica.leases_held()).items()):
        families.add("trailsentry_lease_held", 1 if held else 0, label_token(lease))


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:  # a failing check reads as not ready
        return False


def _read_engine(families: _Families, engine: Engine) -> None:
    stats = engine.stats
    matches = _copy(stats.matches)
    errors = _copy(stats.detector_errors)
    alerts = _copy(stats.alerts)
    suppressed = _copy(stats.suppressed)
    signals = _copy(stats.signals)
    # Every configured detector gets a series, so a quiet detector shows 0 rather than nothing.
    for detector_id in sorted({d.id for d in engine.detectors} | set(matches) | set(errors) | set(alerts)
                              | set(suppressed) | set(signals)):
        families.add("trailsentry_detector_matches", matches.get(detector_id, 0), detector_id)
        families.add("trailsentry_detector_errors", errors.get(detector_id, 0), detector_id)
        families.add("trailsentry_detector_alerts", alerts.get(detector_id, 0), detector_id)
        families.add("trailsentry_detections_suppressed", suppressed.get(detector_id, 0), detector_id)
        families.add("trailsentry_signals", signals.get(detector_id, 0), detector_id)
    families.add("trailsentry_engine_duplicate_events", stats.duplicates)
    if stats.newest_event_time:
        families.add("trailsentry_engine_watermark_timestamp_seconds", stats.newest_event_time)


def _read_pipeline(families: _Families, stats: PipelineCounters) -> None:
    families.add("trailsentry_queue_capacity_batches", stats.queue_capacity)
    families.add("trailsentry_alerts_recorded", stats.alerts_recorded)
    families.add("trailsentry_record_failures", stats.record_failures)
    families.add("trailsentry_checkpoints", stats.checkpoints, "ok")
    families.add("trailsentry_checkpoints", stats.checkpoint_failures, "failed")
    families.add("trailsentry_state_commits", stats.commits, "ok")
    families.add("trailsentry_state_commits", stats.commit_failures, "failed")
    families.add("trailsentry_state_committed_batches", stats.batches_committed)
    families.add("trailsentry_state_conflicts", stats.conflicts)
    for name, c in sorted(_copy(stats.sources).items()):
        issues = _copy(c.issues)
        skipped = _copy(c.skipped)
        discarded: dict[str, int] = {"duplicate": c.duplicates}
        for reason, count in skipped.items():
            key = label_token(str(reason))
            discarded[key] = discarded.get(key, 0) + count
        not_objects = issues.get("not_an_object", 0)
        if not_objects:
            discarded["not_an_object"] = discarded.get("not_an_object", 0) + not_objects
        families.add("trailsentry_events_received", c.events + sum(discarded.values()), name)
        families.add("trailsentry_events_processed", c.events, name)
        for reason, count in sorted(discarded.items()):
            families.add("trailsentry_events_discarded", count, name, reason)
        decode_errors: dict[str, int] = {}
        for reason, count in issues.items():
            key = label_token(str(reason))
            decode_errors[key] = decode_errors.get(key, 0) + count
        for reason, count in sorted(decode_errors.items()):
            families.add("trailsentry_decode_errors", count, name, reason)
        families.add("trailsentry_batches_processed", c.batches, name)
        families.add("trailsentry_batches_failed", c.batches_failed, name)
        families.add("trailsentry_batches_quarantined", c.batches_quarantined, name)
        families.add("trailsentry_processed_bytes", c.bytes, name)
        families.add("trailsentry_ack_errors", c.ack_errors, name)
        families.add("trailsentry_source_restarts", c.restarts, name)
        families.add("trailsentry_queued_batches", max(c.queued, 0), name)
        if c.newest_event_time:
            families.add("trailsentry_last_event_timestamp_seconds", c.newest_event_time, name)
        if c.last_batch_at:
            families.add("trailsentry_last_batch_timestamp_seconds", c.last_batch_at, name)


# SourceStats keys with a metric of their own; the rest go to trailsentry_source_operations_total.
_SOURCE_KEYS = {
    "objects_read": "trailsentry_objects_read",
    "bytes_read": "trailsentry_read_bytes",
    "log_events_read": "trailsentry_log_events_read",
    "messages_received": "trailsentry_sqs_messages_received",
    "messages_deleted": "trailsentry_sqs_messages_deleted",
    "messages_failed": "trailsentry_sqs_messages_failed",
}
# Keys counted per AWS operation: "api_throttles:ReceiveMessage"; a bare "api_throttles" is api="unknown".
_API_KEYS = {
    "api_calls": "trailsentry_aws_api_calls",
    "api_throttles": "trailsentry_aws_api_throttles",
    "api_errors": "trailsentry_aws_api_errors",
}


def _read_source(families: _Families, source: Source) -> None:
    name = source.name
    try:
        up = 1 if source.ready() else 0
    except Exception:  # a broken ready() is a not-ready source, never a failed scrape
        up = 0
    families.add("trailsentry_source_up", up, name, label_token(source.kind))
    stats = source.stats
    if stats.last_success:
        families.add("trailsentry_source_last_success_timestamp_seconds", stats.last_success, name)
    counts = _copy(stats.counts)
    # Every family present from the start (0), so rate() has a baseline from the first scrape.
    known: dict[str, int] = dict.fromkeys(_SOURCE_KEYS.values(), 0)
    per_api: dict[tuple[str, str], int] = {}
    skipped: dict[str, int] = {}
    other: dict[str, int] = {}
    for key, value in counts.items():
        base, _, api = str(key).partition(":")
        if base in _SOURCE_KEYS and not api:
            known[_SOURCE_KEYS[base]] += value
        elif base in _API_KEYS:
            bucket = (_API_KEYS[base], label_token(api) if api else "unknown")
            per_api[bucket] = per_api.get(bucket, 0) + value
        elif base.startswith("skipped_"):
            reason = label_token(base.removeprefix("skipped_"))
            skipped[reason] = skipped.get(reason, 0) + value
        else:
            operation = label_token(str(key))
            other[operation] = other.get(operation, 0) + value
    for metric, value in known.items():
        families.add(metric, value, name)
    for (metric, api), value in sorted(per_api.items()):
        families.add(metric, value, name, api)
    for reason, value in sorted(skipped.items()):
        families.add("trailsentry_objects_skipped", value, name, reason)
    for operation, value in sorted(other.items()):
        families.add("trailsentry_source_operations", value, name, operation)


def _read_alerting(families: _Families, alerting: Alerting, seeds: Iterable[tuple[str, str]]) -> None:
    stats = alerting.stats()
    families.add("trailsentry_alerting_up", 1 if stats.ready else 0)
    families.add("trailsentry_alerts_duplicate_records", stats.duplicates)
    families.add("trailsentry_alerts_unrouted", stats.unrouted)
    for sink, s in sorted(stats.sinks.items()):
        families.add("trailsentry_alerts_sent", s.sent, sink)
        families.add("trailsentry_alerts_failed", s.failed, sink)
        families.add("trailsentry_alerts_retried", s.retried, sink)
        families.add("trailsentry_alerts_rate_limited", s.rate_limited, sink)
        families.add("trailsentry_alerts_dead_lettered", s.dead_lettered, sink)
        families.add("trailsentry_alerts_coalesced", s.suppressed, sink, "suppressed")
        families.add("trailsentry_alerts_coalesced", s.merged, sink, "merged")
        families.add("trailsentry_alerts_coalesced", s.skipped, sink, "skipped")
        families.add("trailsentry_outbox_depth", s.pending, sink)
        families.add("trailsentry_outbox_oldest_pending_age_seconds", max(s.oldest_pending_seconds, 0.0), sink)
        families.add("trailsentry_sink_failing", 1 if s.failing else 0, sink, label_token(s.kind))
        families.add("trailsentry_sink_consecutive_failures", s.consecutive_failures, sink)
    created: dict[tuple[str, str], int] = dict.fromkeys(seeds, 0)
    for (detector, severity), count in stats.recorded.items():
        key = (label_token(detector), label_token(severity))
        created[key] = created.get(key, 0) + count
    for (detector, severity), count in sorted(created.items()):
        families.add("trailsentry_alerts_created", count, detector, severity)


class Telemetry:
    """Owns a CollectorRegistry with every trailsentry metric (plus process and GC metrics)."""

    def __init__(self, *, process_metrics: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.engine: Engine | None = None
        self.pipeline: PipelineCounters | None = None
        self.sources: tuple[Source, ...] = ()
        self.alerting: Alerting | None = None
        self.replica: ReplicaView | None = None
        self.readiness: Callable[[], bool] | None = None  # what /readyz answers, as a gauge
        self.ingest_lag = LabelledHistogram()
        self.delivery_lag = LabelledHistogram()
        self.state_round_trip = LabelledHistogram(ROUND_TRIP_BUCKETS, label="operation")
        self.registry.register(_StatsCollector(self))
        if process_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)

    # -- registration: keep references, read them at scrape time ------------------------------------

    def register_engine(self, engine: Engine) -> None:
        self.engine = engine

    def register_pipeline(self, stats: PipelineCounters) -> None:
        self.pipeline = stats

    def register_sources(self, sources: Iterable[Source]) -> None:
        self.sources = tuple(sources)

    def register_alerting(self, alerting: Alerting) -> None:
        self.alerting = alerting

    def register_replica(self, replica: ReplicaView) -> None:
        self.replica = replica

    def register_readiness(self, ready: Callable[[], bool]) -> None:
        self.readiness = ready

    # -- per batch ---------------------------------------------------------------------------------

    def observe_batch(self, source: str, *, ingest_lag: float | None, delivery_lag: float | None) -> None:
        if ingest_lag is not None and math.isfinite(ingest_lag):
            # An event time in the future (clock skew, forged eventTime) counts as no lag.
            self.ingest_lag.observe(source, max(ingest_lag, 0.0))
        if delivery_lag is not None and math.isfinite(delivery_lag):
            self.delivery_lag.observe(source, max(delivery_lag, 0.0))

    # -- exposition --------------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)

    def metric_names(self) -> set[str]:
        """Every series name this registry can expose (with _total, _bucket, _sum, _count...)."""
        names: set[str] = set()
        for family in self.registry.collect():
            names.update(_series_names(family.name, family.type))
        for metric in CATALOGUE:  # families without samples yet still count
            names.update(_series_names(metric.name, metric.kind))
        return names


def _series_names(name: str, kind: str) -> list[str]:
    if kind == "counter":
        return [name + "_total", name + "_created"]
    if kind == "histogram":
        return [name + "_bucket", name + "_sum", name + "_count", name + "_created"]
    if kind == "summary":
        return [name, name + "_sum", name + "_count", name + "_created"]
    if kind == "info":
        return [name + "_info"]
    return [name]
