"""The Redis state store against a real redis-server: replicas that share it detect as one process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from monitor.alerts.secrets import Secret
from monitor.decode import decode_bytes
from monitor.engine import Engine, EngineSettings
from monitor.engine.state.store import StateConflict, StateUnavailable
from monitor.model import Alert
from monitor.replicas.connection import RoundTrips, open_client
from monitor.replicas.store import Keys, RedisStore
from monitor.rules.builtin import builtin_detectors
from tests.helpers import ACCOUNT, failed_signin, root, signin
from tests.redis_server import RedisServer

BURST = "console-login-failure-burst"


class Replica:
    """One engine over its own RedisStore and client, as one replica process has."""

    def __init__(self, url: str, detectors: list[str] | None = None) -> None:
        self.client = open_client(Secret(url), timeout=2.0)
        self.trips = RoundTrips()
        self.store = RedisStore(self.client, Keys("test:"), lateness=300.0, event_id_seconds=3600.0,
                                trips=self.trips)
        wanted = set(detectors) if detectors is not None else None
        chosen = [d for d in builtin_detectors() if wanted is None or d.id in wanted]
        self.engine = Engine(chosen, EngineSettings(), store=self.store)

    async def apply(self, events: list[dict[str, Any]]) -> list[Alert]:
        """Fetch what the batch reads, apply it (not yet committed)."""
        # The standard library writes lone surrogates (as escapes) where orjson refuses.
        found = self.engine.detection.detect(decode_bytes(json.dumps({"Records": events}).encode(), "test"))
        await self.store.fetch(self.engine.applier.wanted([found]))
        with self.engine.batch():
            return self.engine.apply(found).alerts

    async def process(self, events: list[dict[str, Any]]) -> list[Alert]:
        """Apply and commit one batch, re-applying it on a conflict, as the pipeline does."""
        while True:
            alerts = await self.apply(events)
            try:
                await self.store.commit_shared(alerts)
                return alerts
            except StateConflict:
                self.engine.forget_unpersisted()

    async def close(self) -> None:
        await self.client.aclose()


@pytest.fixture
async def replicas(redis_server: RedisServer) -> AsyncIterator[tuple[Replica, Replica]]:
    first, second = Replica(redis_server.url, [BURST, "root-console-login"]), Replica(redis_server.url,
                                                                                       [BURST, "root-console-login"])
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def failures(user: str, start: float, count: int) -> list[dict[str, Any]]:
    return [failed_signin(user, start + index) for index in range(count)]


async def test_a_burst_split_over_two_replicas_is_detected_once(replicas: tuple[Replica, Replica]) -> None:
    first, second = replicas
    assert await first.process(failures("mallory", 0, 3)) == []
    alerts = await second.process(failures("mallory", 3, 2))
    assert [alert.detector for alert in alerts] == [BURST] and alerts[0].count == 5
    # Later failures fold into that episode, whichever replica sees them; the alert id stays.
    folded = await first.process(failures("mallory", 10, 1))
    assert folded == []  # folded, no new alert: the episode emits again when it closes


async def test_an_object_applied_by_both_replicas_counts_once(replicas: tuple[Replica, Replica]) -> None:
    first, second = replicas
    events = failures("trent", 0, 5)
    assert [a.detector for a in await first.process(events)] == [BURST]
    assert await second.process(events) == []  # every eventID already applied
    assert first.engine.stats.duplicates == 0 and second.engine.stats.duplicates == 5


async def test_conflicting_batches_end_as_one_process_would(replicas: tuple[Replica, Replica]) -> None:
    first, second = replicas
    a, b = failures("oscar", 0, 3), failures("oscar", 3, 2)
    await first.apply(a)
    await second.apply(b)
    await first.store.commit_shared([])
    with pytest.raises(StateConflict):
        await second.store.commit_shared([])
    second.engine.forget_unpersisted()
    alerts = await second.process(b)
    assert [(alert.detector, alert.count) for alert in alerts] == [(BURST, 5)]


async def test_the_same_events_applied_concurrently_conflict_on_their_event_ids(
        replicas: tuple[Replica, Replica]) -> None:
    first, second = replicas
    events = [signin(root(), 0, "Success")]
    assert len(await first.apply(events)) == 1
    assert len(await second.apply(events)) == 1  # neither has committed yet
    await first.store.commit_shared([])
    with pytest.raises(StateConflict):
        await second.store.commit_shared([])
    second.engine.forget_unpersisted()
    assert await second.process(events) == []  # now a duplicate


async def test_an_episode_opened_on_one_replica_is_closed_by_the_other_with_its_id(
        replicas: tuple[Replica, Replica]) -> None:
    first, second = replicas
    opened = await first.process(failures("victor", 0, 5))
    assert [(a.detector, a.count) for a in opened] == [(BURST, 5)]
    await first.process(failures("victor", 6, 2))  # joins: no emission until the episode closes
    # Much later (past the episode and the lateness), an unrelated event on the other replica closes it.
    closed = await second.process([signin(root(), 100_000, "Success")])
    final = [a for a in closed if a.detector == BURST]
    assert len(final) == 1 and final[0].id == opened[0].id and final[0].count == 7
    # Closed once: the first replica does not close it again.
    later = await first.process([signin(root("999988887777"), 100_001, "Success")])
    assert [a.detector for a in later] == ["root-console-login"]


async def test_alerts_reach_the_stream_only_with_their_commit(replicas: tuple[Replica, Replica],
                                                              redis_server: RedisServer) -> None:
    first, second = replicas
    events = [signin(root(), 0, "Success")]
    alerts = await first.apply(events)
    await second.process(events)  # the other replica commits the same event first
    with pytest.raises(StateConflict):
        await first.store.commit_shared(alerts)
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        entries = await client.xrange(b"test:{state}:alerts")
        assert len(entries) == 1  # the second replica's commit only
        payload = orjson.loads(entries[0][1][b"alerts"])
        assert [alert["detector"] for alert in payload] == ["root-console-login"]
    finally:
        await client.aclose()


async def test_every_key_expires_or_is_bounded(replicas: tuple[Replica, Replica], redis_server: RedisServer) -> None:
    first, _ = replicas
    events = [*failures("wendy", 0, 3), signin(root(), 5, "Success")]
    await first.process(events)
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        without_ttl = []
        async for key in client.scan_iter(match=b"test:*"):
            if await client.ttl(key) == -1:
                without_ttl.append(key)
        # Bounded without a TTL: the commit counter, the watermark, the alert stream (capped), due indexes
        # (members leave when their episode closes or expires).
        assert sorted(without_ttl) == sorted([b"test:{state}:seq", b"test:{state}:alerts",
                                              b"test:{state}:max:engine\x1fwatermark", b"test:{state}:due:episodes"])
        assert await client.ttl(b"test:{state}:e:" + events[0]["eventID"].encode()) > 0
    finally:
        await client.aclose()


async def test_keys_values_and_event_ids_with_lone_surrogates(replicas: tuple[Replica, Replica]) -> None:
    first, second = replicas
    odd = "mal\ud800lory"
    events = failures(odd, 0, 3)
    for event in events:
        event["eventID"] = event["eventID"] + "\udc01"
    await first.process(events)
    alerts = await second.process(failures(odd, 3, 2))
    assert [(a.detector, a.count) for a in alerts] == [(BURST, 5)]
    assert await second.process(events) == []  # the odd eventIDs were remembered


async def test_an_unreachable_server_is_reported_and_nothing_is_written(redis_server: RedisServer) -> None:
    replica = Replica(redis_server.url, [BURST])
    try:
        await replica.apply(failures("judy", 0, 2))
        redis_server.kill()
        with pytest.raises(StateUnavailable, match="commit"):
            await replica.store.commit_shared([])
        assert not replica.trips.up and replica.trips.failures["commit"] == 1
        replica.engine.forget_unpersisted()
        redis_server.start()  # same port and folder: the AOF is reloaded
        await asyncio.wait_for(replica.process(failures("judy", 5, 1)), 10)
        assert replica.trips.up
    finally:
        await replica.close()


async def test_the_password_never_appears_in_errors(tmp_path: Any) -> None:
    server = RedisServer(tmp_path / "auth", password="hunter2-not-a-real-secret")
    server.start()
    try:
        wrong = server.url.replace("hunter2-not-a-real-secret", "wrong-password-xyz")
        replica = Replica(wrong, [BURST])
        with pytest.raises(Exception) as raised:
            await replica.apply(failures("judy", 0, 1))
        assert "wrong-password-xyz" not in str(raised.value) and "hunter2" not in str(raised.value)
        await replica.close()
        good = Replica(server.url, [BURST])
        await good.process(failures("judy", 0, 1))
        await good.close()
    finally:
        server.kill()


async def test_values_survive_a_redis_restart(replicas: tuple[Replica, Replica], redis_server: RedisServer) -> None:
    first, second = replicas
    await first.process(failures("sybil", 0, 3))
    redis_server.restart()  # AOF with fsync always: what was committed is there
    for replica in (first, second):
        await replica.client.connection_pool.disconnect()
    alerts = await second.process(failures("sybil", 3, 2))
    assert [(a.detector, a.count) for a in alerts] == [(BURST, 5)]
    assert ACCOUNT in {a.account for a in alerts}


async def test_a_worse_call_on_another_replica_updates_the_alert_at_once_and_both_targets_stay_listed(
        redis_server: RedisServer) -> None:
    from tests.engine.test_folding import selectors_blinded, trail_deleted

    first, second = (Replica(redis_server.url, ["cloudtrail-logging-stopped"]) for _ in range(2))
    try:
        [opened] = await first.process([selectors_blinded("org-trail", 0)])
        [updated] = await second.process([trail_deleted("org-trail", 20)])
        assert updated.id == opened.id and updated.context["updated_for"] == "new call cloudtrail:DeleteTrail"
        assert await first.process([trail_deleted("backup-trail", 35)]) == []  # a known call: it joins
        closed = await second.process([signin(root(), 100_000, "Success")])  # much later: the episode closes
        assert [(a.id, a.count, a.context["targets"]) for a in closed] == [
            (opened.id, 3, ["trail:org-trail", "trail:backup-trail"])]
    finally:
        await first.close()
        await second.close()
