"""The metric catalogue, the scrape-time collector and its per-batch lag histograms."""

from __future__ import annotations

import math
import random
import sys
import threading
from collections import Counter

import pytest

import monitor.metrics.collector as metrics
from monitor.demo.background import background_events
from monitor.demo.builders import EXAMPLE_ACCOUNTS, EXAMPLE_REGIONS, EXAMPLE_START
from monitor.demo.scenarios import scenario
from monitor.engine import Engine
from monitor.metrics.catalogue import CATALOGUE, LAG_BUCKETS, label_token
from monitor.metrics.collector import Telemetry
from monitor.rules.builtin import builtin_detectors
from monitor.sources.base import SourceStats
from tests.metrics.scrape import parse, total, value

# Label names a metric may carry: small fixed sets, never an identity, address, key or event.
ALLOWED_LABELS = frozenset({"source", "kind", "detector", "severity", "sink", "outcome", "stage", "reason", "api",
                            "operation", "version", "python", "backend", "lease"})
FORBIDDEN_WORDS = ("principal", "ip", "arn", "event_id", "eventid", "key", "bucket", "account", "user", "object")


class StubSource:
    """The Source protocol's observable surface: a name, a kind, real SourceStats and ready()."""

    def __init__(self, name: str, kind: str = "s3-sqs", ready: bool = True) -> None:
        self.name = name
        self.kind = kind
        self.stats = SourceStats()
        self._ready = ready

    def ready(self) -> bool:
        return self._ready


def test_catalogue_follows_the_naming_rules() -> None:
    names = [m.name for m in CATALOGUE]
    assert len(names) == len(set(names))
    for metric in CATALOGUE:
        assert metric.name.startswith("trailsentry_"), metric.name
        assert not metric.name.endswith("_total"), f"{metric.name}: _total is added on exposition"
        assert metric.help.strip(), metric.name
        assert set(metric.labels) <= ALLOWED_LABELS, metric.name
        for label in metric.labels:
            assert not any(word == label or label.startswith(word + "_") for word in FORBIDDEN_WORDS), label
        if metric.kind == "histogram":
            assert metric.name.endswith("_seconds"), metric.name
        for unit in ("seconds", "bytes"):
            if unit in metric.name and metric.kind == "gauge":
                assert metric.name.endswith(unit), f"{metric.name}: base unit last"
        assert "milliseconds" not in metric.name and "_ms" not in metric.name


def test_exposition_has_every_family_with_counters_suffixed() -> None:
    telemetry = Telemetry()
    samples = parse(telemetry.exposition().decode())
    text = telemetry.exposition().decode()
    for metric in CATALOGUE:
        exposed = metric.name + ("_total" if metric.kind == "counter" else "")
        assert f"# TYPE {metric.name if metric.kind != 'counter' else exposed} {metric.kind}" in text, metric.name
    build = samples["trailsentry_build_info"]
    assert len(build) == 1 and build[0][1] == 1.0
    assert build[0][0]["version"] == metrics.__version__


def test_lags_reach_only_the_telemetry_they_are_given_to() -> None:
    # No module-level "active" telemetry: the composition root hands observe_batch to the pipeline.
    first = Telemetry()
    second = Telemetry()
    second.observe_batch("org-trail", ingest_lag=120.0, delivery_lag=30.0)
    assert value(parse(second.exposition().decode()), "trailsentry_ingest_lag_seconds_count", source="org-trail") == 1
    assert value(parse(first.exposition().decode()), "trailsentry_ingest_lag_seconds_count", source="org-trail") is None
    first.observe_batch("org-trail", ingest_lag=None, delivery_lag=5.0)
    first_samples = parse(first.exposition().decode())
    assert value(first_samples, "trailsentry_delivery_lag_seconds_count", source="org-trail") == 1
    assert value(first_samples, "trailsentry_ingest_lag_seconds_count", source="org-trail") is None
    assert not hasattr(metrics, "observe_batch") and not hasattr(metrics, "active")


def test_lag_histograms_are_cumulative_and_clamped() -> None:
    telemetry = Telemetry()
    for lag in (0.5, 300.0, 301.0, 90000.0, -40.0, math.nan, math.inf):
        telemetry.observe_batch("s", ingest_lag=lag, delivery_lag=None)
    samples = parse(telemetry.exposition().decode())
    # NaN and infinity are not observations; a negative lag (clock skew) is 0.
    assert value(samples, "trailsentry_ingest_lag_seconds_count", source="s") == 5
    assert value(samples, "trailsentry_ingest_lag_seconds_sum", source="s") == 0.5 + 300 + 301 + 90000 + 0
    buckets = {labels["le"]: v for labels, v in samples["trailsentry_ingest_lag_seconds_bucket"]}
    assert buckets["1.0"] == 2  # 0.5 and the clamped -40
    assert buckets["300.0"] == 3  # le is inclusive
    assert buckets["600.0"] == 4
    assert buckets["86400.0"] == 4
    assert buckets["+Inf"] == 5
    ordered = [buckets[repr(b)] for b in LAG_BUCKETS] + [buckets["+Inf"]]
    assert ordered == sorted(ordered)
    assert LAG_BUCKETS[0] == 1.0 and LAG_BUCKETS[-1] >= 4 * 3600


def test_source_counters_become_families() -> None:
    telemetry = Telemetry()
    sqs = StubSource("org-trail")
    logs = StubSource("audit", kind="cloudwatch-logs", ready=False)
    telemetry.register_sources([sqs, logs])
    sqs.stats.add("messages_received", 12)
    sqs.stats.add("messages_deleted", 10)
    sqs.stats.add("messages_failed", 2)
    sqs.stats.add("objects_read", 11)
    sqs.stats.add("bytes_read", 4096)
    sqs.stats.add("skipped_digest", 3)
    sqs.stats.add("api_throttles:ReceiveMessage", 4)
    sqs.stats.add("api_throttles", 1)
    sqs.stats.add("api_errors:GetObject", 2)
    sqs.stats.add("visibility_extended", 7)
    sqs.stats.add("weird key\nwith text", 1)
    sqs.stats.last_success = 1_700_000_000.0
    logs.stats.add("log_events_read", 99)
    samples = parse(telemetry.exposition().decode())
    assert value(samples, "trailsentry_sqs_messages_received_total", source="org-trail") == 12
    assert value(samples, "trailsentry_sqs_messages_deleted_total", source="org-trail") == 10
    assert value(samples, "trailsentry_sqs_messages_failed_total", source="org-trail") == 2
    assert value(samples, "trailsentry_objects_read_total", source="org-trail") == 11
    assert value(samples, "trailsentry_read_bytes_total", source="org-trail") == 4096
    assert value(samples, "trailsentry_objects_skipped_total", source="org-trail", reason="digest") == 3
    assert value(samples, "trailsentry_aws_api_throttles_total", source="org-trail", api="ReceiveMessage") == 4
    assert value(samples, "trailsentry_aws_api_throttles_total", source="org-trail", api="unknown") == 1
    assert value(samples, "trailsentry_aws_api_errors_total", source="org-trail", api="GetObject") == 2
    assert value(samples, "trailsentry_source_operations_total", source="org-trail",
                 operation="visibility_extended") == 7
    assert value(samples, "trailsentry_source_operations_total", source="org-trail", operation="other") == 1
    assert value(samples, "trailsentry_source_last_success_timestamp_seconds", source="org-trail") == 1.7e9
    assert value(samples, "trailsentry_source_up", source="org-trail", kind="s3-sqs") == 1
    assert value(samples, "trailsentry_source_up", source="audit", kind="cloudwatch-logs") == 0
    assert value(samples, "trailsentry_log_events_read_total", source="audit") == 99
    # Families exist from the start (0), so rate() has a baseline.
    assert value(samples, "trailsentry_sqs_messages_received_total", source="audit") == 0


def test_a_broken_ready_is_a_down_source_not_a_failed_scrape() -> None:
    class Broken(StubSource):
        def ready(self) -> bool:
            raise RuntimeError("boom")

    telemetry = Telemetry()
    telemetry.register_sources([Broken("x")])
    assert value(parse(telemetry.exposition().decode()), "trailsentry_source_up", source="x") == 0


def test_engine_counts_are_read_at_scrape_time() -> None:
    telemetry = Telemetry()
    engine = Engine(builtin_detectors())
    telemetry.register_engine(engine)
    before = parse(telemetry.exposition().decode())
    for detector in engine.detectors:  # every detector has a series before it ever matched
        assert value(before, "trailsentry_detector_matches_total", detector=detector.id) == 0
    rng = random.Random(7)
    events = background_events(rng, EXAMPLE_START, 200, EXAMPLE_ACCOUNTS, EXAMPLE_REGIONS)
    for name in ("root-console-login", "access-key-created"):
        events.extend(scenario(name).build(rng, EXAMPLE_START + 600, "111122223333"))
    engine.process_records(events, "test")
    engine.process_records(events[:10], "test again")  # duplicates
    engine.flush()
    after = parse(telemetry.exposition().decode())
    assert engine.stats.matches, "the scenarios matched"
    for detector, count in engine.stats.matches.items():
        assert value(after, "trailsentry_detector_matches_total", detector=detector) == count
    for detector, count in engine.stats.alerts.items():
        assert value(after, "trailsentry_detector_alerts_total", detector=detector) == count
    assert value(after, "trailsentry_engine_duplicate_events_total") == engine.stats.duplicates == 10
    assert value(after, "trailsentry_engine_watermark_timestamp_seconds") == engine.stats.newest_event_time


def test_scraping_while_the_engine_thread_changes_its_counters() -> None:
    """The engine runs on a worker thread and adds detector keys while /metrics is being served."""
    telemetry = Telemetry()
    engine = Engine([])
    telemetry.register_engine(engine)
    matches: Counter[str] = engine.stats.matches
    stable = {f"d{n}" for n in range(200)}
    matches.update(stable)
    stop = threading.Event()

    def churn() -> None:
        # Keys come and go, so the dict changes size under the scrape's feet.
        n = 0
        while not stop.is_set():
            matches[f"transient-{n}"] = 1
            del matches[f"transient-{n}"]
            n += 1

    worker = threading.Thread(target=churn)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, mid-iteration included
    worker.start()
    try:
        for _ in range(2000):
            assert stable <= set(metrics._copy(matches))
        for _ in range(10):
            samples = parse(telemetry.exposition().decode())
            assert total(samples, "trailsentry_detector_matches_total") >= len(stable)
    finally:
        stop.set()
        worker.join()
        sys.setswitchinterval(interval)
    assert total(parse(telemetry.exposition().decode()), "trailsentry_detector_matches_total") == len(stable)


@pytest.mark.parametrize(("raw", "label"), [
    ("invalid_json", "invalid_json"), ("ReceiveMessage", "ReceiveMessage"), ("a b", "other"),
    ("arn:aws:iam::1:user/x", "other"), ("x" * 65, "other"), ("", "other"), ("s3-sqs", "s3-sqs"),
])
def test_label_values_from_code_keys_are_checked(raw: str, label: str) -> None:
    assert label_token(raw) == label
