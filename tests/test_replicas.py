"""Replicas: two and three real `trailsentry run` processes on one SQS queue, sharing a real redis-server,
give the alerts of one process, even when one is killed with SIGKILL or Redis goes away mid-run.

The workload is the crash tests' one (tests/test_crashes.py): bursts, a spray, episodes whose events
span objects, a redelivered object and a late object that closes every episode. Objects land one at a
time, each once the previous one is acknowledged, and the replicas compete for them on the queue, so
consecutive parts of one burst go to whichever replica asks first. The reference is one process with
the embedded state store. Compared: every alert in its final version (same ids, counts, event ids,
context) and every emission delivered, none twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import yaml

from monitor.demo.emulator import DUMMY_CREDENTIALS, Trail, wire_trail
from monitor.replicas.runtime import STATE_DOWN_DETECTOR
from tests.aws_emulator import Emulator
from tests.helpers import REPO, wait_until
from tests.redis_server import RedisServer
from tests.test_crashes import (
    WAIT,
    Outcome,
    QueueFeeder,
    Receiver,
    _emissions,
    environment,
    receiving,
    recorded_alerts,
    sqs_run,
    undelivered,
    workload,
)

pytestmark = pytest.mark.slow

PREFIX = "trailsentry-test:"


class Replica:
    """One `trailsentry run` process with its own data folder (its outbox, its replica id)."""

    def __init__(self, folder: Path, config: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.config = config
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.metrics_url = ""
        self.starts = 0
        self.log_tail: list[str] = []
        self._log: asyncio.Task[None] | None = None

    @property
    def state(self) -> Path:
        return self.folder / "state" / "trailsentry.sqlite"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "--config", str(self.config), env=self.env,
            cwd=REPO,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        assert self.process.stderr is not None
        while line := await asyncio.wait_for(self.process.stderr.readline(), WAIT):
            if b"trailsentry running" in line:
                self.metrics_url = line.decode().rsplit("metrics on ", 1)[1].strip()
                break
        self.starts += 1
        # Keep reading its log (the tail kept for failures), so a full pipe never blocks it.
        self._log = asyncio.get_running_loop().create_task(self._read_log(self.process))

    async def _read_log(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        while line := await process.stderr.readline():
            self.log_tail = [*self.log_tail[-200:], line.decode(errors="replace")]

    async def metric(self, name: str) -> float | None:
        async with aiohttp.ClientSession() as http, http.get(self.metrics_url + "/metrics") as response:
            for line in (await response.text()).splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    return float(line.rsplit(" ", 1)[1])
        return None

    async def ready(self) -> int:
        async with aiohttp.ClientSession() as http, http.get(self.metrics_url + "/readyz") as response:
            return response.status

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()

    async def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), WAIT)
        if self._log is not None:
            await asyncio.wait_for(self._log, WAIT)
        assert process.returncode in (0, -signal.SIGKILL), "".join(self.log_tail[-40:])


def replica_config(folder: Path, trail: Trail, aws: Emulator, *, shared: bool,
                   alert_after: float = 30.0) -> Path:
    config: dict[str, Any] = {
        "sources": [{"kind": "s3-sqs", "name": "org", "queue_url": trail.queue_url, "wait_seconds": 1,
                     "visibility_timeout": 2, "retry_base_seconds": 1, "retry_max_seconds": 2, "max_messages": 1,
                     "aws": {"region": aws.region, "endpoint_url": aws.endpoint_url}}],
        "checkpoint": {"path": str(folder / "state" / "trailsentry.sqlite")},
        "service": {"checkpoint_seconds": 3600, "drain_seconds": 5},
        "sinks": [{"name": "hook", "type": "webhook", "url_env": "TRAILSENTRY_TEST_HOOK", "rate_per_second": 0,
                   "backoff_base_seconds": 0.05, "backoff_cap_seconds": 0.2}],
        "alerting": {"repeat_window": {"window_seconds": 0}},
        "metrics": {"host": "127.0.0.1", "port": 0},
    }
    if shared:
        config["state"] = {"backend": "redis", "url_env": "TRAILSENTRY_REDIS_URL", "key_prefix": PREFIX,
                           "lease_seconds": 3, "timeout_seconds": 1, "unavailable_alert_seconds": alert_after}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "trailsentry.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class ReplicaFeeder(QueueFeeder):
    """Done when the queue is empty, the alert stream drained into an outbox, and every outbox delivered."""

    def __init__(self, s3: Any, sqs: Any, trail: Trail, replicas: list[Replica], redis_url: str,
                 objects: list[tuple[str, list[dict[str, Any]]]]) -> None:
        super().__init__(s3, sqs, trail, replicas[0].state, objects)
        self.replicas = replicas
        self.redis = aioredis.Redis.from_url(redis_url)

    async def done(self) -> bool:
        if not await super().done():
            return False
        try:
            waiting = await self.redis.xlen(PREFIX + "{state}:alerts")
        except Exception:  # Redis away for the moment: not done
            return False
        return waiting == 0 and all(undelivered(replica.state) == 0 for replica in self.replicas)


def merged_alerts(replicas: list[Replica]) -> dict[str, dict[str, Any]]:
    """Every alert in its newest version, whichever replica's outbox holds it (the delivery lease moves)."""
    merged: dict[str, dict[str, Any]] = {}
    for replica in replicas:
        for alert_id, alert in recorded_alerts(replica.state).items():
            if alert["detector"] == STATE_DOWN_DETECTOR:
                continue
            if alert_id not in merged or alert["count"] > merged[alert_id]["count"]:
                merged[alert_id] = alert
    return merged


@contextlib.asynccontextmanager
async def replica_set(aws: Emulator, redis: RedisServer, folder: Path, count: int,
                      objects: list[tuple[str, list[dict[str, Any]]]], *, alert_after: float = 30.0
                      ) -> AsyncIterator[tuple[list[Replica], ReplicaFeeder, Receiver]]:
    from aiobotocore.session import get_session

    aws.reset()
    session = get_session()
    trail = await wire_trail(session, aws.endpoint_url, bucket="org-trail-bucket")
    client = {"region_name": aws.region, "endpoint_url": aws.endpoint_url}
    async with receiving() as receiver, session.create_client("s3", **client) as s3, \
            session.create_client("sqs", **client) as sqs:
        env = environment(receiver, TRAILSENTRY_REDIS_URL=redis.url, **DUMMY_CREDENTIALS)
        replicas = []
        for index in range(count):
            home = folder / f"replica-{index}"
            replicas.append(Replica(home, replica_config(home, trail, aws, shared=True, alert_after=alert_after),
                                    env))
        feeder = ReplicaFeeder(s3, sqs, trail, replicas, redis.url, objects)
        try:
            await asyncio.gather(*(replica.start() for replica in replicas))
            yield replicas, feeder, receiver
        finally:
            for replica in replicas:
                await replica.stop()
            await feeder.redis.aclose()


def assert_as_one_process(reference: Outcome, alerts: dict[str, dict[str, Any]], receiver: Receiver) -> None:
    detectors = {alert["detector"] for alert in reference.alerts.values()}
    assert {"console-login-failure-burst", "console-password-spray", "root-activity",
            "access-denied-burst"} <= detectors
    assert alerts == reference.alerts  # no detection missing, no episode split, the same counts and context
    # The monitor's own alerts (Redis away) are not part of the comparison.
    deliveries = [d for d in receiver.deliveries if receiver.detectors[d[1]] != STATE_DOWN_DETECTOR]
    emissions = _emissions(deliveries)
    assert {emission: ids for emission, ids in emissions.items() if len(ids) > 1} == {}  # nothing delivered twice
    # Every alert delivered, in the same final version, and never a version one process did not deliver. An
    # update recorded before the message of the version it replaces went out is sent in its stead (the
    # outbox sends the newest version): with replicas, commits of different replicas often come that close.
    mine, theirs = _versions(deliveries), _versions(reference.deliveries)
    assert set(mine) == set(theirs)
    for alert_id, versions in mine.items():
        assert versions[-1] == theirs[alert_id][-1], alert_id
        assert set(versions) <= set(theirs[alert_id]), alert_id


def _versions(deliveries: list[tuple[str, str, str, int, str]]) -> dict[str, list[tuple[int, str]]]:
    """Per alert id, the (count, severity) of each message in the order they arrived."""
    found: dict[str, list[tuple[int, str]]] = {}
    for _, alert_id, _, count, severity in deliveries:
        found.setdefault(alert_id, []).append((count, severity))
    return found


async def run_reference(aws: Emulator, folder: Path, objects: list[tuple[str, list[dict[str, Any]]]]) -> Outcome:
    return await sqs_run(aws, folder, objects, kills=0, rng=random.Random(0))


@pytest.mark.parametrize("count", [2, 3])
async def test_replicas_on_one_queue_give_the_alerts_of_one_process(aws: Emulator, redis_server: RedisServer,
                                                                    tmp_path: Path, count: int) -> None:
    objects = workload(time.time() - 3 * 3600 - 1800)
    reference = await run_reference(aws, tmp_path / "reference", objects)
    async with replica_set(aws, redis_server, tmp_path / "replicas", count, objects) as (replicas, feeder, receiver):
        await wait_until(feeder.done, "the workload processed and delivered", within=4 * WAIT)
        processed = [await replica.metric("trailsentry_batches_processed_total") or 0 for replica in replicas]
        holders = [await replica.metric('trailsentry_lease_held{lease="delivery"}') for replica in replicas]
    # The objects were shared out: more than one replica applied some (so bursts were split between them).
    assert sum(processed) >= len(objects) and sum(1 for n in processed if n > 0) >= 2, processed
    assert holders.count(1.0) == 1, holders  # one replica delivered
    assert_as_one_process(reference, merged_alerts(replicas), receiver)


async def test_a_replica_killed_and_restarted_mid_run_changes_nothing(aws: Emulator, redis_server: RedisServer,
                                                                     tmp_path: Path) -> None:
    objects = workload(time.time() - 3 * 3600 - 1800)
    reference = await run_reference(aws, tmp_path / "reference", objects)
    rng = random.Random(5)
    async with replica_set(aws, redis_server, tmp_path / "replicas", 2, objects) as (replicas, feeder, receiver):
        kills = 0
        while not await feeder.done() and kills < 4:
            target = await feeder.progress() + rng.randint(1, 3)

            async def far_enough(t: int = target) -> bool:
                return await feeder.done() or await feeder.progress() >= t

            await wait_until(far_enough, "progress to kill at", within=4 * WAIT)
            victim = replicas[kills % 2]  # the delivery lease holder among them, sooner or later
            victim.kill()
            await victim.stop()
            assert victim.process is not None and victim.process.returncode == -signal.SIGKILL
            kills += 1
            await victim.start()  # same folder: the same replica id, its pending stream entries first
        await wait_until(feeder.done, "the workload processed and delivered", within=4 * WAIT)
    assert kills >= 2
    assert_as_one_process(reference, merged_alerts(replicas), receiver)


async def test_redis_stopped_and_restarted_mid_run_loses_and_repeats_nothing(
        aws: Emulator, redis_server: RedisServer, tmp_path: Path) -> None:
    objects = workload(time.time() - 3 * 3600 - 1800)
    reference = await run_reference(aws, tmp_path / "reference", objects)
    async with replica_set(aws, redis_server, tmp_path / "replicas", 2, objects, alert_after=0.5) as (
            replicas, feeder, receiver):
        half = len(objects) // 2
        await wait_until(lambda: _progressed(feeder, half), "half the workload", within=4 * WAIT)
        redis_server.stop()  # AOF with fsync always: what was committed survives
        for replica in replicas:
            await wait_until(lambda r=replica: _not_ready(r), "readiness failing while Redis is away", within=WAIT)
            assert await replica.metric('trailsentry_state_store_up{backend="redis"}') == 0.0
            assert await replica.metric("trailsentry_ready") == 0.0
        await wait_until(lambda: _told(receiver), "the monitor's alert that Redis is away", within=WAIT)
        redis_server.start()
        await wait_until(feeder.done, "the workload processed and delivered", within=4 * WAIT)
        for replica in replicas:
            assert await replica.metric('trailsentry_state_store_up{backend="redis"}') == 1.0
    assert_as_one_process(reference, merged_alerts(replicas), receiver)


async def _progressed(feeder: ReplicaFeeder, count: int) -> bool:
    await feeder.done()  # lands the next object when the previous one is acknowledged
    return await feeder.progress() >= count


async def _not_ready(replica: Replica) -> bool:
    return await replica.ready() == 503


def _told(receiver: Receiver) -> bool:
    return STATE_DOWN_DETECTOR in receiver.detectors.values()
