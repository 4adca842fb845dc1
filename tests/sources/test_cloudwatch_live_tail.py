"""cloudwatch-live-tail: moto end to end, and the session logic driven by local streams (back-fill against moto).

moto replays a Live Tail session as one snapshot and closes it, so reconnects,
session limits, stream errors and sampling are driven by async generators the
tests control, fed to the same source code; FilterLogEvents back-fill always
goes to moto's server over HTTP.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
import pytest
from botocore.exceptions import EventStreamError

from monitor.aws.backoff import Backoff
from monitor.aws.clients import AwsClients
from monitor.aws.settings import AwsSettings
from monitor.checkpoint import CheckpointStore
from monitor.configreader import Section
from monitor.decode import decode_bytes
from monitor.metrics.collector import Telemetry
from monitor.sources import cloudwatch_live_tail
from monitor.sources.base import Batch, SourceContext
from monitor.sources.cloudwatch_live_tail import LiveTailSource
from monitor.sources.cloudwatch_tail_session import TailSession
from monitor.sources.settings import FetchSettings, LiveTailSettings, parse_live_tail
from tests.aws_emulator import Emulator
from tests.helpers import wait_until

GROUP = "aws-cloudtrail-logs-111122223333"
STREAM = "111122223333_CloudTrail_us-east-1"


def trail_event(event_id: str) -> str:
    return orjson.dumps({"eventVersion": "1.08", "eventID": event_id, "eventTime": "2026-03-01T12:00:00Z",
                         "eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey",
                         "recipientAccountId": "111122223333"}).decode()


class Collector:
    """The pipeline's side: acknowledges every batch (unless told not to) and remembers them."""

    def __init__(self, *, ack: bool = True) -> None:
        self.batches: list[Batch] = []
        self._ack = ack

    async def __call__(self, batch: Batch) -> None:
        self.batches.append(batch)
        if self._ack:
            await batch.ack()

    def ids(self) -> list[str]:
        return [e.eventID for b in self.batches for e in decode_bytes(b.data, b.origin).events]


async def log_group(aws: Emulator, clients: AwsClients) -> tuple[Any, str]:
    logs = await clients.client("logs", AwsSettings(region=aws.region, endpoint_url=aws.endpoint_url))
    await logs.create_log_group(logGroupName=GROUP)
    await logs.create_log_stream(logGroupName=GROUP, logStreamName=STREAM)
    described = await logs.describe_log_groups(logGroupNamePrefix=GROUP)
    return logs, described["logGroups"][0]["logGroupArn"]


async def put(logs: Any, event_id: str, timestamp_ms: int | None = None) -> dict[str, Any]:
    """Put one event; return it the way a Live Tail sessionUpdate would carry it."""
    timestamp = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    message = trail_event(event_id)
    await logs.put_log_events(logGroupName=GROUP, logStreamName=STREAM,
                              logEvents=[{"timestamp": timestamp, "message": message}])
    return live_result(event_id, timestamp)


def live_result(event_id: str, timestamp: int, arn: str = f"arn:aws:logs:us-east-1:123456789012:log-group:{GROUP}"
                ) -> dict[str, Any]:
    return {"logStreamName": STREAM, "logGroupIdentifier": arn, "message": trail_event(event_id),
            "timestamp": timestamp, "ingestionTime": timestamp + 50}


def start(session_id: str) -> dict[str, Any]:
    return {"sessionStart": {"requestId": "r", "sessionId": session_id, "logGroupIdentifiers": []}}


def update(results: list[dict[str, Any]], sampled: bool = False) -> dict[str, Any]:
    return {"sessionUpdate": {"sessionMetadata": {"sampled": sampled}, "sessionResults": results}}


def make_source(aws: Emulator, clients: AwsClients, checkpoints: CheckpointStore, open_stream: Any, *,
                delays: list[float] | None = None, session_seconds: float = 3600.0,
                **fetch: Any) -> LiveTailSource:
    fetch.setdefault("settle_seconds", 0.0)
    fetch.setdefault("overlap_seconds", 0.0)
    fetch.setdefault("start_at", time.time())
    settings = LiveTailSettings(log_groups=(GROUP,), aws=AwsSettings(region=aws.region, endpoint_url=aws.endpoint_url),
                                fetch=FetchSettings(**fetch), session_seconds=session_seconds, interval_seconds=0.02)

    async def record_sleep(delay: float) -> None:
        if delays is not None:
            delays.append(delay)
        await asyncio.sleep(0)

    return LiveTailSource("tail", settings, SourceContext(clients, checkpoints), open_stream=open_stream,
                          sleep=record_sleep, backoff=Backoff(0.01, 0.05))


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_live_tail_against_moto_end_to_end(aws: Emulator, clients: AwsClients,
                                                 checkpoints: CheckpointStore) -> None:
    logs, _ = await log_group(aws, clients)
    now = int(time.time() * 1000)
    for i in range(3):
        await put(logs, f"e{i}", now - 100 + i)
    errors: list[str] = []
    settings = parse_live_tail(Section(
        {"log_groups": [GROUP], "aws": {"region": aws.region, "endpoint_url": aws.endpoint_url}}, "sources[0]", errors))
    assert errors == []
    source = cloudwatch_live_tail.create("tail", settings, SourceContext(clients, checkpoints))
    assert isinstance(source, LiveTailSource)
    collect = Collector()
    task = asyncio.create_task(source.run(collect))
    try:
        await wait_until(lambda: len(collect.ids()) >= 3)
        # The events are newer than now - settle, so the first back-fill cannot have read them: Live Tail did.
        first = collect.batches[0]
        assert first.origin.startswith("cloudwatch-live-tail:")
        assert sorted(collect.ids()) == ["e0", "e1", "e2"]
        assert first.landed_at is not None
        # moto closes the stream after its snapshot: the source reconnects (with backoff) and replays nothing twice.
        await wait_until(lambda: source.sessions >= 2 and source.stats.counts.get("log_events_duplicate", 0) >= 3)
        assert sorted(collect.ids()) == ["e0", "e1", "e2"]
        assert source.stats.counts["live_tail_closed"] >= 1
    finally:
        await stop(task)
    assert source.stats.total("api_errors") == 0


async def test_every_aws_call_is_counted_by_its_operation(aws: Emulator, clients: AwsClients,
                                                          checkpoints: CheckpointStore) -> None:
    logs, _ = await log_group(aws, clients)
    await put(logs, "e0", int(time.time() * 1000) - 100)
    errors: list[str] = []
    settings = parse_live_tail(Section(
        {"log_groups": [GROUP], "aws": {"region": aws.region, "endpoint_url": aws.endpoint_url}}, "sources[0]", errors))
    source = cloudwatch_live_tail.create("tail", settings, SourceContext(clients, checkpoints))
    assert isinstance(source, LiveTailSource)
    task = asyncio.create_task(source.run(Collector()))
    try:
        # moto closes each session after its snapshot: a second StartLiveTail, and the back-fill polls between.
        await wait_until(lambda: source.stats.counts.get("api_calls:StartLiveTail", 0) >= 2
                         and "api_calls:FilterLogEvents" in source.stats.counts)
    finally:
        await stop(task)
    counts = source.stats.counts
    assert counts["api_calls:DescribeLogGroups"] == 1  # the group's ARN is resolved once
    assert "api_calls" not in counts  # no call without its operation
    telemetry = Telemetry(process_metrics=False)
    telemetry.register_sources([source])
    exposition = telemetry.exposition().decode()
    for api in ("StartLiveTail", "DescribeLogGroups", "FilterLogEvents"):
        assert f'trailsentry_aws_api_calls_total{{api="{api}",source="tail"}}' in exposition
    assert 'api="unknown"' not in exposition


async def test_session_limit_reconnects_and_backfills_the_handover(
        aws: Emulator, clients: AwsClients, checkpoints: CheckpointStore) -> None:
    logs, arn = await log_group(aws, clients)
    e1 = await put(logs, "e1", int(time.time() * 1000) - 1000)
    opened: list[list[str]] = []
    forever = asyncio.Event()

    async def local_stream(arns: Sequence[str]) -> AsyncIterator[dict[str, Any]]:
        opened.append(list(arns))
        yield start(f"s{len(opened)}")
        if len(opened) == 1:
            yield update([e1])
        await forever.wait()  # a quiet session: only the limit ends it

    delays: list[float] = []
    source = make_source(aws, clients, checkpoints, local_stream, delays=delays, session_seconds=0.3,
                         overlap_seconds=60.0)
    collect = Collector()
    task = asyncio.create_task(source.run(collect))
    try:
        # The handover gap [last word of session 1 - overlap, start of session 2] re-reads e1: a duplicate.
        await wait_until(lambda: len(opened) >= 2 and source.stats.counts.get("log_events_duplicate", 0) >= 1)
    finally:
        await stop(task)
    assert opened[0] == [arn]
    assert collect.ids() == ["e1"]
    assert source.stats.counts["live_tail_reconnects"] >= 1
    assert delays == []  # the limit is ours: reconnect at once, no backoff
    assert source.stats.total("api_errors") == 0


async def test_stream_error_reconnects_with_backoff_and_backfills_the_gap(
        aws: Emulator, clients: AwsClients, checkpoints: CheckpointStore) -> None:
    logs, _ = await log_group(aws, clients)
    opened: list[int] = []
    forever = asyncio.Event()

    async def local_stream(arns: Sequence[str]) -> AsyncIterator[dict[str, Any]]:
        opened.append(len(opened) + 1)
        if len(opened) == 1:
            yield start("s1")
            yield update([live_result("streamed", int(time.time() * 1000))])
            raise EventStreamError({"Error": {"Code": "SessionStreamingException", "Message": "stream broke"}},
                                   "StartLiveTail")
        # Ingested while no session was up: only FilterLogEvents can find it.
        await put(logs, "in-gap")
        yield start("s2")
        await forever.wait()

    delays: list[float] = []
    source = make_source(aws, clients, checkpoints, local_stream, delays=delays)
    collect = Collector()
    task = asyncio.create_task(source.run(collect))
    try:
        await wait_until(lambda: "in-gap" in collect.ids())
    finally:
        await stop(task)
    assert collect.ids() == ["streamed", "in-gap"]
    assert collect.batches[1].origin.startswith(f"cloudwatch-logs:{GROUP}@")
    assert opened == [1, 2]
    assert source.stats.total("api_errors") == 1
    assert len(delays) == 1 and 0.0 <= delays[0] <= 0.01
    assert source.backoff.attempt == 1


async def test_sampled_update_is_backfilled_and_each_event_emitted_once(
        aws: Emulator, clients: AwsClients, checkpoints: CheckpointStore) -> None:
    logs, _ = await log_group(aws, clients)
    base = int(time.time() * 1000) - 30_000
    results = [await put(logs, f"e{i}", base + i) for i in range(5)]
    forever = asyncio.Event()

    async def local_stream(arns: Sequence[str]) -> AsyncIterator[dict[str, Any]]:
        yield start("s1")
        # More than Live Tail would send unsampled: it sends a sample and says so.
        yield update([results[0], results[2]], sampled=True)
        await forever.wait()

    # start_at is after the events, so only the sampled span's back-fill can find the unsampled ones.
    source = make_source(aws, clients, checkpoints, local_stream)
    collect = Collector()
    task = asyncio.create_task(source.run(collect))
    try:
        await wait_until(lambda: source.stats.counts.get("log_events_backfilled", 0) >= 3)
    finally:
        await stop(task)
    assert sorted(collect.ids()) == [f"e{i}" for i in range(5)]
    assert len(collect.ids()) == 5
    assert collect.ids()[:2] == ["e0", "e2"]
    assert source.stats.counts["live_tail_sampled"] == 1
    assert source.stats.counts["log_events_duplicate"] >= 2  # e0 and e2 read again by the back-fill


async def test_released_batch_is_backfilled(aws: Emulator, clients: AwsClients,
                                            checkpoints: CheckpointStore) -> None:
    logs, _ = await log_group(aws, clients)
    result = await put(logs, "e1", int(time.time() * 1000) - 5000)
    forever = asyncio.Event()

    async def local_stream(arns: Sequence[str]) -> AsyncIterator[dict[str, Any]]:
        yield start("s1")
        yield update([result])
        await forever.wait()

    released = False
    collect = Collector(ack=False)

    async def emit(batch: Batch) -> None:
        nonlocal released
        await collect(batch)
        if not released:
            released = True
            await batch.release("pipeline stopping")
        else:
            await batch.ack()

    source = make_source(aws, clients, checkpoints, local_stream)
    task = asyncio.create_task(source.run(emit))
    try:
        await wait_until(lambda: len(collect.batches) >= 2)
    finally:
        await stop(task)
    assert collect.ids() == ["e1", "e1"]
    assert collect.batches[1].origin.startswith("cloudwatch-logs:")
    assert source.stats.counts["batches_released"] == 1


async def test_restart_backfills_from_the_checkpoint(aws: Emulator, clients: AwsClients,
                                                     checkpoints: CheckpointStore) -> None:
    logs, _ = await log_group(aws, clients)
    await put(logs, "before-first-start", int(time.time() * 1000) - 30_000)
    forever = asyncio.Event()

    async def first_stream(arns: Sequence[str]) -> AsyncIterator[dict[str, Any]]:
        yield start("s1")
        yield update([live_result("streamed", int(time.time() * 1000))])
        await forever.wait()

    first = make_source(aws, clients, checkpoints, first_stream)
    collect = Collector()
    task = asyncio.create_task(first.run(collect))
    try:
        await wait_until(lambda: collect.ids() == ["streamed"] and first.ready())
    finally:
        await stop(task)
    await first.close()
    watermark = checkpoints.get("tail", "watermark")
    assert watermark is not None and watermark.isdigit()

    await put(logs, "while-down")

    async def second_stream(arns: Sequence[str]) -> AsyncIterator[dict[str, Any]]:
        yield start("s2")
        await forever.wait()

    second = make_source(aws, clients, checkpoints, second_stream, start_at=None)
    resumed = Collector()
    task = asyncio.create_task(second.run(resumed))
    try:
        await wait_until(lambda: "while-down" in resumed.ids())
    finally:
        await stop(task)
    assert resumed.ids() == ["while-down"]


async def test_without_a_session_the_backfill_polls_and_a_missing_group_does_not_stop_the_other(
        aws: Emulator, clients: AwsClients, checkpoints: CheckpointStore, caplog: pytest.LogCaptureFixture) -> None:
    logs, _ = await log_group(aws, clients)
    await put(logs, "e1", int(time.time() * 1000) - 30_000)
    opened: list[Sequence[str]] = []

    async def local_stream(arns: Sequence[str]) -> AsyncIterator[dict[str, Any]]:
        opened.append(arns)
        yield start("never")

    settings = LiveTailSettings(log_groups=(GROUP, "missing-group"),
                                aws=AwsSettings(region=aws.region, endpoint_url=aws.endpoint_url),
                                fetch=FetchSettings(settle_seconds=0.0, overlap_seconds=0.0, start_at=time.time() - 60),
                                interval_seconds=0.02)
    delays: list[float] = []

    async def record_sleep(delay: float) -> None:
        delays.append(delay)
        await asyncio.sleep(0)

    source = LiveTailSource("tail", settings, SourceContext(clients, checkpoints), open_stream=local_stream,
                            sleep=record_sleep, backoff=Backoff(0.01, 0.05))
    collect = Collector()
    task = asyncio.create_task(source.run(collect))
    try:
        # Live Tail cannot start while a log group is missing; FilterLogEvents keeps the other one flowing.
        await wait_until(lambda: "e1" in collect.ids() and len(delays) >= 2)
    finally:
        await stop(task)
    assert collect.ids() == ["e1"]
    assert opened == []
    assert source.stats.total("api_errors") >= 2
    assert not source.ready()
    messages = [r.getMessage() for r in caplog.records]
    assert any("missing-group" in m and "ResourceNotFoundException" in m for m in messages)
    assert any("StartLiveTail" in m and "missing-group not found" in m for m in messages)


async def test_tail_session_reports_how_it_ended() -> None:
    seen: list[tuple[str, Any]] = []

    async def on_start(session_id: str, received: int) -> None:
        seen.append(("start", session_id))

    async def on_update(results: list[dict[str, Any]], sampled: bool, received: int) -> None:
        seen.append(("update", (len(results), sampled)))

    session = TailSession(session_seconds=3600, clock=time.time, on_start=on_start, on_update=on_update)

    async def closed() -> AsyncIterator[dict[str, Any]]:
        yield start("a")
        yield update([live_result("x", 1)], sampled=True)

    end = await session.follow(closed())
    assert (end.reason, end.started, end.last_message_ms is not None) == ("closed", True, True)
    assert seen == [("start", "a"), ("update", (1, True))]

    async def timed_out() -> AsyncIterator[dict[str, Any]]:
        yield start("b")
        raise EventStreamError({"Error": {"Code": "SessionTimeoutException", "Message": "3 hours"}}, "StartLiveTail")

    end = await session.follow(timed_out())
    assert end.reason == "timeout"

    async def refused() -> AsyncIterator[dict[str, Any]]:
        raise EventStreamError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "StartLiveTail")
        yield start("never")

    end = await session.follow(refused())
    assert (end.reason, end.started) == ("error", False)

    async def quiet() -> AsyncIterator[dict[str, Any]]:
        yield start("c")
        await asyncio.Event().wait()

    short = TailSession(session_seconds=0.05, clock=time.time, on_start=on_start, on_update=on_update)
    end = await short.follow(quiet())
    assert end.reason == "limit" and end.started


def test_settings() -> None:
    errors: list[str] = []
    arn = f"arn:aws:logs:us-east-1:111122223333:log-group:{GROUP}"
    settings = parse_live_tail(Section({"log_groups": [arn, "other"]}, "sources[0]", errors))
    assert errors == []
    assert settings.log_groups == (arn, "other")
    assert settings.session_seconds == 10_500.0 and settings.fetch.overlap_seconds == 300.0

    errors = []
    parse_live_tail(Section(
        {"log_groups": [f"g{i}" for i in range(11)], "log_stream_prefix": "p", "session_seconds": 20_000},
        "sources[1]", errors))
    assert "sources[1].log_groups: at most 10 log groups per Live Tail session" in errors
    assert "sources[1].log_stream_prefix: Live Tail accepts a stream prefix only with a single log group" in errors
    assert "sources[1].session_seconds: must be <= 10800 (CloudWatch ends sessions after 3 hours)" in errors
    errors = []
    parse_live_tail(Section({"log_groups": [GROUP, f"{arn}:*"]}, "sources[2]", errors))
    assert "sources[2].log_groups[1]: must be a log group name or ARN without a trailing *" in errors
