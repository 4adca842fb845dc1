"""Alert delivery for replicas against a real redis-server: committed alerts reach exactly one outbox."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from monitor.alerts.secrets import Secret
from monitor.alerts.service import Alerting
from monitor.alerts.settings import AlertingSettings
from monitor.model import Alert
from monitor.model.severity import Severity
from monitor.replicas.connection import RoundTrips, open_client
from monitor.replicas.feed import GROUP, DeliveryFeed
from monitor.replicas.leases import Lease
from monitor.replicas.store import Keys
from tests.helpers import wait_until
from tests.redis_server import RedisServer

KEYS = Keys("feed-test:")


def an_alert(index: int) -> Alert:
    return Alert(id=f"alert-{index}", detector="root-console-login", title="Root signed in", severity=Severity.CRITICAL,
                 account="111122223333", account_alias="", region="us-east-1", principal="root", source_ip="",
                 user_agent="", event_source="signin.amazonaws.com", event_name="ConsoleLogin", event_time=1.0,
                 last_event_time=1.0, event_ids=[f"e{index}"], count=1, mitre=(), runbook="", context={})


class Recorder:
    """Keeps what it is given; fails the first `failures` times, as a full disk would."""

    def __init__(self, failures: int = 0) -> None:
        self.recorded: list[tuple[str | None, list[str]]] = []
        self.failures = failures

    async def record(self, alerts: Sequence[Alert], receipt: str | None = None) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("disk full")
        self.recorded.append((receipt, [alert.id for alert in alerts]))


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    connection = open_client(Secret(redis_server.url), timeout=2.0)  # as `run` opens it: with socket timeouts
    yield connection
    await connection.aclose()


async def committed(client: aioredis.Redis, *alerts: Alert) -> bytes:
    """An entry as a group commit writes it."""
    payload = b"[" + b",".join(alert.to_json() for alert in alerts) + b"]"
    entry: bytes = await client.xadd(KEYS.alerts, {b"alerts": payload})
    return entry


def holding(name: str = "delivery") -> Lease:
    lease = Lease(name)
    lease._set(True)
    return lease


async def running(feed: DeliveryFeed) -> asyncio.Task[None]:
    return asyncio.create_task(feed.run())


async def stop(task: asyncio.Task[None], feed: DeliveryFeed) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await feed.trips.settle(5.0)  # its last read, which the cancel does not interrupt


async def test_the_lease_holder_records_each_entry_once_and_removes_it(client: aioredis.Redis) -> None:
    recorder = Recorder()
    feed = DeliveryFeed(client, KEYS, "b", holding(), recorder, RoundTrips(), claim_idle_seconds=5)
    task = await running(feed)
    try:
        first = await committed(client, an_alert(1), an_alert(2))
        await committed(client, an_alert(3))
        await wait_until(lambda: feed.recorded == 2, "both entries recorded")
        assert recorder.recorded == [(first.decode(), ["alert-1", "alert-2"]), (recorder.recorded[1][0], ["alert-3"])]
        assert await client.xlen(KEYS.alerts) == 0  # acknowledged and deleted
    finally:
        await stop(task, feed)


async def test_a_replica_without_the_lease_takes_nothing(client: aioredis.Redis) -> None:
    recorder = Recorder()
    lease = Lease("delivery")  # not held
    feed = DeliveryFeed(client, KEYS, "a", lease, recorder, RoundTrips(), claim_idle_seconds=5)
    task = await running(feed)
    try:
        await committed(client, an_alert(1))
        await wait_until(lambda: _group_exists(client), "the consumer group created")
        assert recorder.recorded == [] and await client.xlen(KEYS.alerts) == 1
    finally:
        await stop(task, feed)


async def _group_exists(client: aioredis.Redis) -> bool:
    groups = await client.xinfo_groups(KEYS.alerts)
    return any(group["name"] in (GROUP, GROUP.encode()) for group in groups)


async def test_entries_a_dead_replica_read_are_claimed_by_the_lease_holder(client: aioredis.Redis) -> None:
    entry = await committed(client, an_alert(7))
    await client.xgroup_create(KEYS.alerts, GROUP, id="0", mkstream=True)
    # Replica "a" read the entry, then died before recording it: pending under its name, never to return.
    assert await client.xreadgroup(GROUP, "a", {KEYS.alerts: b">"}, count=10)
    recorder = Recorder()
    feed = DeliveryFeed(client, KEYS, "b", holding(), recorder, RoundTrips(), claim_idle_seconds=0.2)
    task = await running(feed)
    try:
        await wait_until(lambda: recorder.recorded == [(entry.decode(), ["alert-7"])], "the abandoned entry claimed")
        await wait_until(lambda: _pending(client, 0), "nothing left pending")
    finally:
        await stop(task, feed)


async def _pending(client: aioredis.Redis, count: int) -> bool:
    summary = await client.xpending(KEYS.alerts, GROUP)
    return int(summary["pending"]) == count


async def test_a_failing_outbox_keeps_the_entry_in_redis_until_it_records(client: aioredis.Redis) -> None:
    recorder = Recorder(failures=2)
    feed = DeliveryFeed(client, KEYS, "b", holding(), recorder, RoundTrips(), claim_idle_seconds=5)
    task = await running(feed)
    try:
        entry = await committed(client, an_alert(4))
        await wait_until(lambda: recorder.recorded == [(entry.decode(), ["alert-4"])], "recorded after the failures")
        assert not task.done()  # the feed lived through the failures
        await wait_until(lambda: _pending(client, 0), "acknowledged once recorded")
    finally:
        await stop(task, feed)


async def test_the_outbox_records_a_handed_over_group_once(tmp_path: Path) -> None:
    alerting = Alerting(AlertingSettings(), db_path=tmp_path / "outbox.sqlite")  # not started: nothing sent
    try:
        await alerting.record([an_alert(1)], receipt="5-0")
        await alerting.record([an_alert(1)], receipt="5-0")  # the same stream entry handed over again
        assert alerting.stats().duplicates == 1
        assert [row["alert_id"] for row in alerting.outbox.deliveries()] == ["alert-1"]
    finally:
        alerting.outbox.close()


async def test_a_feed_cancelled_after_recording_stops_every_time(client: aioredis.Redis) -> None:
    """Shutdown cancels the feed in its blocking read; redis-py could then wait for ever (about one time in
    six after an outbox failure, when the cancel reached the command itself)."""
    for index in range(20):
        recorder = Recorder(failures=2)
        feed = DeliveryFeed(client, KEYS, "b", holding(), recorder, RoundTrips(), claim_idle_seconds=5)
        task = await running(feed)
        await committed(client, an_alert(index))
        await wait_until(functools.partial(_recorded, recorder, index), "recorded after the failures")
        await wait_until(lambda: _pending(client, 0), "acknowledged once recorded")
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=10)
        assert task in done, "the cancelled feed never stopped"
        await feed.trips.settle(5.0)


def _recorded(recorder: Recorder, index: int) -> bool:
    return [alerts for _, alerts in recorder.recorded] == [[f"alert-{index}"]]
