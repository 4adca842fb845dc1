"""cloudwatch-logs against moto's server over HTTP (plus a loopback aiohttp peer for throttling)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from botocore.exceptions import ClientError

from monitor.aws.backoff import Backoff, is_throttle
from monitor.aws.clients import AwsClients
from monitor.aws.settings import AwsSettings
from monitor.checkpoint import CheckpointStore
from monitor.configreader import Section
from monitor.decode import decode_bytes
from monitor.sources import cloudwatch_logs
from monitor.sources.base import Batch, SourceContext, SourceStats
from monitor.sources.cloudwatch_common import count_error, page_bytes
from monitor.sources.cloudwatch_logs import CloudWatchLogsSource
from monitor.sources.settings import CloudWatchLogsSettings, FetchSettings, parse_cloudwatch_logs, parse_fetch
from tests.aws_emulator import Emulator

GROUP = "aws-cloudtrail-logs-111122223333"
STREAM = "111122223333_CloudTrail_us-east-1"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Collector:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    async def __call__(self, batch: Batch) -> None:
        self.batches.append(batch)

    def event_ids(self) -> list[str]:
        ids: list[str] = []
        for batch in self.batches:
            decoded = decode_bytes(batch.data, batch.origin)
            assert not decoded.issues, decoded.issues
            ids.extend(event.eventID for event in decoded.events)
        return ids


def trail_event(event_id: str, name: str = "ConsoleLogin") -> str:
    return orjson.dumps({
        "eventVersion": "1.08",
        "eventID": event_id,
        "eventTime": "2026-03-01T12:00:00Z",
        "eventSource": "signin.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "userIdentity": {"type": "Root", "accountId": "111122223333", "arn": "arn:aws:iam::111122223333:root"},
        "recipientAccountId": "111122223333",
    }).decode()


def aws_settings(aws: Emulator) -> AwsSettings:
    return AwsSettings(region=aws.region, endpoint_url=aws.endpoint_url)


async def put_events(client: Any, group: str, events: list[tuple[int, str]], *, create: bool = True) -> None:
    if create:
        await client.create_log_group(logGroupName=group)
        await client.create_log_stream(logGroupName=group, logStreamName=STREAM)
    await client.put_log_events(logGroupName=group, logStreamName=STREAM,
                                logEvents=[{"timestamp": ts, "message": message} for ts, message in events])


def make_source(aws: Emulator, clients: AwsClients, checkpoints: CheckpointStore, clock: Clock,
                groups: tuple[str, ...] = (GROUP,), **fetch: Any) -> CloudWatchLogsSource:
    fetch.setdefault("settle_seconds", 5.0)
    settings = CloudWatchLogsSettings(log_groups=groups, aws=aws_settings(aws), fetch=FetchSettings(**fetch),
                                      interval_seconds=0.01)
    return CloudWatchLogsSource("cw", settings, SourceContext(clients, checkpoints), clock=clock)


async def test_put_log_events_end_to_end(aws: Emulator, clients: AwsClients, checkpoints: CheckpointStore) -> None:
    now = time.time()
    logs = await clients.client("logs", aws_settings(aws))
    await put_events(logs, GROUP, [(int((now - 60 + i) * 1000), trail_event(f"e{i}")) for i in range(3)])
    # Built through the config path, as the service builds it.
    errors: list[str] = []
    settings = parse_cloudwatch_logs(Section(
        {"log_groups": [GROUP], "aws": {"region": aws.region, "endpoint_url": aws.endpoint_url}}, "sources[0]", errors))
    assert errors == []
    source = cloudwatch_logs.create("cw", settings, SourceContext(clients, checkpoints))
    assert isinstance(source, CloudWatchLogsSource)
    collect = Collector()
    await source.poll_once(collect)

    assert collect.event_ids() == ["e0", "e1", "e2"]
    batch = collect.batches[0]
    assert batch.source == "cw" and GROUP in batch.origin
    assert batch.landed_at is not None and abs(batch.landed_at - now) < 3600
    assert source.ready() and source.stats.counts["api_calls:FilterLogEvents"] == 1
    assert source.checkpoint(GROUP) is None  # nothing acknowledged yet
    await batch.ack()
    cursor = source.checkpoint(GROUP)
    assert cursor is not None and cursor > int((now - 60) * 1000)


async def test_pages_are_batches_and_the_checkpoint_waits_for_every_page(
        aws: Emulator, clients: AwsClients, checkpoints: CheckpointStore) -> None:
    base = time.time() - 120
    logs = await clients.client("logs", aws_settings(aws))
    await put_events(logs, GROUP, [(int((base + i) * 1000), trail_event(f"e{i}")) for i in range(7)])
    clock = Clock(base + 60)
    source = make_source(aws, clients, checkpoints, clock, page_size=3)
    collect = Collector()
    await source.poll_once(collect)

    assert [len(decode_bytes(b.data, b.origin).events) for b in collect.batches] == [3, 3, 1]
    assert collect.event_ids() == [f"e{i}" for i in range(7)]
    assert source.stats.counts["api_calls:FilterLogEvents"] == 3
    await collect.batches[0].ack()
    await collect.batches[2].ack()
    assert source.checkpoint(GROUP) is None
    # While the window waits for its last page, the group is not read again.
    await source.poll_once(collect)
    assert len(collect.batches) == 3 and source.stats.counts["api_calls:FilterLogEvents"] == 3
    await collect.batches[1].ack()
    assert source.checkpoint(GROUP) == int((base + 60) * 1000) - 5000


async def test_overlap_re_read_does_not_re_emit(aws: Emulator, clients: AwsClients,
                                                checkpoints: CheckpointStore) -> None:
    base = time.time() - 600
    logs = await clients.client("logs", aws_settings(aws))
    await put_events(logs, GROUP, [(int((base + i) * 1000), trail_event(f"e{i}")) for i in range(3)])
    clock = Clock(base + 30)
    source = make_source(aws, clients, checkpoints, clock, start_at=base - 1)
    collect = Collector()
    await source.poll_once(collect)
    assert collect.event_ids() == ["e0", "e1", "e2"]
    await collect.batches[0].ack()

    # The next window starts `overlap` before the checkpoint: it reads the same events again.
    clock.now += 20
    await put_events(logs, GROUP, [(int((base + 40) * 1000), trail_event("late"))], create=False)
    await source.poll_once(collect)
    assert collect.event_ids() == ["e0", "e1", "e2", "late"]
    assert source.stats.counts["log_events_duplicate"] == 3
    await collect.batches[1].ack()
    clock.now += 20
    await source.poll_once(collect)
    assert len(collect.batches) == 2
    assert source.stats.counts["log_events_duplicate"] == 7


async def test_restart_resumes_from_the_checkpoint(aws: Emulator, clients: AwsClients,
                                                   checkpoints: CheckpointStore) -> None:
    base = time.time() - 600
    logs = await clients.client("logs", aws_settings(aws))
    await put_events(logs, GROUP, [(int((base + i) * 1000), trail_event(f"old{i}")) for i in range(2)])
    first = make_source(aws, clients, checkpoints, Clock(base + 100), start_at=base - 1, overlap_seconds=30)
    collect = Collector()
    await first.poll_once(collect)
    await collect.batches[0].ack()
    await first.close()
    assert checkpoints.get("cw", GROUP) == str(int((base + 100) * 1000) - 5000)

    await put_events(logs, GROUP, [(int((base + 150) * 1000), trail_event("new"))], create=False)
    # A new process: no memory of emitted eventIds, only the checkpoint.
    second = make_source(aws, clients, checkpoints, Clock(base + 200), start_at=base - 1, overlap_seconds=30)
    resumed = Collector()
    await second.poll_once(resumed)
    assert resumed.event_ids() == ["new"]


async def test_released_page_is_read_again(aws: Emulator, clients: AwsClients, checkpoints: CheckpointStore) -> None:
    base = time.time() - 600
    logs = await clients.client("logs", aws_settings(aws))
    await put_events(logs, GROUP, [(int((base + 1) * 1000), trail_event("e1"))])
    clock = Clock(base + 30)
    source = make_source(aws, clients, checkpoints, clock, start_at=base)
    collect = Collector()
    await source.poll_once(collect)
    await collect.batches[0].release("shutting down")
    assert source.checkpoint(GROUP) is None
    assert source.stats.counts["batches_released"] == 1
    clock.now += 10
    await source.poll_once(collect)
    assert collect.event_ids() == ["e1", "e1"]
    await collect.batches[1].ack()
    assert source.checkpoint(GROUP) == int((base + 40) * 1000) - 5000


async def test_a_missing_log_group_does_not_stop_the_others(
        aws: Emulator, clients: AwsClients, checkpoints: CheckpointStore, caplog: pytest.LogCaptureFixture) -> None:
    now = time.time()
    logs = await clients.client("logs", aws_settings(aws))
    await put_events(logs, GROUP, [(int((now - 60) * 1000), trail_event("e1"))])
    source = make_source(aws, clients, checkpoints, Clock(now), groups=("no-such-group", GROUP))
    collect = Collector()
    await source.poll_once(collect)

    assert collect.event_ids() == ["e1"]
    assert source.stats.total("api_errors") == 1
    assert source.stats.total("api_throttles") == 0
    assert any("no-such-group" in r.getMessage() and "ResourceNotFoundException" in r.getMessage()
               for r in caplog.records)
    assert source.ready()
    await collect.batches[0].ack()
    assert source.checkpoint(GROUP) is not None
    assert source.checkpoint("no-such-group") is None

    only_missing = make_source(aws, clients, checkpoints, Clock(now), groups=("no-such-group",))
    await only_missing.poll_once(collect)
    assert not only_missing.ready()


def test_throttling_is_told_from_other_errors() -> None:
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                             "ResponseMetadata": {"HTTPStatusCode": 400}}, "FilterLogEvents")
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"},
                          "ResponseMetadata": {"HTTPStatusCode": 400}}, "FilterLogEvents")
    assert is_throttle(throttled) and not is_throttle(denied)
    stats = SourceStats()
    count_error(stats, "cw", "FilterLogEvents", GROUP, throttled)
    count_error(stats, "cw", "FilterLogEvents", GROUP, denied)
    assert stats.counts == {"api_throttles:FilterLogEvents": 1, "api_errors:FilterLogEvents": 1}


async def test_a_throttled_page_is_retried_after_a_backoff(
        tmp_path: Path, checkpoints: CheckpointStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A loopback CloudWatch Logs peer that throttles the first FilterLogEvents call."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # no retries inside botocore: the source's own are tested
    calls: list[dict[str, Any]] = []
    now = time.time()

    async def handler(request: web.Request) -> web.Response:
        calls.append(orjson.loads(await request.read()))
        if len(calls) == 1:
            return web.Response(status=400, content_type="application/x-amz-json-1.1",
                                body=orjson.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}))
        event = {"eventId": "1", "logStreamName": STREAM, "timestamp": int(now * 1000) - 60_000,
                 "ingestionTime": int(now * 1000) - 59_000, "message": trail_event("e1")}
        return web.Response(content_type="application/x-amz-json-1.1",
                            body=orjson.dumps({"events": [event], "searchedLogStreams": []}))

    app = web.Application()
    app.router.add_post("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    delays: list[float] = []

    async def record_sleep(delay: float) -> None:
        delays.append(delay)

    clients = AwsClients()
    try:
        settings = CloudWatchLogsSettings(log_groups=(GROUP,),
                                          aws=AwsSettings(region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}"))
        source = CloudWatchLogsSource("cw", settings, SourceContext(clients, checkpoints), clock=Clock(now),
                                      sleep=record_sleep, backoff=Backoff(0.5, 4.0))
        collect = Collector()
        await source.poll_once(collect)
    finally:
        await clients.close()
        await runner.cleanup()

    assert collect.event_ids() == ["e1"]
    assert len(calls) == 2 and calls[0]["logGroupName"] == GROUP
    assert source.stats.total("api_throttles") == 1
    assert source.stats.total("api_errors") == 0
    assert len(delays) == 1 and 0.0 <= delays[0] <= 0.5


async def test_cancellation_is_re_raised_and_nothing_advances(
        aws: Emulator, clients: AwsClients, checkpoints: CheckpointStore) -> None:
    now = time.time()
    logs = await clients.client("logs", aws_settings(aws))
    await put_events(logs, GROUP, [(int((now - 60) * 1000), trail_event("e1"))])
    source = make_source(aws, clients, checkpoints, Clock(now))
    handed: asyncio.Queue[Batch] = asyncio.Queue()
    never = asyncio.Event()

    async def blocked_emit(batch: Batch) -> None:
        await handed.put(batch)
        await never.wait()  # a full pipeline queue

    task = asyncio.create_task(source.run(blocked_emit))
    await asyncio.wait_for(handed.get(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await source.close()
    assert source.checkpoint(GROUP) is None


def test_settings_errors_name_their_path() -> None:
    errors: list[str] = []
    parse_cloudwatch_logs(Section({"log_groups": [], "start_at": "yesterday", "page_size": 20000,
                                            "interval": 5}, "sources[2]", errors))
    assert "sources[2].log_groups: required: one or more log group names" in errors
    assert any(e.startswith("sources[2].start_at: must be an RFC 3339 time") for e in errors)
    assert any(e.startswith("sources[2].page_size: must be <= 10000") for e in errors)
    assert "sources[2].interval: unknown key" in errors


def test_settings_accept_yaml_timestamps_and_defaults() -> None:
    import yaml

    errors: list[str] = []
    data = yaml.safe_load("log_groups: [a, b]\nstart_at: 2024-05-01T00:00:00Z\nfilter_pattern: '{ $.eventName = * }'\n")
    settings = parse_cloudwatch_logs(Section(data, "sources[0]", errors))
    assert errors == []
    assert settings.log_groups == ("a", "b")
    assert settings.fetch.start_at == 1714521600.0
    assert settings.fetch.filter_pattern == "{ $.eventName = * }"
    assert settings.fetch.overlap_seconds == 300.0 and settings.fetch.settle_seconds == 5.0
    assert settings.fetch.recent_event_ids == 50_000 and settings.interval_seconds == 10.0
    assert parse_fetch(Section({"start_at": "2024-05-01"}, "s", errors)).start_at == 1714521600.0


def test_page_bytes_keeps_one_event_per_line() -> None:
    pretty = '{\n  "eventID": "x",\n  "eventName": "ConsoleLogin"\n}'
    data = page_bytes([{"message": pretty}, {"message": trail_event("y")}, {"nomessage": 1}])
    decoded = decode_bytes(data, "page")
    assert [e.eventID for e in decoded.events] == ["x", "y"]
    assert data.count(b"\n") == 1
