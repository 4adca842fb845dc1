"""The running service on the demo data: /metrics tells the truth about every stage, /readyz follows the sources."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor.demo.run import SOURCE_NAME
from tests.deploy.tools import require_tool
from tests.helpers import wait_until
from tests.metrics.live import WAIT, live_service
from tests.metrics.scrape import Samples, parse, total, value


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def test_metrics_match_the_stats_of_every_stage(aws: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    promtool = require_tool("promtool")
    async with live_service(aws, tmp_path, monkeypatch) as live:
        url = live.server.url
        assert (await _get(url + "/healthz"))[0] == 200

        await wait_until(lambda: all(source.ready() for source in live.app.sources),
                         "the s3-sqs source to reach the queue", within=WAIT)
        assert await _get(url + "/readyz") == (200, "ready\n")
        scenario_objects = 3

        def delivered() -> bool:
            stats = live.alerting.stats()
            return (len(live.traffic.stats.scenarios) >= scenario_objects and stats.sinks["siem"].sent > 0
                    and stats.sinks["pager"].failed > 0)

        await wait_until(delivered, "scenario alerts delivered to one sink and failing on the other", within=WAIT)
        await live.stop_traffic_and_catch_up()

        def settled() -> bool:
            # The pager sink is declared failing (which alerts the other sinks) and siem delivered everything:
            # from here on only the pager's retry counters move.
            sinks = live.alerting.stats().sinks
            return sinks["pager"].failing and sinks["siem"].pending == 0

        await wait_until(settled, "the pager sink to be declared failing and siem to deliver everything", within=WAIT)

        before = live.alerting.stats()
        status, body = await _get(url + "/metrics")
        after = live.alerting.stats()
        assert status == 200
        samples = parse(body)
        _check_pipeline(samples, live)
        _check_sources(samples, live)
        _check_detection(samples, live)
        _check_delivery(samples, before, after)

        result = await asyncio.to_thread(subprocess.run, [promtool, "check", "metrics"], input=body,
                                         capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def _check_pipeline(samples: Samples, live: Any) -> None:
    counters = live.counters()
    source = SOURCE_NAME
    assert counters.events > 0
    assert value(samples, "trailsentry_events_processed_total", source=source) == counters.events
    discarded = total(samples, "trailsentry_events_discarded_total", source=source)
    assert value(samples, "trailsentry_events_received_total", source=source) == counters.events + discarded
    assert value(samples, "trailsentry_events_discarded_total", source=source, reason="duplicate") == \
        counters.duplicates
    assert value(samples, "trailsentry_batches_processed_total", source=source) == counters.batches
    assert value(samples, "trailsentry_processed_bytes_total", source=source) == counters.bytes
    assert value(samples, "trailsentry_last_event_timestamp_seconds", source=source) == counters.newest_event_time
    assert value(samples, "trailsentry_queued_batches", source=source) == 0
    assert value(samples, "trailsentry_queue_capacity_batches") == live.app.pipeline.stats.queue_capacity
    # One ingest-lag and one delivery-lag observation per processed object (S3 LastModified is known).
    observed = value(samples, "trailsentry_ingest_lag_seconds_count", source=source)
    assert observed is not None and 0 < observed <= counters.batches + counters.batches_failed
    assert value(samples, "trailsentry_delivery_lag_seconds_count", source=source) == observed
    # The demo writes events a few minutes behind the wall clock: the lag sum says so.
    lag_sum = value(samples, "trailsentry_ingest_lag_seconds_sum", source=source)
    assert lag_sum is not None and lag_sum / observed > 60


def _check_sources(samples: Samples, live: Any) -> None:
    [source] = live.app.sources
    counts = dict(source.stats.counts)
    assert value(samples, "trailsentry_source_up", source=SOURCE_NAME, kind="s3-sqs") == 1
    assert counts["messages_received"] > 0
    assert value(samples, "trailsentry_sqs_messages_received_total", source=SOURCE_NAME) == counts["messages_received"]
    assert value(samples, "trailsentry_sqs_messages_deleted_total", source=SOURCE_NAME) == \
        counts.get("messages_deleted", 0)
    assert value(samples, "trailsentry_objects_read_total", source=SOURCE_NAME) == counts["objects_read"]
    assert value(samples, "trailsentry_read_bytes_total", source=SOURCE_NAME) == counts["bytes_read"]
    # moto announces every bucket's notification setup with an s3:TestEvent, which the source skips.
    assert total(samples, "trailsentry_objects_skipped_total", source=SOURCE_NAME) == sum(
        v for k, v in counts.items() if k.startswith("skipped_"))


def _check_detection(samples: Samples, live: Any) -> None:
    stats = live.app.pipeline.engine.stats
    assert stats.matches
    for detector, count in stats.matches.items():
        assert value(samples, "trailsentry_detector_matches_total", detector=detector) == count
    for detector, count in stats.alerts.items():
        assert value(samples, "trailsentry_detector_alerts_total", detector=detector) == count
    assert total(samples, "trailsentry_detector_errors_total") == 0


def _check_delivery(samples: Samples, before: Any, after: Any) -> None:
    assert after.recorded == before.recorded and before.recorded
    for (detector, severity), count in before.recorded.items():
        assert value(samples, "trailsentry_alerts_created_total", detector=detector, severity=severity) == count
    assert any(detector == "trailsentry-sink-failing" for detector, _ in before.recorded)
    siem = before.sinks["siem"]
    assert value(samples, "trailsentry_alerts_sent_total", sink="siem") == siem.sent == after.sinks["siem"].sent > 0
    assert value(samples, "trailsentry_alerts_failed_total", sink="siem") == 0
    assert value(samples, "trailsentry_outbox_depth", sink="siem") == 0
    assert value(samples, "trailsentry_sink_failing", sink="siem", kind="webhook") == 0
    assert value(samples, "trailsentry_alerts_sent_total", sink="pager") == 0
    failed = value(samples, "trailsentry_alerts_failed_total", sink="pager")
    assert failed is not None and before.sinks["pager"].failed <= failed <= after.sinks["pager"].failed
    assert value(samples, "trailsentry_outbox_depth", sink="pager") == before.sinks["pager"].pending > 0
    assert value(samples, "trailsentry_sink_failing", sink="pager", kind="webhook") == 1
    age = value(samples, "trailsentry_outbox_oldest_pending_age_seconds", sink="pager")
    assert age is not None and before.sinks["pager"].oldest_pending_seconds <= age
    assert value(samples, "trailsentry_alerting_up") == 1
