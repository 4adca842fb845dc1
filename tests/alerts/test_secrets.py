"""Webhook URLs carry tokens: they must not reach logs, exception text, stats or reprs."""

from __future__ import annotations

import asyncio
import logging
import traceback
from pathlib import Path

import pytest

from monitor.alerts.base import KIND_NEW, DeliveryError, Notice
from monitor.alerts.secrets import Secret
from monitor.alerts.sink_settings import SinkSettings, WebhookOptions
from monitor.alerts.slack import SlackSink
from monitor.alerts.webhook import WebhookSink
from tests.alerts.conftest import TOKEN, Receiver, Reply, closed_port, http_sink, make_alert, settings_from


def notice() -> Notice:
    alert = make_alert("a1")
    return Notice(alert=alert, body=alert.to_json(), delivery_id="d1", kind=KIND_NEW)


def sink_settings(timeout: float = 5.0) -> SinkSettings:
    return SinkSettings(name="hook", kind="webhook", options=WebhookOptions(url=None), timeout_seconds=timeout)  # type: ignore[arg-type]


async def _error(sink: WebhookSink | SlackSink) -> DeliveryError:
    try:
        with pytest.raises(DeliveryError) as caught:
            await sink.send(notice())
        return caught.value
    finally:
        await sink.close()


def _all_text(error: BaseException) -> str:
    return str(error) + repr(error) + "".join(traceback.format_exception(error))


@pytest.mark.parametrize("url", [
    f"http://127.0.0.1:{closed_port()}/hook/{TOKEN}",
    f"http://127.0.0.1:99999999/hook/{TOKEN}",
    f"http//not a url/{TOKEN}",
])
async def test_connection_and_url_errors_do_not_carry_the_url(url: str) -> None:
    error = await _error(WebhookSink(sink_settings(), Secret(url), None, {}))
    assert TOKEN not in _all_text(error)
    assert error.__cause__ is None and error.__suppress_context__


async def test_timeout_and_status_errors_do_not_carry_the_url(receiver: Receiver) -> None:
    release = asyncio.Event()
    receiver.script = [Reply(200, hold=release), Reply(500, body=f"error at {TOKEN}")]
    url = Secret(receiver.url(f"/hook/{TOKEN}"))
    timeout = await _error(WebhookSink(sink_settings(timeout=0.1), url, None, {}))
    release.set()
    status = await _error(SlackSink(sink_settings(), url))
    for error in (timeout, status):
        assert TOKEN not in _all_text(error)
    assert timeout.reason == "timeout" and timeout.ambiguous
    assert status.reason == "http_status" and "500" in str(status)


async def test_failing_webhook_url_appears_in_no_log_or_stat(tmp_path: Path, receiver: Receiver, running,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{closed_port()}/hook/{TOKEN}")
    monkeypatch.setenv("SLACK_URL", receiver.url(f"/services/{TOKEN}"))
    receiver.default = Reply(500, body=TOKEN)
    settings = settings_from({"sinks": [http_sink("webhook", "HOOK_URL"), http_sink("slack", "SLACK_URL")],
                              "alerting": {"sink_failing": {"consecutive_failures": 2}}})
    with caplog.at_level(logging.DEBUG):
        alerting = running(settings, tmp_path / "o.sqlite")
        await alerting.start()
        await alerting.record([make_alert("a1")])
        stats = await alerting.wait_for(lambda s: s.sinks["webhook"].failed >= 3 and s.sinks["slack"].failed >= 3
                                        and s.sinks["webhook"].failing and s.sinks["slack"].failing)
        rows = alerting.outbox.deliveries()
        await alerting.stop(deadline_seconds=0)
    assert caplog.records
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        if record.exc_info:
            assert TOKEN not in "".join(traceback.format_exception(*record.exc_info))
    assert TOKEN not in repr(stats)
    assert TOKEN not in repr(settings)
    assert rows and TOKEN not in repr(rows)
