"""`trailsentry run` killed with SIGKILL, again and again, gives the alerts of a run that was never killed.

A real service process reads a directory of CloudTrail objects (and, in the second test, an S3 bucket
announced on an SQS queue of the emulator) and delivers alerts to a real webhook receiver on loopback.
The workload has bursts, distinct counts and episodes whose events span several objects, a redelivered
object and a late object whose event time closes every episode, so a lost window, a forgotten eventID,
an episode split under a new id or a repeated delivery would each change what is delivered.

Each run is killed with SIGKILL at a named point of the pipeline (`monitor/failpoints.py`: a batch half
applied, alerts not yet in the outbox, in the outbox but the state not durable, durable but not
acknowledged, acknowledged) or, from outside, at a moment picked by progress; then restarted, until the
workload is done. The comparison: the same alerts with the same content, and no alert emission
delivered twice (a retry of one delivery, same delivery id, is allowed: receivers de-duplicate on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web

from monitor.demo.background import background_events
from monitor.demo.emulator import DUMMY_CREDENTIALS, Trail, wire_trail
from monitor.demo.objects import encode_records
from tests.aws_emulator import Emulator
from tests.helpers import REPO, wait_until

pytestmark = pytest.mark.slow

ACCOUNT = "111122223333"
POINTS = ("mid_batch", "before_record", "after_record", "after_persist", "after_ack")
KILLS = 20
WAIT = 120.0


# --- the workload ----------------------------------------------------------------------------------------

def _time(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _event(ts: float, name: str, source: str, identity: dict[str, Any], ident: str, **fields: Any) -> dict[str, Any]:
    return {"eventVersion": "1.09", "userIdentity": identity, "eventTime": _time(ts), "eventSource": source,
            "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": fields.pop("ip", "198.51.100.7"),
            "userAgent": fields.pop("agent", "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64"),
            "eventID": f"crash-{ident}", "eventType": "AwsApiCall", "recipientAccountId": ACCOUNT, **fields}


def _user(name: str) -> dict[str, Any]:
    return {"type": "IAMUser", "principalId": f"AIDA{name.upper():X<16}", "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
            "accountId": ACCOUNT, "userName": name, "accessKeyId": "AKIAIOSFODNN7EXAMPLE"}


_ROOT = {"type": "Root", "principalId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root", "accountId": ACCOUNT}


def _signin(ts: float, ident: str, identity: dict[str, Any], outcome: str, ip: str) -> dict[str, Any]:
    extra: dict[str, Any] = {"responseElements": {"ConsoleLogin": outcome},
                             "additionalEventData": {"MFAUsed": "No"}, "eventType": "AwsConsoleSignIn"}
    if outcome == "Failure":
        extra["errorMessage"] = "Failed authentication"
    return _event(ts, "ConsoleLogin", "signin.amazonaws.com", identity, ident, ip=ip, agent="Mozilla/5.0", **extra)


def workload(start: float) -> list[tuple[str, list[dict[str, Any]]]]:
    """(name, records) of each object, in the order they land; detections span objects on purpose."""
    rng = random.Random(7)
    objects: list[list[dict[str, Any]]] = []

    def add(records: list[dict[str, Any]], at: float) -> None:
        noise = background_events(rng, at, 40, [ACCOUNT], ["us-east-1"], duration=60)
        objects.append(sorted([*records, *noise], key=lambda r: str(r["eventTime"])))

    t = start
    add([_signin(t + 1, "root-fail", _ROOT, "Failure", "203.0.113.9"),
         _signin(t + 20, "root-ok", _ROOT, "Success", "203.0.113.9")], t)
    add([_signin(t + 60 + i, f"bob-{i}", {**_user("bob"), "arn": ""}, "Failure", "203.0.113.10") for i in range(3)],
        t + 60)
    add([_signin(t + 70 + i, f"bob-{3 + i}", {**_user("bob"), "arn": ""}, "Failure", "203.0.113.10")
         for i in range(4)], t + 70)
    for part in range(2):  # a password spray: six users from one address, three per object
        add([_signin(t + 100 + part * 10 + i, f"spray-{part}-{i}", {**_user(f"user{part}{i}"), "arn": ""}, "Failure",
                     "203.0.113.11") for i in range(3)], t + 100 + part * 10)
    for part in range(2):  # root calls from one address: one episode across two objects
        add([_event(t + 200 + part * 30 + i, "ListBuckets", "s3.amazonaws.com", _ROOT, f"rootcall-{part}-{i}",
                    ip="203.0.113.12") for i in range(2 + part)], t + 200 + part * 30)
    for part in range(2):  # access denied: 24 refusals of one principal over two objects
        add([_event(t + 300 + part * 20 + i, "GetSecretValue", "secretsmanager.amazonaws.com", _user("mallory"),
                    f"denied-{part}-{i}", errorCode="AccessDenied", errorMessage="denied") for i in range(12)],
            t + 300 + part * 20)
    add([_event(t + 400, "CreateAccessKey", "iam.amazonaws.com", _user("alice"), "key",
                requestParameters={"userName": "ops-backup"},
                responseElements={"accessKey": {"accessKeyId": "AKIAEXAMPLEKEY000001", "status": "Active",
                                                "userName": "ops-backup"}})], t + 400)
    objects.append(list(objects[7]))  # object 7 delivered a second time: every event a duplicate
    add([], t + 500)
    add([_event(t + 3 * 3600, "DescribeRegions", "ec2.amazonaws.com", _user("alice"), "late", readOnly=True)],
        t + 3 * 3600)  # far later in event time: every episode above ends and sends its final count
    return [(f"{index:03d}_CloudTrail_us-east-1_{index:03d}.json.gz", records) for index, records in enumerate(objects)]


# --- the receiver and the service ---------------------------------------------------------------------------

@dataclass
class Receiver:
    """A webhook endpoint that keeps every delivery: (delivery id, alert id, kind, count, severity)."""

    deliveries: list[tuple[str, str, str, int, str]] = field(default_factory=list)
    detectors: dict[str, str] = field(default_factory=dict)  # alert id -> detector
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        alert = orjson.loads(await request.read())
        self.detectors[alert["id"]] = alert["detector"]
        self.deliveries.append((request.headers["X-Trailsentry-Delivery-Id"], alert["id"],
                                request.headers["X-Trailsentry-Kind"], alert["count"], alert["severity"]))
        return web.Response(status=200)


@contextlib.asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


def service_config(folder: Path, inbox: Path, extra_sources: list[dict[str, Any]] | None = None, *,
                   workers: int = 1) -> Path:
    config = {
        "sources": extra_sources or [{"kind": "directory", "name": "inbox", "path": str(inbox),
                                      "interval_seconds": 0.05, "settle_seconds": 0}],
        "checkpoint": {"path": str(folder / "state" / "trailsentry.sqlite")},
        "service": {"checkpoint_seconds": 3600, "drain_seconds": 5, "workers": workers},
        "sinks": [{"name": "hook", "type": "webhook", "url_env": "TRAILSENTRY_TEST_HOOK", "rate_per_second": 0,
                   "backoff_base_seconds": 0.05, "backoff_cap_seconds": 0.2}],
        "alerting": {"repeat_window": {"window_seconds": 0}},
        "metrics": {"enabled": False},
    }
    path = folder / "trailsentry.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def environment(receiver: Receiver, failpoints: str = "", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAILSENTRY_")}
    env.update({"TRAILSENTRY_TEST_HOOK": receiver.url, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_CONFIG_FILE": os.devnull, **extra})
    if failpoints:
        env["TRAILSENTRY_FAILPOINTS"] = failpoints
    return env


async def start(config: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    """A service process, once it has started (or died trying: a failpoint may kill it while it starts)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "--config", str(config), cwd=REPO, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    assert process.stderr is not None
    while line := await asyncio.wait_for(process.stderr.readline(), WAIT):
        if b"trailsentry running" in line:
            break
    return process


def _rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
        try:
            return db.execute(query).fetchall()
        except sqlite3.OperationalError:  # the tables are not there yet
            return []


def acked_files(state: Path) -> set[str]:
    return {str(row[0]) for row in _rows(state, "SELECT key FROM cursors")}


def undelivered(state: Path) -> int:
    outbox = state.with_name("trailsentry.outbox.sqlite")
    rows = _rows(outbox, "SELECT COUNT(*) FROM outbox_deliveries WHERE state = 'pending'")
    return int(rows[0][0]) if rows else 0


def recorded_alerts(state: Path) -> dict[str, dict[str, Any]]:
    outbox = state.with_name("trailsentry.outbox.sqlite")
    found = {}
    for alert_id, body in _rows(outbox, "SELECT id, body FROM outbox_alerts"):
        alert = orjson.loads(body)
        found[str(alert_id)] = {key: alert[key] for key in ("detector", "severity", "count", "event_time",
                                                            "last_event_time", "event_ids", "context")}
    return found


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    _, stderr = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode in (0, -signal.SIGKILL), stderr.decode(errors="replace")[-2000:]


# --- the runs --------------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    alerts: dict[str, dict[str, Any]]
    deliveries: list[tuple[str, str, str, int, str]]
    kills: dict[str, int]


def _emissions(deliveries: list[tuple[str, str, str, int, str]]) -> dict[tuple[str, int, str], set[str]]:
    """Each alert emission (alert id, count, severity) with the delivery ids that carried it."""
    found: dict[tuple[str, int, str], set[str]] = {}
    for delivery_id, alert_id, _, count, severity in deliveries:
        found.setdefault((alert_id, count, severity), set()).add(delivery_id)
    return found


class Feeder:
    """Lands the objects one by one, each once every earlier one is acknowledged: a steady stream, so every
    object is its own commit and a kill can fall between any two of them."""

    def __init__(self, state: Path, objects: list[tuple[str, list[dict[str, Any]]]], chunk: int = 1) -> None:
        self.state = state
        self.pending = list(objects)
        self.landed = 0
        self.chunk = chunk  # objects landed together: with more than one, a commit holds several batches

    async def land(self, name: str, data: bytes) -> None:
        raise NotImplementedError

    async def outstanding(self) -> int:
        """Landed objects not acknowledged yet."""
        raise NotImplementedError

    async def progress(self) -> int:
        return self.landed - await self.outstanding()

    async def done(self) -> bool:
        outstanding = await self.outstanding()
        if self.pending and not outstanding:
            for _ in range(min(self.chunk, len(self.pending))):
                name, records = self.pending.pop(0)
                await self.land(name, encode_records(records))
                self.landed += 1
            return False
        return not self.pending and not outstanding and undelivered(self.state) == 0


class FolderFeeder(Feeder):
    def __init__(self, inbox: Path, state: Path, objects: list[tuple[str, list[dict[str, Any]]]],
                 chunk: int = 1) -> None:
        super().__init__(state, objects, chunk)
        self.inbox = inbox

    async def land(self, name: str, data: bytes) -> None:
        staged = self.inbox / f".{name}.part"
        staged.write_bytes(data)
        staged.rename(self.inbox / name)  # moved in whole, as the settle rule asks

    async def outstanding(self) -> int:
        return self.landed - len(acked_files(self.state))


class QueueFeeder(Feeder):
    """Objects put in the trail's bucket, which announces each on the queue (bucket -> SNS -> SQS)."""

    def __init__(self, s3: Any, sqs: Any, trail: Trail, state: Path,
                 objects: list[tuple[str, list[dict[str, Any]]]]) -> None:
        super().__init__(state, objects)
        self.s3, self.sqs, self.trail = s3, sqs, trail

    async def land(self, name: str, data: bytes) -> None:
        key = f"AWSLogs/o-a1b2c3d4e5/{ACCOUNT}/CloudTrail/us-east-1/2026/01/01/{name}"
        await self.s3.put_object(Bucket=self.trail.bucket, Key=key, Body=data)

    async def outstanding(self) -> int:
        attributes = (await self.sqs.get_queue_attributes(
            QueueUrl=self.trail.queue_url, AttributeNames=["All"]))["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


async def crash_and_restart(config: Path, feeder: Feeder, receiver: Receiver, kills: int,
                            rng: random.Random, **env: str) -> dict[str, int]:
    """Runs the service until the feeder is done, killing it `kills` times on the way; kills per point."""
    killed: dict[str, int] = {}
    for attempt in range(kills):
        point = POINTS[attempt % len(POINTS)] if attempt < 2 * len(POINTS) else rng.choice([*POINTS, "outside"])
        if point == "outside":
            process = await start(config, environment(receiver, **env))
            target = await feeder.progress() + rng.randint(1, 3)

            async def far_enough(p: asyncio.subprocess.Process = process, t: int = target) -> bool:
                return await feeder.done() or await feeder.progress() >= t or p.returncode is not None

            await wait_until(far_enough, "progress to kill at", within=WAIT)
            if process.returncode is None:
                process.kill()
        else:
            process = await start(config, environment(receiver, f"{point}:{rng.randint(1, 3)}", **env))

            async def killed_or_done(p: asyncio.subprocess.Process = process) -> bool:
                return p.returncode is not None or await feeder.done()

            await wait_until(killed_or_done, "a kill or the end of the work", within=WAIT)
        await stop(process)
        if process.returncode == -signal.SIGKILL:
            killed[point] = killed.get(point, 0) + 1
        if await feeder.done():
            return killed
    process = await start(config, environment(receiver, **env))
    await wait_until(feeder.done, "the end of the work", within=WAIT)
    await stop(process)
    return killed


async def directory_run(folder: Path, objects: list[tuple[str, list[dict[str, Any]]]], kills: int,
                        rng: random.Random, *, chunk: int = 1, workers: int = 1) -> Outcome:
    inbox = folder / "inbox"
    inbox.mkdir(parents=True)
    config = service_config(folder, inbox, workers=workers)
    state = folder / "state" / "trailsentry.sqlite"
    async with receiving() as receiver:
        feeder = FolderFeeder(inbox, state, objects, chunk)
        killed = await crash_and_restart(config, feeder, receiver, kills, rng)
        return Outcome(recorded_alerts(state), list(receiver.deliveries), killed)


def _assert_same(reference: Outcome, crashed: Outcome, min_kills: int = KILLS // 2) -> None:
    # The workload is worth comparing: its detections span objects.
    detectors = {alert["detector"] for alert in reference.alerts.values()}
    assert {"root-console-login", "console-login-failure-burst", "console-password-spray", "root-activity",
            "access-denied-burst", "access-key-created"} <= detectors
    # It was killed at every point, many times.
    assert sum(crashed.kills.values()) >= min_kills, crashed.kills
    assert set(POINTS) <= set(crashed.kills), crashed.kills

    assert crashed.alerts == reference.alerts  # no detection lost, no episode split, same counts
    emissions = _emissions(crashed.deliveries)
    assert set(emissions) == set(_emissions(reference.deliveries))
    repeated = {emission: ids for emission, ids in emissions.items() if len(ids) > 1}
    assert repeated == {}  # no alert emission delivered twice


async def test_sigkill_at_every_point_of_a_directory_workload_loses_and_repeats_nothing(tmp_path: Path) -> None:
    objects = workload(time.time() - 3 * 3600 - 1800)  # recent: the clock closes no episode by itself
    reference = await directory_run(tmp_path / "reference", objects, kills=0, rng=random.Random(1))
    crashed = await directory_run(tmp_path / "crashed", objects, kills=KILLS, rng=random.Random(2))
    _assert_same(reference, crashed)


async def test_sigkill_with_groups_of_batches_and_worker_processes_loses_and_repeats_nothing(tmp_path: Path) -> None:
    # Objects land two at a time, so a commit holds several batches; two worker processes decode and detect.
    # Fewer commits, so fewer kills fit in the run: every point is still hit.
    objects = workload(time.time() - 3 * 3600 - 1800)
    reference = await directory_run(tmp_path / "reference", objects, kills=0, rng=random.Random(1), chunk=2,
                                    workers=2)
    crashed = await directory_run(tmp_path / "crashed", objects, kills=KILLS, rng=random.Random(6), chunk=2,
                                  workers=2)
    _assert_same(reference, crashed, min_kills=len(POINTS))


async def sqs_run(aws: Emulator, folder: Path, objects: list[tuple[str, list[dict[str, Any]]]], kills: int,
                  rng: random.Random) -> Outcome:
    from aiobotocore.session import get_session

    aws.reset()
    session = get_session()
    trail = await wire_trail(session, aws.endpoint_url, bucket="org-trail-bucket")
    state = folder / "state" / "trailsentry.sqlite"
    await asyncio.to_thread(folder.mkdir, parents=True)
    source = {"kind": "s3-sqs", "name": "org", "queue_url": trail.queue_url, "wait_seconds": 1,
              "visibility_timeout": 2, "retry_base_seconds": 1, "retry_max_seconds": 2,
              "aws": {"region": aws.region, "endpoint_url": aws.endpoint_url}}
    config = service_config(folder, folder, [source])
    client = {"region_name": aws.region, "endpoint_url": aws.endpoint_url}
    async with receiving() as receiver, session.create_client("s3", **client) as s3, \
            session.create_client("sqs", **client) as sqs:
        feeder = QueueFeeder(s3, sqs, trail, state, objects)
        killed = await crash_and_restart(config, feeder, receiver, kills, rng, **DUMMY_CREDENTIALS)
        return Outcome(recorded_alerts(state), list(receiver.deliveries), killed)


async def test_sigkill_at_every_point_of_an_s3_sqs_workload_loses_and_repeats_nothing(
        aws: Emulator, tmp_path: Path) -> None:
    objects = workload(time.time() - 3 * 3600 - 1800)
    reference = await sqs_run(aws, tmp_path / "reference", objects, kills=0, rng=random.Random(3))
    crashed = await sqs_run(aws, tmp_path / "crashed", objects, kills=KILLS, rng=random.Random(4))
    _assert_same(reference, crashed)
