"""Attack sequences with replicas: two processes sharing state in a real redis-server find the same incident
as one process, and signals stay in the shared state, never in the shared alert stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from monitor.alerts.secrets import Secret
from monitor.decode import decode_bytes
from monitor.engine import Engine, EngineSettings
from monitor.engine.state.store import StateConflict
from monitor.model import Alert
from monitor.pipeline.tasks import newest_per_id
from monitor.replicas.connection import RoundTrips, open_client
from monitor.replicas.store import Keys, RedisStore
from monitor.rules.builtin import builtin_detectors
from tests.redis_server import RedisServer
from tests.sequences.chains import RECON, console_chain, late_link_chain, minted_key_chain, stolen_role_chain

PREFIX = "seq:"


class Replica:
    """One engine over its own RedisStore, fetching in two rounds and committing as the pipeline does."""

    def __init__(self, url: str) -> None:
        self.client = open_client(Secret(url), timeout=2.0)
        self.store = RedisStore(self.client, Keys(PREFIX), lateness=300.0, event_id_seconds=3600.0,
                                trips=RoundTrips())
        self.engine = Engine([*builtin_detectors(), RECON], EngineSettings(), store=self.store)

    async def process(self, events: list[dict[str, Any]]) -> list[Alert]:
        found = self.engine.detection.detect(decode_bytes(orjson.dumps({"Records": events}), "test"))
        applier = self.engine.applier
        while True:
            await self.store.fetch(applier.wanted([found]))
            more = applier.wanted_next([found])
            if more is not None:
                await self.store.fetch(more)
            with self.engine.batch():
                alerts = self.engine.apply(found).alerts
            try:
                await self.store.commit_shared(newest_per_id(alerts))
                return alerts
            except StateConflict:
                self.engine.forget_unpersisted()

    async def close(self) -> None:
        await self.client.aclose()


@pytest.fixture
async def two(redis_server: RedisServer) -> AsyncIterator[tuple[Replica, Replica]]:
    first, second = Replica(redis_server.url), Replica(redis_server.url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def one_process(events: list[dict[str, Any]]) -> Alert:
    engine = Engine([*builtin_detectors(), RECON])
    emitted = [alert for event in events for alert in engine.process_records([event], "one").alerts]
    return [alert for alert in emitted if alert.detector == "attack-sequence"][-1]


@pytest.mark.parametrize("chain", [minted_key_chain, stolen_role_chain, console_chain, late_link_chain],
                         ids=lambda c: c.__name__)
async def test_two_replicas_find_the_incident_one_process_finds(chain: Any, two: tuple[Replica, Replica],
                                                               redis_server: RedisServer) -> None:
    events = chain()
    emitted: list[Alert] = []
    for index, event in enumerate(events):  # the chain's objects land on alternate replicas
        emitted.extend(await two[index % 2].process([event]))
    shared = [alert for alert in emitted if alert.detector == "attack-sequence"][-1]
    assert shared.to_dict() == one_process(events).to_dict()
    # The signals were remembered in the shared state (they are steps), and never streamed for delivery.
    assert any(entry["kind"] == "signal" for entry in shared.context["timeline"])
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        entries = await client.xrange(two[0].store.keys.alerts)
    finally:
        await client.aclose()
    streamed = [orjson.loads(fields[b"alerts"]) for _, fields in entries if fields.get(b"alerts")]
    assert streamed and not any(alert.get("signal") for batch in streamed for alert in batch)
    assert any(alert["detector"] == "attack-sequence" for batch in streamed for alert in batch)
