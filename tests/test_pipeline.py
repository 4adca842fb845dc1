"""The pipeline with real bytes, the real decoder and engine, and an upstream stand-in source.

`ScriptedSource` implements the Source protocol the way a real source does
(emit batches of bytes, act on ack/release); it is the upstream, not a mock of
trailsentry's code. Recorders are small real implementations of the
AlertRecorder contract that can block or fail on demand.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from monitor.checkpoint import CheckpointStore
from monitor.demo.objects import encode_records
from monitor.demo.scenarios import console_login_failure_burst, root_console_login
from monitor.engine import Engine, EngineSettings
from monitor.engine.detect import Detection
from monitor.engine.state.embedded import EmbeddedStore
from monitor.engine.state.memory import MemoryStore
from monitor.metrics.collector import Telemetry
from monitor.model import Alert, Detector, Event, Hit, Severity, keys
from monitor.pipeline import QUARANTINE_DETECTOR, Pipeline
from monitor.rules.builtin import builtin_detectors
from monitor.sources.base import Batch, Emit, SourceStats
from monitor.workers import DetectionPool
from tests.helpers import cloudtrail_event as cloudtrail_record
from tests.helpers import wait_until

ACCOUNT = "111122223333"
NOW = 1_780_000_000.0
WAIT = 30.0  # generous: a failing test reports instead of hanging


class ScriptedSource:
    """Emits the given payloads once, then waits to be cancelled; remembers every ack and release."""

    kind = "scripted"

    def __init__(self, name: str, payloads: list[tuple[str, bytes]]) -> None:
        self.name = name
        self.stats = SourceStats()
        self.payloads = payloads
        self.acked: list[str] = []
        self.released: list[tuple[str, str]] = []
        self.attempted = 0  # emit calls started
        self.emitted = 0  # emit calls returned
        self.settled = asyncio.Condition()
        self.about_to_emit = asyncio.Event()
        self.on_ack: Callable[[str], None] = lambda origin: None

    async def run(self, emit: Emit) -> None:
        for origin, data in self.payloads:
            self.attempted += 1
            self.about_to_emit.set()
            await emit(Batch(source=self.name, origin=origin, data=data, ack=self._acker(origin),
                             release=self._releaser(origin), landed_at=NOW - 5))
            self.emitted += 1
        await asyncio.Event().wait()  # a live source runs until cancelled

    def _acker(self, origin: str) -> Callable[[], asyncio.Future[None]]:
        async def ack() -> None:
            self.on_ack(origin)
            self.acked.append(origin)
            async with self.settled:
                self.settled.notify_all()
        return ack  # type: ignore[return-value]

    def _releaser(self, origin: str) -> Callable[[str], asyncio.Future[None]]:
        async def release(reason: str) -> None:
            self.released.append((origin, reason))
            async with self.settled:
                self.settled.notify_all()
        return release  # type: ignore[return-value]

    async def wait_settled(self, count: int) -> None:
        async with self.settled:
            await asyncio.wait_for(self.settled.wait_for(lambda: len(self.acked) + len(self.released) >= count), WAIT)

    async def close(self) -> None:
        return None

    def ready(self) -> bool:
        return True


class ListRecorder:
    """Keeps what it records; can be told to fail the next calls or to block until released."""

    def __init__(self) -> None:
        self.calls: list[list[Alert]] = []
        self.fail_next = 0
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.log: list[str] = []

    async def record(self, alerts: list[Alert]) -> None:
        self.entered.set()
        self.log.append("record-start")
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next:
            self.fail_next -= 1
            self.log.append("record-failed")
            raise OSError("outbox disk full")
        self.calls.append(list(alerts))
        self.log.append("record-done")

    @property
    def alerts(self) -> list[Alert]:
        return [alert for call in self.calls for alert in call]

    def detectors(self) -> list[str]:
        return [alert.detector for alert in self.alerts]


def engine(state: Path | None = None) -> Engine:
    store = EmbeddedStore(state, EngineSettings().dedupe_capacity) if state is not None else None
    return Engine(builtin_detectors(), EngineSettings(), store=store)


def root_login_bytes(seed: int = 1) -> bytes:
    return encode_records(root_console_login(random.Random(seed), NOW - 60, ACCOUNT))


def make_pipeline(recorder: ListRecorder, state: Path | None = None, *, queue_batches: int = 16,
                  clock: Callable[[], float] = lambda: NOW, telemetry: Telemetry | None = None) -> Pipeline:
    """A pipeline over the built-in catalog; with `state`, its cursors and engine state live in that file."""
    cursors = CheckpointStore(state if state is not None else ":memory:")
    return Pipeline(engine(state), recorder, cursors, queue_batches=queue_batches, clock=clock,
                    observe_batch=telemetry.observe_batch if telemetry is not None else None)


def close(pipeline: Pipeline) -> None:
    pipeline.checkpoints.close()
    close_state = getattr(pipeline.engine.store, "close", None)
    if close_state is not None:
        close_state()


class Running:
    """The pipeline's consumer and a source's run task, cancelled and closed at the end."""

    def __init__(self, pipeline: Pipeline, source: ScriptedSource) -> None:
        self.pipeline = pipeline
        self.source = source

    async def __aenter__(self) -> Running:
        self.consumer = asyncio.create_task(self.pipeline.run())
        self.producer = asyncio.create_task(self.source.run(self.pipeline.emit))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in (self.producer, self.consumer):
            task.cancel()
        await asyncio.gather(self.producer, self.consumer, return_exceptions=True)
        self.pipeline.close()


async def test_ack_happens_only_after_the_alerts_are_recorded() -> None:
    recorder = ListRecorder()
    recorder.gate = asyncio.Event()
    source = ScriptedSource("s", [("s3://trail/root.json.gz", root_login_bytes())])
    source.on_ack = lambda origin: recorder.log.append("ack")
    pipeline = make_pipeline(recorder)
    async with Running(pipeline, source):
        await asyncio.wait_for(recorder.entered.wait(), WAIT)
        for _ in range(50):  # give a premature ack every chance to happen
            await asyncio.sleep(0)
        assert source.acked == []
        recorder.gate.set()
        await source.wait_settled(1)
    assert recorder.log == ["record-start", "record-done", "ack"]
    assert source.acked == ["s3://trail/root.json.gz"] and source.released == []
    assert "root-console-login" in recorder.detectors()
    counters = pipeline.stats.source("s")
    assert (counters.batches, counters.events, counters.batches_failed) == (1, 1, 0)
    assert counters.bytes == len(root_login_bytes())
    assert counters.newest_event_time == NOW - 60


async def test_a_failing_recorder_releases_the_batch_and_undoes_what_it_changed() -> None:
    recorder = ListRecorder()
    recorder.fail_next = 1
    first, second = root_login_bytes(1), root_login_bytes(2)
    source = ScriptedSource("s", [("s3://trail/a.json.gz", first)])
    pipeline = make_pipeline(recorder)
    async with Running(pipeline, source):
        await source.wait_settled(1)
        assert source.released == [("s3://trail/a.json.gz", "commit failed: OSError")]
        assert pipeline.pending_alerts == 0
        # The source redelivers the released batch; another one flows too.
        for origin, data in (("s3://trail/a.json.gz", first), ("s3://trail/b.json.gz", second)):
            await pipeline.emit(Batch(source="s", origin=origin, data=data, ack=source._acker(origin),
                                      release=source._releaser(origin)))
        await source.wait_settled(3)
    assert source.acked == ["s3://trail/a.json.gz", "s3://trail/b.json.gz"]
    counters = pipeline.stats.source("s")
    assert counters.batches_failed == 1 and counters.batches == 2
    assert pipeline.stats.record_failures == 1 and pipeline.stats.commit_failures == 1
    # The failed commit undid the batch, eventIDs included: its redelivery is not a duplicate and alerts.
    alerts = [a for a in recorder.alerts if a.detector == "root-console-login"]
    assert len(alerts) == 2 and len({a.id for a in alerts}) == 2
    assert {a.event_ids[0] for a in alerts} == {
        e["eventID"] for data in (first, second) for e in _records(data)}
    assert counters.duplicates == 0


async def test_input_problems_are_logged_counted_and_acknowledged(caplog: pytest.LogCaptureFixture) -> None:
    events = root_console_login(random.Random(3), NOW - 60, ACCOUNT)
    broken = dict(events[0], eventID="broken-time", eventTime="redacted")
    many_bad = b"\n".join([b"{not json"] * 12)
    source = ScriptedSource("s", [("s3://trail/garbage.json", b"{not json at all"),
                                  ("s3://trail/lines.jsonl", many_bad),
                                  ("s3://trail/mixed.json.gz", encode_records([broken, *events]))])
    recorder = ListRecorder()
    pipeline = make_pipeline(recorder)
    with caplog.at_level(logging.WARNING, logger="trailsentry.pipeline"):
        async with Running(pipeline, source):
            await source.wait_settled(3)
    assert source.released == []
    assert len(source.acked) == 3
    counters = pipeline.stats.source("s")
    assert counters.issues["invalid_json"] == 13
    assert counters.issues["bad_event_time"] == 1
    assert counters.batches_failed == 0
    assert "root-console-login" in recorder.detectors()  # the good event of the mixed file still counts
    messages = [r.getMessage() for r in caplog.records]
    assert any("s3://trail/garbage.json" in m for m in messages)
    assert any("s3://trail/mixed.json.gz record 0" in m and "redacted" in m for m in messages)
    # A batch with many problems gets a few lines and a count, not one line each.
    lines_file = [m for m in messages if "s3://trail/lines.jsonl" in m]
    assert len(lines_file) == 6 and "7 more problems" in lines_file[-1]


async def test_a_fast_source_is_held_back_by_a_blocked_recorder() -> None:
    bound = 2
    payloads = [(f"s3://trail/{i}.json.gz", root_login_bytes(i)) for i in range(40)]
    source = ScriptedSource("fast", payloads)
    recorder = ListRecorder()
    recorder.gate = asyncio.Event()
    pipeline = make_pipeline(recorder, queue_batches=bound)
    deepest = 0

    async with Running(pipeline, source):
        await asyncio.wait_for(recorder.entered.wait(), WAIT)  # the consumer is stuck committing its group
        # The source gets through `bound` more emits than the consumer took, then blocks in the next one.
        for _ in range(200):
            await asyncio.sleep(0)
            deepest = max(deepest, pipeline.stats.queue_depth)
        assert source.emitted <= pipeline.group_batches + bound
        assert source.attempted == source.emitted + 1  # blocked inside emit()
        assert pipeline.stats.queue_depth == bound
        assert pipeline.stats.source("fast").queued == bound
        assert source.acked == []
        recorder.gate.set()
        while len(source.acked) < len(payloads):
            deepest = max(deepest, pipeline.stats.queue_depth)
            await source.wait_settled(len(source.acked) + 1)
    assert deepest <= bound
    assert source.emitted == len(payloads)
    assert pipeline.stats.source("fast").batches == len(payloads)
    assert pipeline.stats.queue_depth == 0


async def test_the_same_event_in_two_batches_alerts_once() -> None:
    data = root_login_bytes(5)
    source = ScriptedSource("s", [("s3://trail/one.json.gz", data), ("logs://group/stream", data)])
    recorder = ListRecorder()
    pipeline = make_pipeline(recorder)
    async with Running(pipeline, source):
        await source.wait_settled(2)
    assert recorder.detectors().count("root-console-login") == 1
    assert pipeline.stats.source("s").duplicates == 1
    assert source.acked == ["s3://trail/one.json.gz", "logs://group/stream"]


async def test_a_restart_restores_the_event_memory_and_does_not_alert_again(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    data = root_login_bytes(6)
    first_recorder = ListRecorder()
    pipeline = make_pipeline(first_recorder, path)
    source = ScriptedSource("s", [("s3://trail/x.json.gz", data)])
    async with Running(pipeline, source):
        await source.wait_settled(1)  # acknowledged: everything it changed is durable already
    close(pipeline)
    assert "root-console-login" in first_recorder.detectors()

    second_recorder = ListRecorder()
    restarted = make_pipeline(second_recorder, path)
    values, event_ids = restarted.restore_state()
    assert event_ids >= 1 and values >= 1
    redelivered = ScriptedSource("s", [("s3://trail/x.json.gz", data)])
    async with Running(restarted, redelivered):
        await redelivered.wait_settled(1)
    assert redelivered.acked == ["s3://trail/x.json.gz"]
    assert second_recorder.alerts == []
    assert restarted.stats.source("s").duplicates == 1
    close(restarted)


async def test_nothing_is_persisted_while_the_alerts_behind_it_are_unrecorded(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    data = root_login_bytes(7)
    recorder = ListRecorder()
    recorder.fail_next = 10  # the recorder stays down until shutdown
    pipeline = make_pipeline(recorder, path)
    source = ScriptedSource("s", [("s3://trail/y.json.gz", data)])
    async with Running(pipeline, source):
        await source.wait_settled(1)
        assert source.released and pipeline.pending_alerts == 0
        await pipeline.checkpoint(final=True)
    close(pipeline)

    # After the restart the redelivered batch is processed again and its alert is recorded.
    recorder = ListRecorder()
    restarted = make_pipeline(recorder, path)
    assert restarted.restore_state()[1] == 0
    redelivered = ScriptedSource("s", [("s3://trail/y.json.gz", data)])
    async with Running(restarted, redelivered):
        await redelivered.wait_settled(1)
    assert "root-console-login" in recorder.detectors()
    close(restarted)


async def test_a_quiet_stream_still_closes_its_episodes() -> None:
    # Five failures open the burst episode; two more join it; nothing else arrives.
    events = console_login_failure_burst(random.Random(8), NOW - 900, ACCOUNT, failures=7)
    now = [NOW]
    recorder = ListRecorder()
    pipeline = make_pipeline(recorder, clock=lambda: now[0])
    source = ScriptedSource("s", [("s3://trail/burst.json.gz", encode_records(events))])
    async with Running(pipeline, source):
        await source.wait_settled(1)
        opened = [a for a in recorder.alerts if a.detector == "console-login-failure-burst"]
        assert len(opened) == 1
        await pipeline.checkpoint()  # nothing is due yet
        assert len(recorder.alerts) == len([a for a in recorder.alerts if a.id != opened[0].id]) + 1
        now[0] = NOW + 6 * 3600  # hours of silence: the episode ends by wall clock
        await pipeline.checkpoint()
    updates = [a for a in recorder.alerts if a.id == opened[0].id]
    assert len(updates) == 2
    assert updates[-1].count == 7 > updates[0].count


async def test_newest_event_time_is_kept_per_source() -> None:
    newer = encode_records(root_console_login(random.Random(11), NOW - 60, ACCOUNT))
    older = encode_records(root_console_login(random.Random(12), NOW - 7200, ACCOUNT))
    recorder = ListRecorder()
    pipeline = make_pipeline(recorder)
    fresh = ScriptedSource("fresh", [("s3://a/new.json.gz", newer)])
    async with Running(pipeline, fresh):
        await fresh.wait_settled(1)
        await pipeline.emit(Batch(source="late", origin="s3://b/old.json.gz", data=older))
        await pipeline.join()
    assert pipeline.stats.source("fresh").newest_event_time == NOW - 60
    # Older than what the engine has seen: still its own newest time, not the engine's watermark.
    assert pipeline.stats.source("late").newest_event_time == NOW - 7200


async def test_each_batch_feeds_the_lag_histograms() -> None:
    telemetry = Telemetry(process_metrics=False)
    source = ScriptedSource("lagged", [("s3://trail/lag.json.gz", root_login_bytes(9))])
    pipeline = make_pipeline(ListRecorder(), telemetry=telemetry)
    async with Running(pipeline, source):
        await source.wait_settled(1)
    text = telemetry.exposition().decode()
    # landed 5 s before "now", newest event 60 s before: one observation each, in the right bucket.
    assert 'trailsentry_delivery_lag_seconds_bucket{le="5.0",source="lagged"} 1.0' in text
    assert 'trailsentry_delivery_lag_seconds_bucket{le="1.0",source="lagged"} 0.0' in text
    assert 'trailsentry_ingest_lag_seconds_bucket{le="60.0",source="lagged"} 1.0' in text
    assert 'trailsentry_ingest_lag_seconds_bucket{le="30.0",source="lagged"} 0.0' in text


def _records(data: bytes) -> list[dict[str, str]]:
    import gzip

    import orjson

    records: list[dict[str, str]] = orjson.loads(gzip.decompress(data))["Records"]
    return records


async def test_a_burst_spanning_a_restart_still_fires(tmp_path: Path) -> None:
    # Seven failed sign-ins: three before a clean shutdown, four after the restart.
    events = console_login_failure_burst(random.Random(21), NOW - 600, ACCOUNT, failures=7)
    failures = [e for e in events if e["eventName"] == "ConsoleLogin"]
    path = tmp_path / "state.sqlite"
    first_recorder = ListRecorder()
    first = make_pipeline(first_recorder, path)
    before = ScriptedSource("s", [("s3://trail/a.json.gz", encode_records(failures[:3]))])
    async with Running(first, before):
        await before.wait_settled(1)
    close(first)
    assert "console-login-failure-burst" not in first_recorder.detectors()

    recorder = ListRecorder()
    second = make_pipeline(recorder, path)
    second.restore_state()
    after = ScriptedSource("s", [("s3://trail/b.json.gz", encode_records(failures[3:]))])
    async with Running(second, after):
        await after.wait_settled(1)
    [burst] = [a for a in recorder.alerts if a.detector == "console-login-failure-burst"]
    assert burst.count == 5  # three from before the restart, two after that reached the threshold
    close(second)


def _person_call(seconds_ago: float, source_ip: str, seed: int) -> dict[str, object]:
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(NOW - seconds_ago, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"eventVersion": "1.09", "eventID": f"history-{seed}", "eventTime": when,
            "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances", "awsRegion": "eu-west-1",
            "sourceIPAddress": source_ip, "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/5.10 exe/x86_64",
            "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLEALICE0000", "accountId": ACCOUNT,
                             "arn": f"arn:aws:iam::{ACCOUNT}:user/alice", "userName": "alice"},
            "recipientAccountId": ACCOUNT, "eventType": "AwsApiCall", "readOnly": True}


async def test_first_seen_history_survives_a_restart(tmp_path: Path) -> None:
    day = 86400.0
    learned = [_person_call(day * (10 - d), "203.0.113.10", d) for d in range(9)]  # nine days, one network
    path = tmp_path / "state.sqlite"
    first = make_pipeline(ListRecorder(), path)
    source = ScriptedSource("s", [("s3://trail/learn.json.gz", encode_records(learned))])
    async with Running(first, source):
        await source.wait_settled(1)
    close(first)

    new_network = [_person_call(60, "198.51.100.20", 100)]
    recorder = ListRecorder()
    second = make_pipeline(recorder, path)
    second.restore_state()
    assert second.engine.store.size("history/new-source-ip-for-principal"), "the learned history is in the file"
    after = ScriptedSource("s", [("s3://trail/new.json.gz", encode_records(new_network))])
    async with Running(second, after):
        await after.wait_settled(1)
    [alert] = [a for a in recorder.alerts if a.detector == "new-source-ip-for-principal"]
    assert alert.context["new_source_networks"] == ["198.51.100.0/24"]
    close(second)

    # Without the saved history the same event is learned quietly: the restart is what made it known.
    fresh = ListRecorder()
    forgetful = make_pipeline(fresh)
    again = ScriptedSource("s", [("s3://trail/new.json.gz", encode_records(new_network))])
    async with Running(forgetful, again):
        await again.wait_settled(1)
    assert "new-source-ip-for-principal" not in fresh.detectors()


class PoisonedStore(MemoryStore):
    """A state store that fails whenever a batch writes the key of a "Poison" event: a bug that every
    redelivery of that batch meets again."""

    def put(self, space: str, key: str, value: object, expires: float) -> None:
        if "Poison" in key:
            raise RuntimeError("the store cannot take this")
        super().put(space, key, value, expires)


def _poison(event: Event, params: Mapping[str, object]) -> Hit | None:
    return Hit() if event.eventName == "Poison" else None


POISON = Detector(id="poison-test", title="t", severity=Severity.LOW, mitre=("T1078",), runbook="r", match=_poison,
                  events=frozenset({("test.amazonaws.com", "Poison")}), group_by=keys("event_name"))


class Redelivering(ScriptedSource):
    """Emits each released batch again, as a queue would after the release's delay."""

    def __init__(self, name: str, payloads: list[tuple[str, bytes]]) -> None:
        super().__init__(name, payloads)
        self.by_origin = dict(payloads)
        self.emit: Emit | None = None

    async def run(self, emit: Emit) -> None:
        self.emit = emit
        await super().run(emit)

    def _releaser(self, origin: str) -> Callable[[str], asyncio.Future[None]]:
        release = super()._releaser(origin)

        async def again(reason: str) -> None:
            await release(reason)
            assert self.emit is not None
            await self.emit(Batch(source=self.name, origin=origin, data=self.by_origin[origin],
                                  ack=self._acker(origin), release=self._releaser(origin)))
        return again  # type: ignore[return-value]


async def test_a_batch_that_keeps_failing_is_retried_with_backoff_then_quarantined() -> None:
    record = cloudtrail_record("Poison", "test.amazonaws.com")
    poisoned = encode_records([record])
    source = Redelivering("s", [("s3://trail/poison.json.gz", poisoned), ("s3://trail/root.json.gz",
                                                                          root_login_bytes(40))])
    recorder = ListRecorder()
    engine = Engine([POISON, *builtin_detectors()], EngineSettings(), store=PoisonedStore(1000))
    pipeline = Pipeline(engine, recorder, CheckpointStore(":memory:"), clock=lambda: NOW, retry_base_seconds=0.001)
    async with Running(pipeline, source):
        await wait_until(lambda: "s3://trail/poison.json.gz" in source.acked, "the poisoned batch to be given up")
        await source.wait_settled(2 + pipeline.max_attempts - 1)
    counters = pipeline.stats.source("s")
    assert counters.batches_quarantined == 1
    assert counters.batches_failed == pipeline.max_attempts - 1  # released with a growing delay, then given up
    assert [reason for origin, reason in source.released] == ["failed: RuntimeError"] * (pipeline.max_attempts - 1)
    [notice] = [a for a in recorder.alerts if a.detector == QUARANTINE_DETECTOR]
    assert notice.context["origin"] == "s3://trail/poison.json.gz" and notice.context["attempts"] == 5
    assert notice.severity == Severity.HIGH
    # The other batch flowed meanwhile, and nothing of the poisoned one was kept.
    assert "root-console-login" in recorder.detectors() and "poison-test" not in recorder.detectors()
    assert engine.store.claim_events([record["eventID"]]) == [True]  # every attempt was undone whole


async def test_sources_are_held_back_by_the_bytes_queued_not_only_the_batches() -> None:
    payloads = [(f"s3://trail/{i}.json.gz", root_login_bytes(50 + i)) for i in range(6)]
    source = ScriptedSource("big", payloads)
    recorder = ListRecorder()
    recorder.gate = asyncio.Event()
    size = len(payloads[0][1])
    pipeline = Pipeline(engine(), recorder, CheckpointStore(":memory:"), queue_batches=100,
                        queue_bytes=2 * size + 10, group_batches=1, clock=lambda: NOW)
    async with Running(pipeline, source):
        await asyncio.wait_for(recorder.entered.wait(), WAIT)  # the consumer is stuck committing batch 0
        for _ in range(200):
            await asyncio.sleep(0)
        assert pipeline.stats.queue_depth <= 2  # two batches' bytes fit, a third waits
        assert source.attempted == source.emitted + 1  # blocked inside emit()
        recorder.gate.set()
        await source.wait_settled(len(payloads))
    assert source.acked == [origin for origin, _ in payloads]


async def test_worker_processes_give_the_alerts_of_one_process() -> None:
    rng = random.Random(60)
    payloads = [(f"s3://trail/{i}.json.gz", encode_records(
        console_login_failure_burst(rng, NOW - 900 + 10 * i, ACCOUNT, failures=3))) for i in range(6)]
    payloads.append(("s3://trail/again.json.gz", payloads[2][1]))  # a redelivered object: duplicates only
    alone, pooled = ListRecorder(), ListRecorder()
    single = make_pipeline(alone)
    source = ScriptedSource("s", payloads)
    async with Running(single, source):
        await source.wait_settled(len(payloads))
    detection = Detection(builtin_detectors())
    pool = DetectionPool(detection, single.limits, workers=2)
    try:
        parallel = Pipeline(engine(), pooled, CheckpointStore(":memory:"), clock=lambda: NOW, pool=pool)
        again = ScriptedSource("s", payloads)
        async with Running(parallel, again):
            await again.wait_settled(len(payloads))
    finally:
        pool.close()
    assert again.acked == source.acked == [origin for origin, _ in payloads]
    # Batches group differently, so compare each alert's last recorded version.
    assert {a.id: a.to_json() for a in pooled.alerts} == {a.id: a.to_json() for a in alone.alerts}
    assert "console-login-failure-burst" in pooled.detectors()
    assert parallel.stats.source("s").duplicates == single.stats.source("s").duplicates > 0
