"""Every trailsentry metric, in one place.

Counting costs nothing on the hot path: the stages bump plain integers on their
own stats objects (`EngineStats`, `PipelineStats`, each source's `SourceStats`,
the alerting service's `stats()`), and a `Telemetry` object turns them into
Prometheus families only when `/metrics` is scraped. The only per-batch work is
`observe_batch` (two histogram observations).

Usage (the composition root does this once):

    telemetry = Telemetry()              # its own CollectorRegistry; becomes observe_batch's target
    telemetry.register_engine(engine)
    telemetry.register_pipeline(pipeline.stats)
    telemetry.register_sources(sources)
    telemetry.register_alerting(alerting)

`observe_batch(source, ingest_lag=..., delivery_lag=...)` is a plain module
function so the pipeline needs no reference to the telemetry object: it feeds
the most recently created (or `activate()`d) Telemetry, and does nothing when
there is none (`scan`). Tests create a fresh Telemetry each, so registries never
collide.

Naming: prefix `trailsentry_`, base units, `_total` on counters, and labels only
from small fixed sets (source and sink names from the config, detector ids,
severities, reasons and API names from the code). Reasons and API names are
checked against a pattern so a bug can never turn free text into a label value.
"""

from __future__ import annotations

import bisect
import math
import platform
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from monitor import __version__

if TYPE_CHECKING:
    from monitor.alerts.stats import AlertingStats
    from monitor.engine import Engine
    from monitor.pipeline import PipelineStats
    from monitor.sources.base import Source

Kind = Literal["counter", "gauge", "histogram"]

# Lags: CloudTrail delivers to S3 within ~5-15 minutes; a backlog after an outage lasts hours.
LAG_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 2700.0, 3600.0,
               7200.0, 14400.0, 28800.0, 86400.0)


@dataclass(frozen=True, slots=True)
class MetricDef:
    name: str  # the family name; counters are exposed with `_total`
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()


def _m(name: str, kind: Kind, help_text: str, *labels: str) -> MetricDef:
    return MetricDef("trailsentry_" + name, kind, help_text, labels)


CATALOGUE: tuple[MetricDef, ...] = (
    _m("build_info", "gauge", "Always 1; the version and Python running.", "version", "python"),
    # -- ingest: what the pipeline saw from each source ----------------------------------------------
    _m("events_received", "counter", "CloudTrail records received from a source.", "source"),
    _m("events_processed", "counter", "Records run through the detectors.", "source"),
    _m("events_discarded", "counter",
       "Records not run through the detectors (duplicate eventID, Insights record, digest, not an object).",
       "source", "reason"),
    _m("decode_errors", "counter",
       "Input problems found decoding and validating records (bad JSON, truncated gzip, wrong types, bad "
       "eventTime); the rest of the input keeps flowing.", "source", "reason"),
    _m("batches_processed", "counter", "Batches (objects, files, log pages) processed and acknowledged.",
       "source"),
    _m("batches_failed", "counter", "Batches released for redelivery because processing failed.", "source"),
    _m("processed_bytes", "counter", "Bytes of batches handed to the detect stage (compressed size).",
       "source"),
    _m("ack_errors", "counter", "Batches whose acknowledgement to the source failed after their alerts were "
       "recorded.", "source"),
    _m("source_restarts", "counter", "Times a source's task crashed and was restarted.", "source"),
    _m("queued_batches", "gauge", "Batches of a source waiting for the detectors.", "source"),
    _m("queue_capacity_batches", "gauge", "Batches the detect queue holds before sources block."),
    _m("last_event_timestamp_seconds", "gauge", "Event time of the newest record processed, per source.",
       "source"),
    _m("last_batch_timestamp_seconds", "gauge", "Wall-clock time the last batch of a source was processed.",
       "source"),
    _m("alerts_recorded", "counter", "Alert emissions handed to the outbox by the pipeline."),
    _m("record_failures", "counter", "Times recording alerts in the outbox failed (the batch is redelivered)."),
    _m("checkpoints", "counter", "Periodic checkpoints (episodes closed, state saved, cursors committed).",
       "outcome"),
    # -- sources: their upstream calls ---------------------------------------------------------------
    _m("source_up", "gauge", "1 when the source reached its upstream and is not failing.", "source", "kind"),
    _m("source_last_success_timestamp_seconds", "gauge", "Wall-clock time of a source's last successful "
       "upstream call.", "source"),
    _m("objects_read", "counter", "Objects (S3 objects, files) read by a source.", "source"),
    _m("read_bytes", "counter", "Bytes read from upstream by a source.", "source"),
    _m("objects_skipped", "counter", "Objects or notifications a source skipped, by reason.", "source", "reason"),
    _m("log_events_read", "counter", "CloudWatch Logs events read by a source.", "source"),
    _m("sqs_messages_received", "counter", "SQS messages received.", "source"),
    _m("sqs_messages_deleted", "counter", "SQS messages deleted after their batch was acknowledged.", "source"),
    _m("sqs_messages_failed", "counter", "SQS messages that could not be handled (left for redelivery or DLQ).",
       "source"),
    _m("aws_api_calls", "counter", "AWS API calls made by a source.", "source", "api"),
    _m("aws_api_throttles", "counter", "AWS API calls rejected by rate limiting.", "source", "api"),
    _m("aws_api_errors", "counter", "AWS API calls that failed for another reason.", "source", "api"),
    _m("source_operations", "counter", "Other per-source counters, by name.", "source", "operation"),
    # -- detection -----------------------------------------------------------------------------------
    _m("detector_matches", "counter", "Events a detector matched (before thresholds and grouping).", "detector"),
    _m("detector_errors", "counter", "Exceptions raised by a detector; the event still reaches the others.",
       "detector"),
    _m("detector_alerts", "counter", "Alert emissions by the engine, including episode updates.", "detector"),
    _m("detections_suppressed", "counter", "Detections dropped by a configured suppression entry (counted, "
       "never alerted).", "detector"),
    _m("engine_duplicate_events", "counter", "Records dropped by the engine as already-seen eventIDs."),
    _m("engine_watermark_timestamp_seconds", "gauge", "The newest event time the engine has seen."),
    # -- delivery ------------------------------------------------------------------------------------
    _m("alerts_created", "counter", "Alerts recorded in the outbox (new episodes and updates).",
       "detector", "severity"),
    _m("alerts_duplicate_records", "counter", "Re-recordings of an unchanged alert, ignored by the outbox."),
    _m("alerts_unrouted", "counter", "Alerts no route sent to any sink (stored and logged)."),
    _m("alerts_sent", "counter", "Alerts delivered to a sink.", "sink"),
    _m("alerts_failed", "counter", "Delivery attempts to a sink that failed.", "sink"),
    _m("alerts_retried", "counter", "Delivery attempts to a sink that were retries.", "sink"),
    _m("alerts_rate_limited", "counter", "Delivery attempts a sink answered with rate limiting.", "sink"),
    _m("alerts_dead_lettered", "counter", "Alerts given up on for a sink after the last retry.", "sink"),
    _m("alerts_coalesced", "counter", "Alert records not sent as a message of their own, by reason "
       "(suppressed into a follow-up, merged into a pending message, skipped as already covered).", "sink", "reason"),
    _m("outbox_depth", "gauge", "Alert deliveries waiting in the outbox, per sink.", "sink"),
    _m("outbox_oldest_pending_age_seconds", "gauge", "Age of the oldest delivery waiting in the outbox, per sink.",
       "sink"),
    _m("sink_failing", "gauge", "1 while a sink is considered failing (consecutive failures or old pending).",
       "sink", "kind"),
    _m("sink_consecutive_failures", "gauge", "Delivery attempts that failed in a row, per sink.", "sink"),
    _m("alerting_up", "gauge", "1 when alert delivery is ready (the outbox is not stuck)."),
    # -- histograms, observed once per batch by observe_batch ----------------------------------------
    _m("ingest_lag_seconds", "histogram", "Wall clock minus the newest event time of a batch, when processed.",
       "source"),
    _m("delivery_lag_seconds", "histogram", "Wall clock minus when the batch's data landed (S3 LastModified, "
       "log ingestion time), when processed.", "source"),
)

BY_NAME: dict[str, MetricDef] = {m.name: m for m in CATALOGUE}

# Label values that come from code-defined keys (reasons, API names) must look like identifiers.
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def label_token(value: str) -> str:
    return value if _TOKEN.match(value) else "other"


class Alerting(Protocol):
    """What the metrics read from the alert delivery stage (monitor.alerts.service.Alerting)."""

    def stats(self) -> AlertingStats: ...


class LagHistogram:
    """A per-source histogram kept as plain lists; turned into a family at scrape time."""

    def __init__(self, buckets: tuple[float, ...] = LAG_BUCKETS) -> None:
        self.buckets = buckets
        self._lock = threading.Lock()
        self._series: dict[str, tuple[list[int], list[float]]] = {}  # source -> (bucket counts, [sum])

    def observe(self, source: str, value: float) -> None:
        index = bisect.bisect_left(self.buckets, value)  # first bucket with le >= value
        with self._lock:
            series = self._series.get(source)
            if series is None:
                series = self._series[source] = ([0] * (len(self.buckets) + 1), [0.0])
            series[0][index] += 1
            series[1][0] += value

    def family(self, name: str) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, BY_NAME[name].help, labels=["source"])
        with self._lock:
            snapshot = {source: (list(counts), total[0]) for source, (counts, total) in self._series.items()}
        for source, (counts, total) in sorted(snapshot.items()):
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                cumulative += count
                buckets.append((_le(bound), cumulative))
            family.add_metric([source], buckets, total)
        return family


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


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
        if t.alerting is not None:
            # Every detector's default severity starts at 0, so increase() sees a detector's first alert.
            seeds = [(d.id, d.severity.label) for d in t.engine.detectors] if t.engine is not None else []
            _read_alerting(families, t.alerting, seeds)
        yield from families
        yield t.ingest_lag.family("trailsentry_ingest_lag_seconds")
        yield t.delivery_lag.family("trailsentry_delivery_lag_seconds")


def _read_engine(families: _Families, engine: Engine) -> None:
    stats = engine.stats
    matches = _copy(stats.matches)
    errors = _copy(stats.detector_errors)
    alerts = _copy(stats.alerts)
    suppressed = _copy(stats.suppressed)
    # Every configured detector gets a series, so a quiet detector shows 0 rather than nothing.
    for detector_id in sorted({d.id for d in engine.detectors} | set(matches) | set(errors) | set(alerts)
                              | set(suppressed)):
        families.add("trailsentry_detector_matches", matches.get(detector_id, 0), detector_id)
        families.add("trailsentry_detector_errors", errors.get(detector_id, 0), detector_id)
        families.add("trailsentry_detector_alerts", alerts.get(detector_id, 0), detector_id)
        families.add("trailsentry_detections_suppressed", suppressed.get(detector_id, 0), detector_id)
    families.add("trailsentry_engine_duplicate_events", stats.duplicates)
    if stats.newest_event_time:
        families.add("trailsentry_engine_watermark_timestamp_seconds", stats.newest_event_time)


def _read_pipeline(families: _Families, stats: PipelineStats) -> None:
    families.add("trailsentry_queue_capacity_batches", stats.queue_capacity)
    families.add("trailsentry_alerts_recorded", stats.alerts_recorded)
    families.add("trailsentry_record_failures", stats.record_failures)
    families.add("trailsentry_checkpoints", stats.checkpoints, "ok")
    families.add("trailsentry_checkpoints", stats.checkpoint_failures, "failed")
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

    def __init__(self, *, activate: bool = True, process_metrics: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.engine: Engine | None = None
        self.pipeline: PipelineStats | None = None
        self.sources: tuple[Source, ...] = ()
        self.alerting: Alerting | None = None
        self.ingest_lag = LagHistogram()
        self.delivery_lag = LagHistogram()
        self.registry.register(_StatsCollector(self))
        if process_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        if activate:
            self.activate()

    # -- registration: keep references, read them at scrape time ------------------------------------

    def register_engine(self, engine: Engine) -> None:
        self.engine = engine

    def register_pipeline(self, stats: PipelineStats) -> None:
        self.pipeline = stats

    def register_sources(self, sources: Iterable[Source]) -> None:
        self.sources = tuple(sources)

    def register_alerting(self, alerting: Alerting) -> None:
        self.alerting = alerting

    # -- per batch ---------------------------------------------------------------------------------

    def observe_batch(self, source: str, *, ingest_lag: float | None, delivery_lag: float | None) -> None:
        if ingest_lag is not None and math.isfinite(ingest_lag):
            # An event time in the future (clock skew, forged eventTime) counts as no lag.
            self.ingest_lag.observe(source, max(ingest_lag, 0.0))
        if delivery_lag is not None and math.isfinite(delivery_lag):
            self.delivery_lag.observe(source, max(delivery_lag, 0.0))

    def activate(self) -> None:
        """Make the module-level `observe_batch` feed this object."""
        global _active
        with _active_lock:
            _active = self

    def deactivate(self) -> None:
        global _active
        with _active_lock:
            if _active is self:
                _active = None

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


_active: Telemetry | None = None
_active_lock = threading.Lock()


def observe_batch(source: str, *, ingest_lag: float | None, delivery_lag: float | None) -> None:
    """Record one processed batch's lags (seconds) on the active Telemetry; a no-op without one."""
    telemetry = _active
    if telemetry is not None:
        telemetry.observe_batch(source, ingest_lag=ingest_lag, delivery_lag=delivery_lag)


def active() -> Telemetry | None:
    return _active


