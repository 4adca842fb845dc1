"""Delivery through the outbox to real HTTP receivers with scripted failures."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from pathlib import Path

import pytest

from monitor.alerts.service import SINK_FAILING_DETECTOR, Alerting
from monitor.model.severity import Severity
from tests.alerts.conftest import (
    FAST,
    TOKEN,
    FakeClock,
    Receiver,
    Reply,
    closed_port,
    http_sink,
    make_alert,
    settings_from,
)


def webhook_settings(**extra: object) -> object:
    return settings_from({"sinks": [http_sink("webhook", "HOOK_URL", **extra)]})


def ids_of(requests: list) -> list[str]:  # type: ignore[type-arg]
    return [r.headers["X-Trailsentry-Alert-Id"] for r in requests]


async def test_500s_then_recovery_delivers_each_alert_once(tmp_path: Path, receiver: Receiver, running,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_URL", receiver.url())
    receiver.script = [Reply(500), Reply(502), Reply(503)]
    alerting = running(webhook_settings(), tmp_path / "outbox.sqlite")
    await alerting.record([make_alert("a1"), make_alert("a2", principal="arn:aws:iam::111122223333:user/bob")])
    await alerting.start()
    stats = await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 2 and s.outbox_depth == 0)
    assert sorted(ids_of(receiver.accepted)) == ["a1", "a2"]
    assert stats.sinks["webhook"].failed == 3
    assert stats.sinks["webhook"].retried == 3
    # Every attempt at one message carries the same delivery id.
    first_ids = {r.headers["X-Trailsentry-Delivery-Id"] for r in receiver.requests
                 if r.headers["X-Trailsentry-Alert-Id"] == ids_of(receiver.requests)[0]}
    assert len(first_ids) == 1
    assert all(r.json()["schema"] == 1 for r in receiver.requests)


async def test_slack_429_retry_after_is_honoured(tmp_path: Path, receiver: Receiver, running,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    receiver.clock = clock
    monkeypatch.setenv("SLACK_URL", receiver.url())
    receiver.script = [Reply(429, {"Retry-After": "30"}, body="rate_limited")]
    settings = settings_from({"sinks": [http_sink("slack", "SLACK_URL")]})
    alerting = running(settings, tmp_path / "o.sqlite", clock=clock)
    await alerting.start()
    await alerting.record([make_alert("a1")])
    stats = await alerting.wait_for(lambda s: s.sinks["slack"].rate_limited == 1)
    assert stats.sinks["slack"].sent == 0
    clock.advance(29)
    alerting.wake()
    clock.advance(1)
    alerting.wake()
    await alerting.wait_for(lambda s: s.sinks["slack"].sent == 1)
    assert len(receiver.accepted) == 1
    # The retry happened no earlier than Retry-After on the (injected) clock.
    assert receiver.accepted[0].clock >= receiver.requests[0].clock + 30


async def test_timeout_retry_carries_same_ids_and_is_marked_delivered_once(
        tmp_path: Path, receiver: Receiver, running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_URL", receiver.url())
    release = asyncio.Event()
    receiver.script = [Reply(200, hold=release)]
    alerting = running(webhook_settings(timeout_seconds=0.2), tmp_path / "o.sqlite")
    await alerting.start()
    await alerting.record([make_alert("a1")])
    stats = await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 1)
    release.set()  # the slow first answer now completes at the receiver too
    assert stats.sinks["webhook"].failed == 1
    assert len(receiver.requests) == 2
    assert ids_of(receiver.requests) == ["a1", "a1"]
    assert len({r.headers["X-Trailsentry-Delivery-Id"] for r in receiver.requests}) == 1
    assert receiver.requests[0].body == receiver.requests[1].body
    rows = alerting.outbox.deliveries("webhook")
    assert [(r["alert_id"], r["state"]) for r in rows] == [("a1", "delivered")]


async def test_connection_refused_then_recovery(tmp_path: Path, running, monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{port}/hook/{TOKEN}")
    alerting = running(webhook_settings(), tmp_path / "o.sqlite")
    await alerting.start()
    await alerting.record([make_alert("a1")])
    await alerting.wait_for(lambda s: s.sinks["webhook"].failed >= 2)
    late = Receiver()
    await late.start(port)
    try:
        await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 1)
        assert ids_of(late.accepted) == ["a1"]
    finally:
        await late.stop()


async def test_backlog_is_sent_most_severe_first_then_oldest(tmp_path: Path, receiver: Receiver, running,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_URL", receiver.url())
    clock = FakeClock()
    alerting = running(webhook_settings(), tmp_path / "o.sqlite", clock=clock)
    plan = [("low-1", Severity.LOW), ("crit-1", Severity.CRITICAL), ("med-1", Severity.MEDIUM),
            ("crit-2", Severity.CRITICAL), ("low-2", Severity.LOW)]
    for index, (alert_id, severity) in enumerate(plan):
        principal = f"arn:aws:iam::111122223333:user/u{index}"
        await alerting.record([make_alert(alert_id, severity=severity, principal=principal)])
        clock.advance(1)
    await alerting.start()
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 5)
    assert ids_of(receiver.accepted) == ["crit-1", "crit-2", "med-1", "low-1", "low-2"]


async def test_restart_delivers_pending_once_and_never_resends_confirmed(
        tmp_path: Path, receiver: Receiver, running, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_URL", receiver.url())
    db = tmp_path / "outbox.sqlite"
    first = running(webhook_settings(), db)
    await first.start()
    await first.record([make_alert("done")])
    await first.wait_for(lambda s: s.sinks["webhook"].sent == 1)
    receiver.default = Reply(500)
    await first.record([make_alert("p1", principal="arn:aws:iam::111122223333:user/a"),
                        make_alert("p2", principal="arn:aws:iam::111122223333:user/b")])
    await first.wait_for(lambda s: s.sinks["webhook"].failed >= 2)
    await first.stop(deadline_seconds=0.5)
    assert first.stats().outbox_depth == 2

    receiver.default = Reply(200)
    second = running(webhook_settings(), db)
    await second.start()
    await second.wait_for(lambda s: s.sinks["webhook"].sent == 2 and s.outbox_depth == 0)
    assert sorted(ids_of(receiver.accepted)) == ["done", "p1", "p2"]


async def test_dead_letter_after_max_age(tmp_path: Path, running, monkeypatch: pytest.MonkeyPatch,
                                         caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{closed_port()}/{TOKEN}")
    alerting = running(webhook_settings(max_age_seconds=60), tmp_path / "o.sqlite", clock=clock)
    await alerting.start()
    with caplog.at_level(logging.WARNING, logger="trailsentry.alerts"):
        await alerting.record([make_alert("doomed")])
        await alerting.wait_for(lambda s: s.sinks["webhook"].failed >= 1)
        clock.advance(61)
        alerting.wake()
        stats = await alerting.wait_for(lambda s: s.sinks["webhook"].dead_lettered == 1)
    assert stats.outbox_depth == 0
    assert [d.alert_id for d in alerting.outbox.dead_letters()] == ["doomed"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("doomed" in m and "dead-lettered" in m for m in errors)


async def test_rejected_payload_is_dead_lettered_at_once(tmp_path: Path, receiver: Receiver, running,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_URL", receiver.url())
    receiver.script = [Reply(400, body="invalid_payload")]
    alerting = running(webhook_settings(), tmp_path / "o.sqlite")
    await alerting.start()
    await alerting.record([make_alert("bad"), make_alert("good", principal="arn:aws:iam::111122223333:user/x")])
    stats = await alerting.wait_for(lambda s: s.sinks["webhook"].dead_lettered == 1 and s.sinks["webhook"].sent == 1)
    assert stats.outbox_depth == 0
    assert len(alerting.outbox.dead_letters()) == 1


async def test_rate_limit_spaces_messages_on_the_clock(tmp_path: Path, receiver: Receiver, running,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    receiver.clock = clock
    monkeypatch.setenv("SLACK_URL", receiver.url())
    settings = settings_from({"sinks": [{"type": "slack", "webhook_url_env": "SLACK_URL", **FAST}]})
    alerting = running(settings, tmp_path / "o.sqlite", clock=clock)
    await alerting.record([make_alert(f"a{i}", principal=f"arn:aws:iam::111122223333:user/u{i}")
                           for i in range(3)])
    await alerting.start()
    for sent in (1, 2, 3):
        await receiver.wait_requests(sent)
        clock.advance(1)
        alerting.wake()
    arrivals = [r.clock for r in receiver.requests]
    assert arrivals == sorted(set(arrivals)), "two messages went out within one second"
    assert arrivals[-1] - arrivals[0] >= 2


async def test_webhook_signature_and_headers(tmp_path: Path, receiver: Receiver, running,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_URL", receiver.url())
    monkeypatch.setenv("HOOK_KEY", "shared-secret")
    monkeypatch.setenv("HOOK_TOKEN", "tok-123")
    settings = settings_from({"sinks": [http_sink("webhook", "HOOK_URL", secret_env="HOOK_KEY",
                                                  headers={"Authorization": "Bearer ${HOOK_TOKEN}",
                                                           "X-Team": "secops"})]})
    alerting = running(settings, tmp_path / "o.sqlite")
    await alerting.start()
    await alerting.record([make_alert("a1")])
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 1)
    request = receiver.accepted[0]
    timestamp = request.headers["X-Trailsentry-Timestamp"]
    expected = hmac.new(b"shared-secret", timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Trailsentry-Signature"] == f"sha256={expected}"
    assert request.headers["Authorization"] == "Bearer tok-123"
    assert request.headers["X-Team"] == "secops"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json()["id"] == "a1"
    assert request.json() == make_alert("a1").to_dict()


async def test_failing_sink_is_reported_on_the_other_sinks_and_recovery_too(
        tmp_path: Path, receiver: Receiver, running, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    port = closed_port()
    slack_url = f"http://127.0.0.1:{port}/services/{TOKEN}"
    monkeypatch.setenv("SLACK_URL", slack_url)
    monkeypatch.setenv("HOOK_URL", receiver.url("/hook"))
    settings = settings_from({
        "sinks": [http_sink("slack", "SLACK_URL"), http_sink("webhook", "HOOK_URL")],
        "alerting": {"sink_failing": {"consecutive_failures": 3}},
    })
    alerting = running(settings, tmp_path / "o.sqlite")
    await alerting.start()
    with caplog.at_level(logging.INFO, logger="trailsentry.alerts"):
        await alerting.record([make_alert("a1")])
        await receiver.wait_requests(2)
        failing = receiver.requests[1].json()
        assert failing["detector"] == SINK_FAILING_DETECTOR
        assert failing["severity"] == "high"
        assert failing["context"]["sink"] == "slack"
        assert failing["context"]["state"] == "failing"
        assert str(port) not in receiver.requests[1].body.decode() and TOKEN not in receiver.requests[1].body.decode()
        assert alerting.stats().sinks["slack"].failing

        slack = Receiver()
        await slack.start(port)
        try:
            await receiver.wait_requests(3)
            recovered = receiver.requests[2].json()
            assert recovered["detector"] == SINK_FAILING_DETECTOR
            assert recovered["context"]["state"] == "recovered"
            await alerting.wait_for(lambda s: s.sinks["slack"].sent == 1)
            assert not alerting.stats().sinks["slack"].failing
        finally:
            await slack.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert any("slack is failing" in m for m in messages)
    assert any("slack recovered" in m for m in messages)
    # The failing sink never gets its own failure notice.
    assert slack.accepted and all(b"is failing" not in r.body for r in slack.accepted)


async def test_record_is_durable_before_start_and_after_a_crash(tmp_path: Path, receiver: Receiver,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_URL", receiver.url())
    db = tmp_path / "o.sqlite"
    crashed = Alerting(webhook_settings(), db_path=db)  # type: ignore[arg-type]
    await crashed.record([make_alert("a1")])
    # No stop(): the process "dies" here; a new instance finds the alert.
    fresh = Alerting(webhook_settings(), db_path=db)  # type: ignore[arg-type]
    try:
        await fresh.start()
        await fresh.wait_for(lambda s: s.sinks["webhook"].sent == 1)
        assert ids_of(receiver.accepted) == ["a1"]
    finally:
        await fresh.stop(0)
        crashed.outbox.close()


async def test_backlog_age_marks_a_sink_failing_and_not_ready(tmp_path: Path, receiver: Receiver, running,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setenv("SLACK_URL", receiver.url())
    monkeypatch.setenv("HOOK_URL", receiver.url("/hook"))
    receiver.script = [Reply(429, {"Retry-After": "3600"})]
    settings = settings_from({
        "sinks": [http_sink("slack", "SLACK_URL"), http_sink("webhook", "HOOK_URL")],
        "routes": [{"detectors": ["root-*"], "sinks": ["slack"]}],
        "alerting": {"sink_failing": {"consecutive_failures": 100, "pending_seconds": 300},
                     "ready_max_pending_seconds": 600},
    })
    alerting = running(settings, tmp_path / "o.sqlite", clock=clock)
    await alerting.start()
    await alerting.record([make_alert("a1")])
    await alerting.wait_for(lambda s: s.sinks["slack"].rate_limited == 1)
    assert alerting.ready()
    clock.advance(301)
    alerting.wake()
    await receiver.wait_requests(2)
    notice = receiver.requests[1].json()
    assert notice["detector"] == SINK_FAILING_DETECTOR
    assert notice["context"]["reason"] == "rate_limited"
    assert notice["context"]["oldest_pending_seconds"] >= 300
    assert alerting.stats().sinks["slack"].failing
    clock.advance(300)
    assert not alerting.ready()
    clock.advance(3000)  # past Retry-After: the retry succeeds and the backlog clears
    alerting.wake()
    await alerting.wait_for(lambda s: s.sinks["slack"].sent == 1 and not s.sinks["slack"].failing)
    assert alerting.ready()
