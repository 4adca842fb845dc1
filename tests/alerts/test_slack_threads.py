"""Slack with a bot token: one message per alert, updates in its thread, against a local Slack Web API."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.alerts.base import KIND_NEW, KIND_UPDATE, DeliveryError, Notice
from monitor.alerts.outbox import Outbox
from monitor.alerts.outbox_schema import Thread
from monitor.alerts.secrets import Secret
from monitor.alerts.service import Alerting
from monitor.alerts.sink_settings import SinkSettings, SlackOptions, describe_sink
from monitor.alerts.slack import SlackSink
from monitor.configreader import ConfigError
from monitor.model.alert import Alert
from monitor.model.severity import Severity
from tests.alerts.conftest import FAST, T0, FakeClock, make_alert, settings_from
from tests.alerts.slack_server import BOT_TOKEN, CHANNEL_ID, Fail, FakeSlack


def bot_settings(slack: FakeSlack, **extra: Any) -> Any:
    sink = {"name": "oncall", "type": "slack", "bot_token_env": "SLACK_BOT_TOKEN", "channel": "#oncall",
            "api_url": slack.api_url, "rate_per_second": 0, "dedup": False, **FAST, **extra}
    return settings_from({"sinks": [sink]})


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)


def text_of(payload: dict[str, Any]) -> str:
    return orjson.dumps(payload).decode()


def sink_for(slack: FakeSlack, outbox: Outbox, token: str = BOT_TOKEN, channel: str = "#oncall") -> SlackSink:
    settings = SinkSettings(name="oncall", kind="slack", options=SlackOptions(url=None), timeout_seconds=5)
    sink = SlackSink(settings, token=Secret(token), channel=channel, api_url=slack.api_url, clock=lambda: T0)
    sink.bind(outbox)
    return sink


def notice(alert: Alert, kind: str = KIND_NEW, delivery_id: str = "d1") -> Notice:
    return Notice(alert=alert, body=alert.to_json(), delivery_id=delivery_id, kind=kind)


async def send_error(sink: SlackSink, item: Notice) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await sink.send(item)
    return caught.value


async def test_first_post_then_updates_reply_in_its_thread_and_refresh_it(tmp_path: Path, slack: FakeSlack,
                                                                          running) -> None:
    alerting: Alerting = running(bot_settings(slack), tmp_path / "o.sqlite")
    await alerting.start()
    await alerting.record([make_alert("a1", count=1)])
    await alerting.wait_for(lambda s: s.sinks["oncall"].sent == 1)
    [first] = slack.calls
    assert first.method == "chat.postMessage" and first.authorization == f"Bearer {BOT_TOKEN}"
    assert first.payload["channel"] == "#oncall" and "thread_ts" not in first.payload
    parent = slack.parents()[0]
    recorded = alerting.outbox.thread("oncall", "a1")
    assert recorded is not None and (recorded.channel, recorded.ts) == (CHANNEL_ID, parent.ts)

    await alerting.record([make_alert("a1", count=5, last_event_time=T0)])
    await alerting.wait_for(lambda s: s.sinks["oncall"].sent == 2)
    await alerting.record([make_alert("a1", count=9, last_event_time=T0 + 1, severity=Severity.CRITICAL)])
    await alerting.wait_for(lambda s: s.sinks["oncall"].sent == 3)

    assert [c.method for c in slack.calls] == ["chat.postMessage", "chat.update", "chat.postMessage",
                                               "chat.update", "chat.postMessage"]
    assert len(slack.parents()) == 1
    replies = slack.replies(parent.ts)
    assert len(replies) == 2 and all(r.channel == CHANNEL_ID for r in replies)
    update, critical = (r.payload for r in replies)
    assert "Update to alert" in update["text"] and "`a1`" in text_of(update) and "Count 5" in text_of(update)
    assert "reply_broadcast" not in update
    assert "CRITICAL (update)" in critical["text"] and "Count 9" in text_of(critical)
    # The first message shows the newest state: critical, count 9.
    assert parent.updates == 2
    refreshed = text_of(parent.payload)
    assert "CRITICAL: Root user console login" in refreshed and "*Count*\\n9" in refreshed
    assert "each update is in the thread" in refreshed
    assert all(c.payload["ts"] == parent.ts and c.payload["channel"] == CHANNEL_ID
               for c in slack.calls if c.method == "chat.update")


async def test_repeats_folded_by_the_window_reply_in_the_thread(tmp_path: Path, slack: FakeSlack, running) -> None:
    clock = FakeClock()
    alerting: Alerting = running(bot_settings(slack, dedup=True), tmp_path / "o.sqlite", clock=clock)
    await alerting.start()
    await alerting.record([make_alert("a1", count=1)])
    await alerting.wait_for(lambda s: s.sinks["oncall"].sent == 1)
    await alerting.record([make_alert("a1", count=13, last_event_time=T0)])
    clock.advance(601)  # the repeat window (600 s by default) ends: its "+12 more" is due
    alerting.wake()
    await alerting.wait_for(lambda s: s.sinks["oncall"].sent == 2)
    parent = slack.parents()[0]
    [reply] = slack.replies(parent.ts)
    assert "+12 more in 10 min" in reply.payload["text"] and "Update to alert a1" in reply.payload["text"]
    assert "*Count*\\n13" in text_of(parent.payload)


async def test_an_escalation_in_the_window_is_also_shown_in_the_channel(tmp_path: Path, slack: FakeSlack,
                                                                         running) -> None:
    alerting: Alerting = running(bot_settings(slack, dedup=True), tmp_path / "o.sqlite")
    await alerting.start()
    await alerting.record([make_alert("a1")])
    await alerting.wait_for(lambda s: s.sinks["oncall"].sent == 1)
    await alerting.record([make_alert("a1", count=2, last_event_time=T0, severity=Severity.CRITICAL)])
    await alerting.wait_for(lambda s: s.sinks["oncall"].sent == 2)
    [reply] = slack.replies(slack.parents()[0].ts)
    assert reply.payload["reply_broadcast"] is True and "Escalated to CRITICAL" in reply.payload["text"]


async def test_a_restart_between_notices_keeps_the_thread(tmp_path: Path, slack: FakeSlack, running) -> None:
    first: Alerting = running(bot_settings(slack), tmp_path / "o.sqlite")
    await first.start()
    await first.record([make_alert("a1")])
    await first.wait_for(lambda s: s.sinks["oncall"].sent == 1)
    await first.stop(deadline_seconds=1)

    second: Alerting = running(bot_settings(slack), tmp_path / "o.sqlite")
    await second.start()
    await second.record([make_alert("a1", count=4, last_event_time=T0)])
    await second.wait_for(lambda s: s.sinks["oncall"].sent == 1)
    parent = slack.parents()
    assert len(parent) == 1
    assert len(slack.replies(parent[0].ts)) == 1 and parent[0].updates == 1


async def test_a_retried_first_notice_posts_once(tmp_path: Path, slack: FakeSlack) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    sink = sink_for(slack, outbox)
    try:
        # Posted, then the process died before the row was marked delivered: the retry finds its own thread.
        await sink.send(notice(make_alert("a1")))
        await sink.send(notice(make_alert("a1")))
        assert len(slack.calls) == 1
    finally:
        await sink.close()
        outbox.close()


async def test_a_retry_after_a_failed_reply_does_only_what_is_left(tmp_path: Path, slack: FakeSlack) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    sink = sink_for(slack, outbox)
    try:
        await sink.send(notice(make_alert("a1")))
        parent = slack.parents()[0]
        update = notice(make_alert("a1", count=3), KIND_UPDATE, "d2")
        slack.fail("chat.postMessage", Fail("internal_error"))
        error = await send_error(sink, update)
        assert (error.reason, error.permanent, error.ambiguous) == ("slack_error", False, False)
        await sink.send(update)
        assert len(slack.replies(parent.ts)) == 1
        # Delivered but not yet marked (a crash): once more sends no second reply.
        await sink.send(update)
        assert len(slack.replies(parent.ts)) == 1
        assert parent.updates == 3  # chat.update is safe to repeat
    finally:
        await sink.close()
        outbox.close()


async def test_an_ambiguous_reply_is_not_sent_again(tmp_path: Path, slack: FakeSlack) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    sink = sink_for(slack, outbox)
    try:
        await sink.send(notice(make_alert("a1")))
        update = notice(make_alert("a1", count=3), KIND_UPDATE, "d2")
        slack.fail("chat.postMessage", Fail(status=200, raw="<html>gateway</html>"))
        error = await send_error(sink, update)
        assert (error.reason, error.ambiguous, error.permanent) == ("bad_response", True, False)
        await sink.send(update)
        methods = [c.method for c in slack.calls]
        assert methods == ["chat.postMessage", "chat.update", "chat.postMessage", "chat.update"]
    finally:
        await sink.close()
        outbox.close()


@pytest.mark.parametrize(("fail", "reason", "permanent", "rate_limited", "retry_after"), [
    (Fail("channel_not_found"), "rejected", True, False, None),
    (Fail("invalid_auth"), "rejected", True, False, None),
    (Fail("missing_scope"), "rejected", True, False, None),
    (Fail("internal_error"), "slack_error", False, False, None),
    (Fail("some_new_error"), "slack_error", False, False, None),
    (Fail("ratelimited", status=429, headers={"Retry-After": "7"}), "rate_limited", False, True, 7.0),
    (Fail("ratelimited", headers={"Retry-After": "3"}), "rate_limited", False, True, 3.0),
    (Fail("", status=503, raw="busy", headers={"Retry-After": "2"}), "http_status", False, False, 2.0),
])
async def test_slack_errors_map_to_delivery_errors(tmp_path: Path, slack: FakeSlack, fail: Fail, reason: str,
                                                   permanent: bool, rate_limited: bool,
                                                   retry_after: float | None) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    sink = sink_for(slack, outbox)
    try:
        slack.fail("chat.postMessage", fail)
        error = await send_error(sink, notice(make_alert("a1")))
        assert (error.reason, error.permanent, error.rate_limited, error.retry_after) == (
            reason, permanent, rate_limited, retry_after)
        assert not error.ambiguous
        assert outbox.thread("oncall", "a1") is None
        assert BOT_TOKEN not in "".join(traceback.format_exception(error))
    finally:
        await sink.close()
        outbox.close()


async def test_a_wrong_token_or_channel_is_dead_lettered_at_once(tmp_path: Path, slack: FakeSlack, running,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-wrong")
    alerting: Alerting = running(bot_settings(slack), tmp_path / "o.sqlite")
    await alerting.start()
    await alerting.record([make_alert("a1")])
    stats = await alerting.wait_for(lambda s: s.sinks["oncall"].dead_lettered == 1)
    assert stats.sinks["oncall"].sent == 0 and len(slack.calls) == 1
    [letter] = alerting.outbox.dead_letters()
    assert "invalid_auth" in letter.reason and "xoxb" not in letter.reason


async def test_ratelimited_waits_for_retry_after_and_posts_once(tmp_path: Path, slack: FakeSlack, running) -> None:
    clock = FakeClock()
    alerting: Alerting = running(bot_settings(slack), tmp_path / "o.sqlite", clock=clock)
    slack.fail("chat.postMessage", Fail("ratelimited", status=429, headers={"Retry-After": "30"}))
    await alerting.start()
    await alerting.record([make_alert("a1")])
    await alerting.wait_for(lambda s: s.sinks["oncall"].rate_limited == 1)
    clock.advance(30)
    alerting.wake()
    stats = await alerting.wait_for(lambda s: s.sinks["oncall"].sent == 1)
    assert stats.sinks["oncall"].retried == 1
    assert len(slack.parents()) == 1 and len(slack.ok_calls("chat.postMessage")) == 1


async def test_a_deleted_first_message_is_posted_again_and_rerecorded(tmp_path: Path, slack: FakeSlack) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    sink = sink_for(slack, outbox)
    try:
        await sink.send(notice(make_alert("a1")))
        old = slack.parents()[0].ts
        del slack.messages[old]  # someone deleted it in Slack
        await sink.send(notice(make_alert("a1", count=2), KIND_UPDATE, "d2"))
        thread = outbox.thread("oncall", "a1")
        assert thread is not None and thread.ts != old
        [fresh] = slack.parents()
        assert fresh.ts == thread.ts and "*Count*\\n2" in text_of(fresh.payload)
        assert slack.replies(thread.ts) == []  # the fresh message is the update
        await sink.send(notice(make_alert("a1", count=3), KIND_UPDATE, "d3"))
        assert len(slack.replies(thread.ts)) == 1 and fresh.updates == 1
    finally:
        await sink.close()
        outbox.close()


async def test_a_frozen_first_message_still_gets_the_reply(tmp_path: Path, slack: FakeSlack) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    sink = sink_for(slack, outbox)
    try:
        await sink.send(notice(make_alert("a1")))
        slack.fail("chat.update", Fail("edit_window_closed"))
        await sink.send(notice(make_alert("a1", count=2), KIND_UPDATE, "d2"))
        assert len(slack.replies(slack.parents()[0].ts)) == 1
    finally:
        await sink.close()
        outbox.close()


async def test_threads_are_per_sink_and_alert(tmp_path: Path, slack: FakeSlack) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    sink = sink_for(slack, outbox)
    try:
        await sink.send(notice(make_alert("a1")))
        await sink.send(notice(make_alert("a2"), delivery_id="d2"))
        await sink.send(notice(make_alert("a2", count=2), KIND_UPDATE, "d3"))
        first, second = slack.parents()
        assert slack.replies(first.ts) == [] and len(slack.replies(second.ts)) == 1
        assert outbox.thread("other-sink", "a1") is None
    finally:
        await sink.close()
        outbox.close()


def test_bot_token_config_parses_and_describes_without_the_token() -> None:
    settings = settings_from({"sinks": [{"name": "oncall", "type": "slack", "bot_token_file": "/run/secrets/slack",
                                         "channel": "C0ONCALL1"}]})
    [sink] = settings.sinks
    assert isinstance(sink.options, SlackOptions) and sink.options.url is None
    assert sink.options.token is not None and sink.options.token.file == "/run/secrets/slack"
    assert sink.options.api_url == "https://slack.com/api"
    assert describe_sink(sink) == {"name": "oncall", "type": "slack", "min_severity": "info",
                                   "bot_token": "file /run/secrets/slack", "channel": "C0ONCALL1"}


@pytest.mark.parametrize(("entry", "expected"), [
    ({"bot_token_env": "T"}, "sinks[0].channel: required"),
    ({"bot_token_env": "T", "channel": "<!here>"}, "sinks[0].channel: must be a channel ID"),
    ({"bot_token_env": "T", "channel": "#oncall", "webhook_url_env": "W"},
     "sinks[0].webhook_url_env: give a webhook URL or a bot token, not both"),
    ({"bot_token": BOT_TOKEN, "channel": "#oncall"}, "sinks[0].bot_token: secrets are not written in the config"),
    ({"bot_token_env": "T", "channel": "#oncall", "api_url": "slack.com/api"},
     "sinks[0].api_url: must start with http:// or https://"),
    ({"webhook_url_env": "W", "channel": "#oncall"}, "sinks[0].channel: unknown key"),
])
def test_bot_token_config_errors(entry: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from({"sinks": [{"type": "slack", **entry}]})
    assert any(e.startswith(expected) for e in caught.value.errors), caught.value.errors
    assert all(BOT_TOKEN not in e for e in caught.value.errors)


def test_a_thread_is_kept_as_long_as_its_alert(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    try:
        outbox.record([(make_alert("a1"), "g", [])], T0)
        outbox.save_thread("oncall", "a1", Thread(CHANNEL_ID, "1.000001", "d1"), T0)
        outbox.mark_step("oncall", "d2", "reply", T0)
        outbox.prune(T0 + 10, retention_seconds=100)
        assert outbox.thread("oncall", "a1") is not None and outbox.step_done("oncall", "d2", "reply")
        outbox.prune(T0 + 1000, retention_seconds=100)
        assert outbox.thread("oncall", "a1") is None and not outbox.step_done("oncall", "d2", "reply")
    finally:
        outbox.close()
