"""`s3-poll` against moto's server: discovery, cursors, look-back, restarts, out-of-order acks."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from monitor.aws.clients import AwsClients
from monitor.aws.settings import AwsSettings
from monitor.checkpoint import CheckpointStore
from monitor.configreader import Section
from monitor.sources import s3_poll
from monitor.sources.base import Batch, SourceContext
from monitor.sources.s3_poll_cursors import name_time
from monitor.sources.settings import PollSettings, parse_poll
from tests.aws_emulator import Emulator
from tests.helpers import wait_until
from tests.sources.s3_helpers import Collector, event, event_ids, log_object, running

BUCKET = "org-trail-logs"
ORG = "o-abcdefghij"
A1, A2, A3 = "111122223333", "444455556666", "777788889999"
NAME = "trail-poll"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ct_key(account: str, region: str, when: dt.datetime, unique: str = "a", org: str | None = ORG) -> str:
    folder = f"AWSLogs/{org + '/' if org else ''}{account}/CloudTrail/{region}/{when:%Y/%m/%d}/"
    return f"{folder}{account}_CloudTrail_{region}_{when:%Y%m%dT%H%M}Z_{unique:0>16}.json.gz"


def stream_of(key: str) -> str:
    return key.rsplit("/", 4)[0] + "/"


class Env:
    def __init__(self, aws: Emulator, clients: AwsClients, tmp: Path) -> None:
        self.aws = aws
        self.clients = clients
        self.settings = AwsSettings(region=aws.region, endpoint_url=aws.endpoint_url)
        self.checkpoints = CheckpointStore(tmp / "checkpoints.sqlite")
        self.events: dict[str, list[str]] = {}  # key -> eventIDs written

    async def s3(self) -> Any:
        return await self.clients.client("s3", self.settings)

    async def put(self, key: str, body: bytes | None = None) -> str:
        if body is None:
            records = [event(account=key.split("/")[-6] if "/CloudTrail/" in key else A1)]
            self.events[key] = [str(r["eventID"]) for r in records]
            body = log_object(*records)
        await (await self.s3()).put_object(Bucket=BUCKET, Key=key, Body=body)
        return key

    def source(self, store: CheckpointStore | None = None, **overrides: Any) -> s3_poll.PollSource:
        options: dict[str, Any] = {"bucket": BUCKET, "aws": self.settings, "interval_seconds": 0.05,
                                   "discovery_every": 1}
        options.update(overrides)
        context = SourceContext(self.clients, store or self.checkpoints)
        return s3_poll.create(NAME, PollSettings(**options), context)

    def stored(self, stream_prefix: str) -> dict[str, Any]:
        value = self.checkpoints.get(NAME, f"s3://{BUCKET}/{stream_prefix}")
        assert value is not None, f"no checkpoint for {stream_prefix}"
        state: dict[str, Any] = json.loads(value)
        return state


@pytest.fixture
async def env(aws: Emulator, tmp_path: Path) -> AsyncIterator[Env]:
    clients = AwsClients()
    environment = Env(aws, clients, tmp_path)
    await (await environment.s3()).create_bucket(Bucket=BUCKET)
    try:
        yield environment
    finally:
        await clients.close()
        environment.checkpoints.close()


async def passes(source: s3_poll.PollSource, more: int) -> None:
    """Wait until `more` further complete listing passes have run."""
    target = source.stats.counts.get("passes", 0) + more
    await wait_until(lambda: source.stats.counts.get("passes", 0) >= target, what=f"{more} more passes")


async def take(collector: Collector, count: int) -> list[Batch]:
    return [await collector.next() for _ in range(count)]


# -- config -------------------------------------------------------------------------------------


def test_parse_settings_errors_and_defaults() -> None:
    errors: list[str] = []
    parse_poll(Section({"start_at": "yesterday", "organization": "maybe", "interval_seconds": 0,
                                    "aws": {"endpoint_url": "ftp://x"}, "bukket": "x"}, "sources[1]", errors))
    assert "sources[1].bucket: required" in errors
    assert any(e.startswith("sources[1].start_at: must be an ISO date") for e in errors)
    assert any(e.startswith("sources[1].organization: must be one of auto, yes, no") for e in errors)
    assert "sources[1].interval_seconds: must be >= 1.0" in errors
    assert "sources[1].aws.endpoint_url: must start with http:// or https://" in errors
    assert "sources[1].bukket: unknown key" in errors

    errors = []
    settings = parse_poll(Section({"bucket": BUCKET, "prefix": "custom/AWSLogs",
                                               "start_at": dt.date(2026, 3, 1), "organization": True},
                                              "sources[0]", errors))
    assert errors == []
    assert settings.prefix == "custom/AWSLogs/"
    assert settings.start_at == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert settings.organization == "yes"
    assert (settings.interval_seconds, settings.lookback_seconds, settings.recent_keys) == (60.0, 900, 10000)


def test_name_time() -> None:
    key = ct_key(A1, "us-east-1", dt.datetime(2026, 3, 1, 23, 55, tzinfo=dt.UTC))
    assert name_time(key) == dt.datetime(2026, 3, 1, 23, 55, tzinfo=dt.UTC).timestamp()
    assert name_time("AWSLogs/x/custom.json.gz") is None
    assert name_time("AWSLogs/x/a_20261399T9999Z_b.json.gz") is None


# -- end to end ---------------------------------------------------------------------------------


async def test_new_objects_become_batches_and_history_is_not_replayed(env: Env) -> None:
    now = utcnow()
    old = await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(minutes=40), "old", org=None))
    first = await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(minutes=10), "b", org=None))
    second = await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(minutes=5), "c", org=None))
    source = env.source(lookback_seconds=900)
    collector = Collector(auto_ack=True)
    async with running(source, collector):
        batches = await take(collector, 2)
        await passes(source, 2)
        assert source.ready()
    assert sorted(b.origin for b in batches) == [f"s3://{BUCKET}/{first}", f"s3://{BUCKET}/{second}"]
    for batch in batches:
        assert event_ids(batch) == env.events[batch.origin.removeprefix(f"s3://{BUCKET}/")]
        assert batch.landed_at is not None
    assert f"s3://{BUCKET}/{old}" not in collector.origins()  # before now - lookback: not replayed
    assert len(collector.batches) == 2
    assert env.stored(stream_of(second))["cursor"] == second


async def test_every_aws_call_is_counted_by_its_operation(env: Env) -> None:
    now = utcnow()
    await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(minutes=5), "c", org=None))
    source = env.source(lookback_seconds=900)
    collector = Collector(auto_ack=True)
    async with running(source, collector):
        await take(collector, 1)
        await passes(source, 1)
    counts = source.stats.counts
    assert counts["api_calls:GetObject"] == 1
    assert counts["api_calls:ListObjectsV2"] == counts["list_calls"] >= 1
    assert "api_calls" not in counts


async def test_org_trail_accounts_regions_and_midnight(env: Env) -> None:
    midnight = (utcnow() - dt.timedelta(minutes=10)).replace(hour=0, minute=0, second=0, microsecond=0)
    before, after = midnight - dt.timedelta(minutes=5), midnight + dt.timedelta(minutes=5)
    expected = []
    for account in (A1, A2):
        for region in ("us-east-1", "eu-west-1"):
            expected.append(await env.put(ct_key(account, region, before, "x")))
            expected.append(await env.put(ct_key(account, region, after, "y")))
    direct = await env.put(ct_key(A3, "ap-south-1", after, "z", org=None))  # an account trail beside the org trail
    expected.append(direct)
    digest = (f"AWSLogs/{ORG}/{A1}/CloudTrail-Digest/us-east-1/{after:%Y/%m/%d}/"
              f"{A1}_CloudTrail-Digest_us-east-1_trail_us-east-1_{after:%Y%m%dT%H%M%S}Z.json.gz")
    await env.put(digest, b"{}")
    stray = await env.put(f"AWSLogs/{ORG}/{A1}/CloudTrail/us-east-1/{after:%Y/%m/%d}/notes.txt", b"hello")
    source = env.source(start_at=midnight - dt.timedelta(hours=1))
    collector = Collector(auto_ack=True)
    async with running(source, collector):
        await take(collector, len(expected))
        await passes(source, 2)
    assert sorted(collector.origins()) == sorted(f"s3://{BUCKET}/{k}" for k in expected)
    assert source.stats.counts["skipped_not_cloudtrail"] == 1
    for key in expected:
        # The cursor crossed midnight (and may have moved on to the look-back horizon since: quiet stream).
        assert env.stored(stream_of(key))["cursor"] >= key
    assert env.stored(stream_of(stray))["cursor"] >= stray  # passed over, counted once
    assert len(source.cursors()) == 5


async def test_organization_setting_picks_the_layout(env: Env) -> None:
    now = utcnow() - dt.timedelta(minutes=3)
    org_key = await env.put(ct_key(A1, "us-east-1", now, "o"))
    direct = await env.put(ct_key(A3, "us-east-1", now, "d", org=None))
    for organization, key in (("yes", org_key), ("no", direct)):
        store = CheckpointStore(":memory:")
        source = env.source(store, organization=organization)
        collector = Collector(auto_ack=True)
        async with running(source, collector):
            await take(collector, 1)
            await passes(source, 2)
        store.close()
        assert collector.origins() == [f"s3://{BUCKET}/{key}"]
        assert list(source.cursors()) == [stream_of(key)]


async def test_new_account_and_region_appearing_later(env: Env) -> None:
    now = utcnow()
    first = await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(minutes=6), "a"))
    source = env.source()
    collector = Collector(auto_ack=True)
    async with running(source, collector):
        await take(collector, 1)
        await passes(source, 2)
        # A member account joins the organization; an existing account starts using another region.
        newcomer = await env.put(ct_key(A2, "eu-central-1", now - dt.timedelta(minutes=4), "b"))
        region = await env.put(ct_key(A1, "sa-east-1", now - dt.timedelta(minutes=4), "c"))
        await take(collector, 2)
        await passes(source, 2)
    assert sorted(collector.origins()) == sorted(f"s3://{BUCKET}/{k}" for k in (first, newcomer, region))
    assert source.stats.counts["discoveries"] >= 3


async def test_late_delivery_within_the_lookback_is_read_once(env: Env) -> None:
    now = utcnow()
    early = await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(minutes=10), "a"))
    latest = await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(minutes=4), "b"))
    source = env.source(lookback_seconds=600)
    collector = Collector(auto_ack=True)
    async with running(source, collector):
        await take(collector, 2)
        await wait_until(lambda: source.cursors()[stream_of(latest)] == latest, what="cursor at the latest key")
        # Delivered now, named before the cursor: inside the look-back window (cursor time - 600 s).
        late = await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(minutes=7), "late"))
        # Named before the window: out of reach by design.
        too_late = await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(minutes=16), "tooLate"))
        batch = await collector.next()
        assert batch.origin == f"s3://{BUCKET}/{late}"
        await passes(source, 4)
    assert collector.origins().count(f"s3://{BUCKET}/{late}") == 1
    assert f"s3://{BUCKET}/{too_late}" not in collector.origins()
    assert len(collector.batches) == 3
    assert source.stats.counts["objects_late"] == 1
    assert source.cursors()[stream_of(latest)] == latest  # a late key does not move the cursor
    assert early in {stream_of(early) + rel for rel in env.stored(stream_of(early))["done"]}


async def test_restart_resumes_after_the_last_acked_key(env: Env) -> None:
    now = utcnow()
    keys = [await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(minutes=12 - 2 * i), f"k{i}"))
            for i in range(5)]
    first = env.source()
    collector = Collector()
    async with running(first, collector):
        batches = {b.origin.removeprefix(f"s3://{BUCKET}/"): b for b in await take(collector, 5)}
        for index in (0, 1, 3):  # k2 and k4 stay unacknowledged (in flight when the process stops)
            await batches[keys[index]].ack()
        assert first.cursors()[stream_of(keys[0])] == keys[1]
    # `running` closed the source, which committed its cursors.
    second = env.source()
    again = Collector()
    async with running(second, again):
        redelivered = await take(again, 2)
        await passes(second, 3)
        assert sorted(b.origin for b in redelivered) == [f"s3://{BUCKET}/{keys[2]}", f"s3://{BUCKET}/{keys[4]}"]
        assert len(again.batches) == 2  # the acked k0, k1 and k3 are not read again
        for batch in redelivered:
            await batch.ack()
        await wait_until(lambda: second.cursors()[stream_of(keys[0])] == keys[4], what="cursor at the last key")
        await passes(second, 2)
    assert len(again.batches) == 2
    assert env.stored(stream_of(keys[0]))["cursor"] == keys[4]


async def test_out_of_order_acks_move_the_cursor_only_contiguously(env: Env) -> None:
    now = utcnow()
    keys = [await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(minutes=9 - 2 * i), f"k{i}")) for i in range(3)]
    stream = stream_of(keys[0])
    source = env.source()
    collector = Collector()
    async with running(source, collector):
        batches = {b.origin.removeprefix(f"s3://{BUCKET}/"): b for b in await take(collector, 3)}
        start = env.stored(stream)["cursor"]
        assert start < keys[0]
        await batches[keys[2]].ack()
        await batches[keys[1]].ack()
        assert env.stored(stream)["cursor"] == start
        await passes(source, 2)
        assert env.stored(stream)["cursor"] == start
        assert len(collector.batches) == 3  # acked keys above the cursor are not read again
        await batches[keys[0]].ack()
        assert env.stored(stream)["cursor"] == keys[2]


async def test_released_object_is_read_again_and_abandoned_after_max_attempts(env: Env) -> None:
    now = utcnow()
    stuck = await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(minutes=6), "stuck"))
    after = await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(minutes=4), "after"))
    source = env.source(max_attempts=3)
    collector = Collector()
    async with running(source, collector):
        for attempt in range(3):
            batch = await collector.next()
            if batch.origin.endswith(after):
                await batch.ack()
                batch = await collector.next()
            assert batch.origin == f"s3://{BUCKET}/{stuck}", attempt
            if attempt < 2:
                assert source.cursors()[stream_of(stuck)] < stuck  # the released key holds the cursor
            await batch.release("detector failed")
        await wait_until(lambda: source.cursors()[stream_of(stuck)] == after, what="cursor past the abandoned key")
        await passes(source, 2)
    assert collector.origins().count(f"s3://{BUCKET}/{stuck}") == 3
    assert source.stats.counts["objects_abandoned"] == 1
    assert source.stats.counts["objects_released"] == 3


async def test_recent_memory_is_bounded(env: Env) -> None:
    now = utcnow()
    for i in range(8):
        await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(minutes=10) + dt.timedelta(seconds=60 * i), f"{i}"))
    source = env.source(recent_keys=3)
    collector = Collector(auto_ack=True)
    async with running(source, collector):
        await take(collector, 8)
        await passes(source, 1)
    assert len(env.stored(stream_of(collector.origins()[0].removeprefix(f"s3://{BUCKET}/")))["done"]) <= 3


async def test_listing_errors_are_counted_and_the_source_keeps_going(env: Env) -> None:
    source = env.source(bucket="no-such-bucket-here")
    async with running(source, Collector()) as task:
        await wait_until(lambda: source.stats.total("api_errors") >= 2, what="API errors")
        assert not task.done()
        assert not source.ready()


async def test_cancel_between_passes_is_prompt_and_reraised(env: Env) -> None:
    source = env.source(interval_seconds=3600)
    task = asyncio.create_task(source.run(Collector()))
    await wait_until(lambda: source.stats.counts.get("passes", 0) >= 1, what="first pass")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5.0)
    await source.close()


async def test_slow_consumer_keeps_downloads_bounded(env: Env) -> None:
    now = utcnow()
    keys = [await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(minutes=12) + dt.timedelta(minutes=i), f"{i}"))
            for i in range(10)]
    gate = asyncio.Event()
    unacked = 0
    most = 0

    async def blocking_emit(batch: Batch) -> None:
        nonlocal unacked, most
        unacked += 1
        most = max(most, unacked)
        await gate.wait()
        await batch.ack()
        unacked -= 1

    source = env.source(download_concurrency=2)
    async with running(source, blocking_emit):
        await wait_until(lambda: unacked == 2, what="emit blocked")
        assert source.stats.counts["objects_read"] == 2  # both workers wait in emit; nothing else downloaded
        gate.set()
        await wait_until(lambda: source.cursors()[stream_of(keys[0])] == keys[-1], what="all read")
    assert most <= 3
    assert source.stats.counts["objects_read"] == 10


async def test_quiet_stream_costs_two_listings_per_pass(env: Env) -> None:
    now = utcnow()
    old = await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(days=5), "quiet"))
    source = env.source(start_at=now - dt.timedelta(days=6), discovery_every=1000)
    collector = Collector(auto_ack=True)
    async with running(source, collector):
        await take(collector, 1)
        await passes(source, 2)
        before = source.stats.counts["list_calls"]
        await passes(source, 3)
        per_pass = (source.stats.counts["list_calls"] - before) / 3
    assert collector.origins() == [f"s3://{BUCKET}/{old}"]
    assert per_pass <= 3  # the look-back start's day folder, today's (and tomorrow's near midnight)
    cursor = env.stored(stream_of(old))["cursor"]
    assert cursor > old and name_time(cursor) is not None


async def test_run_again_after_a_crash_lists_unfinished_keys_again(env: Env) -> None:
    now = utcnow()
    keys = [await env.put(ct_key(A1, "us-east-1", now - dt.timedelta(minutes=8 - 2 * i), f"k{i}")) for i in range(2)]
    source = env.source()
    collector = Collector()
    crashed = asyncio.create_task(source.run(collector))
    held = await take(collector, 2)
    await held[0].ack()
    crashed.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await crashed
    async with running(source, collector):  # the app restarts the same source object
        again = await collector.next()
        assert again.origin == held[1].origin
        await again.ack()
        await wait_until(lambda: source.cursors()[stream_of(keys[0])] == max(keys), what="cursor at the end")
        await passes(source, 2)
    assert sorted(collector.origins()) == sorted([f"s3://{BUCKET}/{k}" for k in keys] + [held[1].origin])
