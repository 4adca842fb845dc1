"""`trailsentry run` as a real process, and the App's lifecycle (restarts, drain, release) in-process."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml

from monitor.app import App
from monitor.config import parse_config
from monitor.demo.objects import encode_records
from monitor.demo.scenarios import root_console_login
from monitor.engine.state.embedded import saved_event_ids
from monitor.model import Alert
from monitor.sources.base import Batch, Emit, SourceStats
from tests.aws_emulator import Emulator
from tests.helpers import REPO, Keep, wait_until

WAIT = 60.0
NOW = 1_780_000_000.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TRAILSENTRY_CHECKPOINT_PATH"}
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    env["AWS_CONFIG_FILE"] = os.devnull
    return env


async def _run(config: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "--config", str(config), cwd=REPO, env=_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def _next_alert(process: asyncio.subprocess.Process, detector: str) -> dict[str, Any]:
    assert process.stdout is not None
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), WAIT)
        assert line, "the service stopped before alerting"
        alert: dict[str, Any] = orjson.loads(line)
        if alert["detector"] == detector:
            return alert


async def _metrics_url(process: asyncio.subprocess.Process) -> str:
    """The metrics server's address, from its start-up log line (port 0 in the config: any free port)."""
    assert process.stderr is not None
    while True:
        line = (await asyncio.wait_for(process.stderr.readline(), WAIT)).decode()
        assert line, "the service stopped before serving metrics"
        if "metrics and health endpoints on " in line:
            address = line.rsplit("metrics and health endpoints on ", 1)[1].strip()
            return "http://" + address


async def _stop(process: asyncio.subprocess.Process) -> tuple[bytes, bytes]:
    process.send_signal(signal.SIGTERM)
    stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT)
    return stdout, stderr


def _write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def _root_login(seed: int, account: str = "111122223333") -> list[dict[str, Any]]:
    return root_console_login(random.Random(seed), NOW, account)


async def test_run_alerts_stops_on_sigterm_and_resumes_without_repeating(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    state = tmp_path / "state" / "trailsentry.sqlite"
    config = _write_config(tmp_path / "trailsentry.yaml", {
        "sources": [{"kind": "directory", "name": "inbox", "path": str(inbox), "interval_seconds": 0.05,
                     "settle_seconds": 0}],
        "checkpoint": {"path": str(state)},
        "service": {"checkpoint_seconds": 3600},  # only the shutdown checkpoint persists the eventIDs
        "metrics": {"host": "127.0.0.1", "port": 0},
    })
    first = _root_login(1)
    (inbox / "first.json.gz").write_bytes(encode_records(first))
    process = await _run(config)
    alert = await _next_alert(process, "root-console-login")
    assert alert["event_ids"] == [first[0]["eventID"]]
    metrics_url = await _metrics_url(process)
    async with aiohttp.ClientSession() as http:
        async with http.get(metrics_url + "/healthz") as response:
            assert response.status == 200

        async def acknowledged() -> bool:
            # The alert is delivered once recorded; the batch counts as processed once its state is durable too.
            async with http.get(metrics_url + "/metrics") as response:
                return 'trailsentry_batches_processed_total{source="inbox"} 1.0' in await response.text()

        await wait_until(acknowledged, "the batch counted as processed")
    stdout, stderr = await _stop(process)
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
    with sqlite3.connect(state) as db:
        cursors = db.execute("SELECT source, key FROM cursors").fetchall()
        seen = set(saved_event_ids(db))
    assert cursors == [("inbox", "first.json.gz")]
    assert first[0]["eventID"] in seen
    assert (state.parent / "trailsentry.outbox.sqlite").exists()  # the durable outbox, beside the checkpoints

    # Restarted: the old event arrives again (another copy, another file) beside a new one.
    second = _root_login(2, "444455556666")  # another account: its own alert, not a repeat of the first
    (inbox / "redelivered.json.gz").write_bytes(encode_records([*first, *second]))
    process = await _run(config)
    alert = await _next_alert(process, "root-console-login")
    assert alert["event_ids"] == [second[0]["eventID"]]
    stdout, stderr = await _stop(process)
    assert process.returncode == 0, stderr.decode()
    later = [orjson.loads(line) for line in stdout.splitlines() if line.strip()]
    assert not any(first[0]["eventID"] in a["event_ids"] for a in later)


@pytest.fixture
def silent_endpoint() -> Iterator[tuple[str, socket.socket]]:
    """A listening socket standing in for AWS: the test checks that nobody connected."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", listener
    finally:
        listener.close()


async def test_config_errors_exit_2_with_every_path_before_any_aws_call(
        tmp_path: Path, silent_endpoint: tuple[str, socket.socket]) -> None:
    endpoint, listener = silent_endpoint
    aws = {"region": "us-east-1", "endpoint_url": endpoint}
    config = _write_config(tmp_path / "bad.yaml", {
        "sources": [
            {"kind": "s3-sqs", "queue_url": f"{endpoint}/123456789012/trail", "aws": aws},
            {"kind": "s3-sqs", "name": "second", "aws": aws},
            {"kind": "carrier-pigeon"},
        ],
        "service": {"queue_batches": 0, "drain_secs": 5},
        "checkpoint": {"path": str(tmp_path / "state.sqlite")},
    })
    process = await _run(config)
    stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 2
    text = stderr.decode()
    for expected in ("sources[1].queue_url: required", "sources[2].kind: unknown source kind 'carrier-pigeon'",
                     "service.queue_batches: must be >= 1", "service.drain_secs: unknown key"):
        assert expected in text, text
    assert stdout == b""
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing connected to the "AWS" endpoint
    assert not (tmp_path / "state.sqlite").exists()


async def test_a_missing_secret_exits_2_before_any_file_or_connection(
        tmp_path: Path, silent_endpoint: tuple[str, socket.socket]) -> None:
    endpoint, listener = silent_endpoint
    config = _write_config(tmp_path / "secretless.yaml", {
        "sources": [{"kind": "s3-sqs", "queue_url": f"{endpoint}/123456789012/trail",
                     "aws": {"region": "us-east-1", "endpoint_url": endpoint}}],
        "sinks": [{"name": "siem", "type": "webhook", "url_env": "TRAILSENTRY_TEST_UNSET_WEBHOOK_URL"}],
        "checkpoint": {"path": str(tmp_path / "state" / "trailsentry.sqlite")},
        "metrics": {"host": "127.0.0.1", "port": 0},
    })
    process = await _run(config)
    _, stderr = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 2
    assert b"config error: sinks[0].url_env: environment variable TRAILSENTRY_TEST_UNSET_WEBHOOK_URL" in stderr
    assert not (tmp_path / "state").exists()
    with pytest.raises(BlockingIOError):
        listener.accept()


async def test_run_needs_at_least_one_source(tmp_path: Path) -> None:
    config = _write_config(tmp_path / "scan-only.yaml", {"engine": {"lateness_seconds": 60}})
    process = await _run(config)
    _, stderr = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 2
    assert b"sources: at least one source is required" in stderr


# -- in-process: the lifecycle with upstream stand-ins --------------------------------------------


class FlakySource:
    """Crashes on its first run (an upstream bug), emits one batch on the next, then runs until cancelled."""

    kind = "flaky"

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self.stats = SourceStats()
        self.data = data
        self.runs = 0
        self.acked = asyncio.Event()
        self.closed = False

    async def run(self, emit: Emit) -> None:
        self.runs += 1
        if self.runs == 1:
            raise ConnectionResetError("upstream went away")
        await emit(Batch(source=self.name, origin="flaky://one", data=self.data, ack=self._ack))
        await asyncio.Event().wait()

    async def _ack(self) -> None:
        self.acked.set()

    async def close(self) -> None:
        self.closed = True

    def ready(self) -> bool:
        return self.runs > 1


class BurstSource:
    """Emits `count` batches as fast as the pipeline takes them; remembers acks and releases."""

    kind = "burst"

    def __init__(self, name: str, payloads: list[bytes]) -> None:
        self.name = name
        self.stats = SourceStats()
        self.payloads = payloads
        self.acked: list[str] = []
        self.released: list[tuple[str, str]] = []

    async def run(self, emit: Emit) -> None:
        for index, data in enumerate(self.payloads):
            origin = f"burst://{index}"

            async def ack(origin: str = origin) -> None:
                self.acked.append(origin)

            async def release(reason: str, origin: str = origin) -> None:
                self.released.append((origin, reason))

            await emit(Batch(source=self.name, origin=origin, data=data, ack=ack, release=release))
        await asyncio.Event().wait()

    async def close(self) -> None:
        return None

    def ready(self) -> bool:
        return True


class FirstCallBlocks:
    """A recorder whose first call never returns (a stuck outbox); later calls record."""

    def __init__(self) -> None:
        self.calls = 0
        self.entered = asyncio.Event()
        self.recorded: list[Alert] = []

    async def record(self, alerts: list[Alert]) -> None:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            await asyncio.Event().wait()
        self.recorded.extend(alerts)


def _config(**service: Any) -> Any:
    return parse_config({"service": {"checkpoint_seconds": 3600, **service}})


async def test_a_crashed_source_is_restarted_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = FlakySource("flaky", encode_records(_root_login(3)))
    recorder = Keep()
    app = App(_config(restart_seconds=1), recorder=recorder, sources=[source],
              checkpoint_path=tmp_path / "state.sqlite")
    running = asyncio.create_task(app.run(handle_signals=False))
    await asyncio.wait_for(source.acked.wait(), WAIT)
    assert app.pipeline is not None
    assert app.pipeline.stats.source("flaky").restarts == 1
    assert app.ready()
    app.request_stop("test")
    assert await asyncio.wait_for(running, WAIT) == 0
    assert source.runs == 2 and source.closed
    assert "root-console-login" in {a.detector for a in recorder.recorded}
    assert any("source flaky (flaky) crashed: ConnectionResetError" in r.getMessage() for r in caplog.records)


async def test_shutdown_past_the_drain_deadline_releases_the_rest_and_records_what_was_detected(
        tmp_path: Path) -> None:
    payloads = [encode_records(_root_login(10 + i)) for i in range(4)]
    source = BurstSource("burst", payloads)
    recorder = FirstCallBlocks()
    app = App(_config(queue_batches=2, drain_seconds=0), recorder=recorder, sources=[source],
              checkpoint_path=tmp_path / "state.sqlite")
    running = asyncio.create_task(app.run(handle_signals=False))
    await asyncio.wait_for(recorder.entered.wait(), WAIT)  # batch 0 is stuck in record()
    app.request_stop("test")
    assert await asyncio.wait_for(running, WAIT) == 0
    # The batches applied before the stop (batch 0 and whatever joined its group) were committed by the final
    # checkpoint, alerts then state, then acknowledged; the ones still queued were released. None is both.
    acked = set(source.acked)
    released = dict(source.released)
    assert "burst://0" in acked and not acked & set(released)
    assert all(reason == "shutdown" for reason in released.values())
    detected = {a.event_ids[0] for a in recorder.recorded if a.detector == "root-console-login"}
    assert detected == {_root_login(10 + int(origin[-1]))[0]["eventID"] for origin in acked}
    # The acknowledged batches' eventIDs are durable; those of the released batches are not.
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        seen = set(saved_event_ids(db))
    assert seen == detected


async def test_a_second_stop_request_cuts_the_drain_short(tmp_path: Path) -> None:
    source = BurstSource("burst", [encode_records(_root_login(20 + i)) for i in range(3)])
    recorder = FirstCallBlocks()
    app = App(_config(drain_seconds=3600), recorder=recorder, sources=[source],
              checkpoint_path=tmp_path / "state.sqlite")
    running = asyncio.create_task(app.run(handle_signals=False))
    await asyncio.wait_for(recorder.entered.wait(), WAIT)
    app.request_stop("first")
    for _ in range(20):
        await asyncio.sleep(0)
    assert not running.done()  # draining: it would wait up to an hour for the stuck recorder
    app.request_stop("second")
    assert await asyncio.wait_for(running, WAIT) == 0
    assert "burst://0" in source.acked  # committed by the final checkpoint once the drain was cut short


async def test_run_with_an_s3_sqs_source_against_the_emulator(aws: Emulator, tmp_path: Path) -> None:
    from aiobotocore.session import get_session

    from monitor.demo.emulator import wire_trail
    from monitor.demo.objects import cloudtrail_object_key

    session = get_session()
    trail = await wire_trail(session, aws.endpoint_url, bucket="org-trail-bucket")
    config = parse_config({"sources": [{"kind": "s3-sqs", "name": "org", "queue_url": trail.queue_url,
                                        "wait_seconds": 1,
                                        "aws": {"region": aws.region, "endpoint_url": aws.endpoint_url}}],
                           "service": {"checkpoint_seconds": 3600}})
    recorder = Keep()
    app = App(config, recorder=recorder, checkpoint_path=tmp_path / "state.sqlite")
    running = asyncio.create_task(app.run(handle_signals=False))
    events = _root_login(30)
    key = cloudtrail_object_key("111122223333", "us-east-1", NOW, random.Random(1), "o-a1b2c3d4e5")
    async with session.create_client("s3", region_name=aws.region, endpoint_url=aws.endpoint_url) as s3:
        await s3.put_object(Bucket=trail.bucket, Key=key, Body=encode_records(events))
    await recorder.wait_for("root-console-login")
    app.request_stop("test")
    assert await asyncio.wait_for(running, WAIT) == 0
    alert = next(a for a in recorder.recorded if a.detector == "root-console-login")
    assert alert.event_ids == [events[0]["eventID"]]
    async with session.create_client("sqs", region_name=aws.region, endpoint_url=aws.endpoint_url) as sqs:
        attributes = (await sqs.get_queue_attributes(QueueUrl=trail.queue_url, AttributeNames=["All"]))["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"  # deleted after the alert was recorded


async def _run_until_alert(config: dict[str, Any], tmp_path: Path, detector: str) -> Alert:
    recorder = Keep()
    app = App(parse_config({**config, "service": {"checkpoint_seconds": 3600}}), recorder=recorder,
              checkpoint_path=tmp_path / "state.sqlite")
    running = asyncio.create_task(app.run(handle_signals=False))
    try:
        await recorder.wait_for(detector)
    finally:
        app.request_stop("test")
        assert await asyncio.wait_for(running, WAIT) == 0
    return next(a for a in recorder.recorded if a.detector == detector)


async def test_run_with_an_s3_poll_source_against_the_emulator(aws: Emulator, tmp_path: Path) -> None:
    from aiobotocore.session import get_session

    from monitor.demo.objects import cloudtrail_object_key

    events = _root_login(31)
    key = cloudtrail_object_key("111122223333", "eu-west-1", time.time() - 120, random.Random(2), "o-a1b2c3d4e5")
    session = get_session()
    async with session.create_client("s3", region_name=aws.region, endpoint_url=aws.endpoint_url) as s3:
        await s3.create_bucket(Bucket="org-trail-bucket")
        await s3.put_object(Bucket="org-trail-bucket", Key=key, Body=encode_records(events))
    config = {"sources": [{"kind": "s3-poll", "bucket": "org-trail-bucket", "interval_seconds": 1,
                           "aws": {"region": aws.region, "endpoint_url": aws.endpoint_url}}]}
    alert = await _run_until_alert(config, tmp_path, "root-console-login")
    assert alert.event_ids == [events[0]["eventID"]]


async def _deliver_to_log_group(aws: Emulator, group: str, events: list[dict[str, Any]]) -> None:
    """What CloudTrail's CloudWatch Logs delivery does: one log event per CloudTrail event."""
    from aiobotocore.session import get_session

    async with get_session().create_client("logs", region_name=aws.region, endpoint_url=aws.endpoint_url) as logs:
        await logs.create_log_group(logGroupName=group)
        await logs.create_log_stream(logGroupName=group, logStreamName="111122223333_CloudTrail")
        await logs.put_log_events(logGroupName=group, logStreamName="111122223333_CloudTrail",
                                  logEvents=[{"timestamp": int((time.time() - 30) * 1000),
                                              "message": orjson.dumps(e).decode()} for e in events])


async def test_run_with_a_cloudwatch_logs_source_against_the_emulator(aws: Emulator, tmp_path: Path) -> None:
    events = _root_login(32)
    await _deliver_to_log_group(aws, "aws-cloudtrail-logs", events)
    config = {"sources": [{"kind": "cloudwatch-logs", "log_groups": ["aws-cloudtrail-logs"],
                           "interval_seconds": 0.2, "settle_seconds": 0,
                           "aws": {"region": aws.region, "endpoint_url": aws.endpoint_url}}]}
    alert = await _run_until_alert(config, tmp_path, "root-console-login")
    assert alert.event_ids == [events[0]["eventID"]]


async def test_run_with_a_live_tail_source_against_the_emulator(aws: Emulator, tmp_path: Path) -> None:
    events = _root_login(33)
    await _deliver_to_log_group(aws, "aws-cloudtrail-live", events)
    config = {"sources": [{"kind": "cloudwatch-live-tail", "log_groups": ["aws-cloudtrail-live"],
                           "interval_seconds": 0.2, "settle_seconds": 0,
                           "aws": {"region": aws.region, "endpoint_url": aws.endpoint_url}}]}
    alert = await _run_until_alert(config, tmp_path, "root-console-login")
    assert alert.event_ids == [events[0]["eventID"]]


async def _stderr_until(process: asyncio.subprocess.Process, patterns: list[str]) -> list[str]:
    """Read the service's log lines until each pattern has matched one; return the lines read."""
    assert process.stderr is not None
    lines: list[str] = []
    missing = list(patterns)
    while missing:
        line = (await asyncio.wait_for(process.stderr.readline(), WAIT)).decode()
        assert line, f"the service stopped before logging {missing}: {lines}"
        lines.append(line)
        missing = [pattern for pattern in missing if not re.search(pattern, line)]
    return lines


async def test_run_logs_live_tail_sessions_and_reconnects_without_verbose(aws: Emulator, tmp_path: Path) -> None:
    await _deliver_to_log_group(aws, "aws-cloudtrail-sessions", _root_login(34))
    config = _write_config(tmp_path / "trailsentry.yaml", {
        "sources": [{"kind": "cloudwatch-live-tail", "name": "tail", "log_groups": ["aws-cloudtrail-sessions"],
                     "aws": {"region": aws.region, "endpoint_url": aws.endpoint_url}}],
        "checkpoint": {"path": str(tmp_path / "state.sqlite")},
        "metrics": {"enabled": False},
    })
    process = await _run(config)  # no -v
    try:
        # moto replays a session as one snapshot and closes it: the source logs the end and reconnects.
        lines = await _stderr_until(process, [
            r"INFO trailsentry\.sources\.live_tail: source tail: Live Tail session \S+ started",
            r"INFO trailsentry\.sources\.live_tail: source tail: Live Tail session \S+ ended \(closed\) after \d+ s; "
            r"reconnecting in \d",
        ])
    finally:
        _, stderr = await _stop(process)
    assert process.returncode == 0, stderr.decode()
    assert len(lines) >= 2

