"""Updates of one episode and repeats of one fingerprint: one message, then at most one "+N more" per window."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.model.severity import Severity
from tests.alerts.conftest import FakeClock, Receiver, http_sink, make_alert, settings_from


def settings(**alerting: object) -> object:
    return settings_from({"sinks": [http_sink("webhook", "HOOK_URL")], "alerting": alerting})


def kinds(receiver: Receiver) -> list[tuple[str, str, str]]:
    return [(r.headers["X-Trailsentry-Alert-Id"], r.headers["X-Trailsentry-Kind"], r.headers["X-Trailsentry-Repeats"])
            for r in receiver.accepted]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def hook_url(monkeypatch: pytest.MonkeyPatch, receiver: Receiver) -> None:
    monkeypatch.setenv("HOOK_URL", receiver.url())


async def test_twenty_updates_give_one_message_and_one_follow_up(tmp_path: Path, receiver: Receiver, running,
                                                                 clock: FakeClock) -> None:
    alerting = running(settings(), tmp_path / "o.sqlite", clock=clock)
    await alerting.start()
    await alerting.record([make_alert("ep", count=1)])
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 1)
    for count in range(2, 21):
        clock.advance(10)
        await alerting.record([make_alert("ep", count=count, last_event_time=clock.now)])
    stats = alerting.stats()
    assert stats.sinks["webhook"].suppressed == 19
    assert stats.recorded == {("root-console-login", "high"): 20}
    clock.advance(600)
    alerting.wake()
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 2 and s.outbox_depth == 0)
    assert kinds(receiver) == [("ep", "new", "0"), ("ep", "repeat", "19")]
    assert receiver.accepted[0].json()["count"] == 1
    assert receiver.accepted[1].json()["count"] == 20


async def test_replayed_alert_is_ignored(tmp_path: Path, receiver: Receiver, running, clock: FakeClock) -> None:
    alerting = running(settings(), tmp_path / "o.sqlite", clock=clock)
    await alerting.record([make_alert("ep", count=3)])
    await alerting.record([make_alert("ep", count=3), make_alert("ep", count=2)])
    assert alerting.stats().duplicates == 2
    assert len(alerting.outbox.deliveries()) == 1


async def test_escalation_is_sent_at_once_with_pending_repeats(tmp_path: Path, receiver: Receiver, running,
                                                               clock: FakeClock) -> None:
    alerting = running(settings(), tmp_path / "o.sqlite", clock=clock)
    await alerting.start()
    await alerting.record([make_alert("ep", severity=Severity.MEDIUM, count=1)])
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 1)
    clock.advance(5)
    await alerting.record([make_alert("ep", severity=Severity.MEDIUM, count=4)])
    clock.advance(5)
    await alerting.record([make_alert("ep", severity=Severity.CRITICAL, count=5)])
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 2 and s.outbox_depth == 0)
    assert kinds(receiver) == [("ep", "new", "0"), ("ep", "escalation", "3")]
    assert receiver.accepted[1].json()["severity"] == "critical"
    # The follow-up was folded into the escalation: nothing more at the window end.
    clock.advance(601)
    alerting.wake()
    await alerting.wait_for(lambda s: s.outbox_depth == 0)
    assert len(receiver.accepted) == 2


async def test_an_update_for_a_worse_call_is_sent_at_once_with_pending_repeats(
        tmp_path: Path, receiver: Receiver, running, clock: FakeClock) -> None:
    alerting = running(settings(), tmp_path / "o.sqlite", clock=clock)
    await alerting.start()
    await alerting.record([make_alert("ep", count=1, context={"targets": ["trail:org-trail"]})])
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 1)
    clock.advance(5)
    await alerting.record([make_alert("ep", count=2, context={"targets": ["trail:org-trail"]})])  # folded
    clock.advance(5)
    await alerting.record([make_alert("ep", count=3, context={"targets": ["trail:org-trail", "trail:backup"],
                                                              "updated_for": "new call cloudtrail:DeleteTrail"})])
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 2 and s.outbox_depth == 0)
    assert kinds(receiver) == [("ep", "new", "0"), ("ep", "update", "1")]
    assert receiver.accepted[1].json()["context"]["updated_for"] == "new call cloudtrail:DeleteTrail"
    clock.advance(601)
    alerting.wake()
    await alerting.wait_for(lambda s: s.outbox_depth == 0)
    assert len(receiver.accepted) == 2


async def test_other_ids_with_the_same_key_are_suppressed_into_the_first(tmp_path: Path, receiver: Receiver,
                                                                        running, clock: FakeClock) -> None:
    alerting = running(settings(), tmp_path / "o.sqlite", clock=clock)
    await alerting.start()
    await alerting.record([make_alert("login-1")])
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 1)
    clock.advance(30)
    await alerting.record([make_alert("login-2"), make_alert("login-3")])
    # A different principal is a different group: sent at once.
    await alerting.record([make_alert("other", principal="arn:aws:iam::111122223333:user/eve")])
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 2)
    clock.advance(600)
    alerting.wake()
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 3 and s.outbox_depth == 0)
    assert kinds(receiver) == [("login-1", "new", "0"), ("other", "new", "0"), ("login-3", "repeat", "2")]


async def test_per_detector_window_zero_sends_every_alert(tmp_path: Path, receiver: Receiver, running,
                                                          clock: FakeClock) -> None:
    alerting = running(settings(repeat_window={"detectors": {"root-*": {"window_seconds": 0}}}), tmp_path / "o.sqlite",
                       clock=clock)
    await alerting.start()
    await alerting.record([make_alert("login-1")])
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 1)
    await alerting.record([make_alert("login-2")])
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 2)
    assert [k[:2] for k in kinds(receiver)] == [("login-1", "new"), ("login-2", "new")]


async def test_per_detector_window_and_key(tmp_path: Path, receiver: Receiver, running, clock: FakeClock) -> None:
    config = {"window_seconds": 60, "detectors": {"root-console-login": {"window_seconds": 3600, "key": ["account"]}}}
    alerting = running(settings(repeat_window=config), tmp_path / "o.sqlite", clock=clock)
    await alerting.start()
    await alerting.record([make_alert("a")])
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 1)
    clock.advance(120)  # past the default window, inside the detector's
    await alerting.record([make_alert("b", principal="arn:aws:iam::111122223333:user/other")])
    assert alerting.stats().sinks["webhook"].suppressed == 1
    clock.advance(3600)
    alerting.wake()
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 2 and s.outbox_depth == 0)
    assert kinds(receiver) == [("a", "new", "0"), ("b", "repeat", "1")]


async def test_steady_repeats_cost_one_message_per_window(tmp_path: Path, receiver: Receiver, running,
                                                          clock: FakeClock) -> None:
    alerting = running(settings(), tmp_path / "o.sqlite", clock=clock)
    await alerting.start()
    count = 1
    await alerting.record([make_alert("ep", count=count)])
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 1)
    for window in range(3):
        for _ in range(6):
            clock.advance(100)
            count += 1
            await alerting.record([make_alert("ep", count=count)])
        alerting.wake()
        await alerting.wait_for(lambda s, w=window: s.sinks["webhook"].sent == 2 + w)
    # The record at t+1800 opened a fourth window; its follow-up is due at its end, and is skipped
    # if the third window's follow-up (sent at t+1800, with the newest state) already showed that count.
    clock.advance(600)
    alerting.wake()
    stats = await alerting.wait_for(lambda s: s.outbox_depth == 0)
    sent = kinds(receiver)
    assert [k[1] for k in sent[:4]] == ["new", "repeat", "repeat", "repeat"]
    assert len(sent) <= 5  # one first message, at most one follow-up per window (four windows)
    assert stats.sinks["webhook"].sent + stats.sinks["webhook"].skipped == 5
    assert receiver.accepted[-1].json()["count"] == count
    assert all(int(k[2]) > 0 for k in sent[1:])


async def test_late_first_message_makes_the_follow_up_redundant(tmp_path: Path, receiver: Receiver, running,
                                                                clock: FakeClock) -> None:
    alerting = running(settings(), tmp_path / "o.sqlite", clock=clock)
    for count in range(1, 6):
        await alerting.record([make_alert("ep", count=count)])
        clock.advance(1)
    await alerting.start()  # the first message now goes out with the newest count
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 1)
    assert receiver.accepted[0].json()["count"] == 5
    clock.advance(600)
    alerting.wake()
    await alerting.wait_for(lambda s: s.outbox_depth == 0)
    assert len(receiver.accepted) == 1


async def test_a_new_critical_detection_is_never_held_back(tmp_path: Path, receiver: Receiver, running,
                                                           clock: FakeClock) -> None:
    alerting = running(settings(), tmp_path / "o.sqlite", clock=clock)
    await alerting.start()
    await alerting.record([make_alert("login-1", severity=Severity.CRITICAL)])
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 1)
    clock.advance(30)
    # A second root login from elsewhere: same detector, account and principal, a new detection.
    await alerting.record([make_alert("login-2", severity=Severity.CRITICAL, source_ip="198.51.100.9")])
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 2)
    # An update of the first episode still folds into the window rather than paging again.
    await alerting.record([make_alert("login-1", severity=Severity.CRITICAL, count=3)])
    stats = alerting.stats().sinks["webhook"]
    assert (stats.sent, stats.pending) == (2, 1)  # a "+N more" follow-up, due when the window ends
    clock.advance(600)
    alerting.wake()
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 3 and s.outbox_depth == 0)
    assert [k[:2] for k in kinds(receiver)] == [("login-1", "new"), ("login-2", "new"), ("login-1", "update")]
