"""Slack sink: an incoming webhook (one message per notice) or a bot token (one thread per alert).

With an incoming webhook every notice is its own Block Kit message; one after
the first names the alert or incident it updates ("Update to incident <id>").

With a bot token (scope `chat:write`, the bot invited to the channel) the
first notice of an alert id is posted with `chat.postMessage` and its channel
and `ts` are recorded in the outbox (`outbox_threads`, per sink and alert id),
so a retry, a restart or another delivery keeps threading. Each later notice
(update, escalation, "+N more", final count) is then:

1. `chat.update` of that first message with the alert's newest state (title,
   severity, count, an incident's timeline). `message_not_found` (someone
   deleted it) posts a fresh first message and records it; that message is
   the update. `cant_update_message` / `edit_window_closed` leave it as is.
2. a reply in its thread (`chat.postMessage` with `thread_ts`); an escalation
   is also shown in the channel (`reply_broadcast`).

Idempotency per delivery id (the worker retries a failed notice with the
same id): the recorded thread says whether this delivery already posted the
first message, and `outbox_steps` whether it already replied, so a retry
after a partial success does only what is left (`chat.update` is safe to
repeat). Slack has no idempotency key, so after an *ambiguous* failure (a
timeout, a cut connection: it may have been posted):
- the first message is posted again (at least once: a page is not lost, at
  the price of a rare duplicate);
- a thread reply is not (at most once: the refreshed first message already
  shows the newest state, and duplicate replies are noise).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
import orjson

from monitor.alerts.base import KIND_ESCALATION, DeliveryError, Notice
from monitor.alerts.http import check_status, post
from monitor.alerts.outbox_schema import Thread
from monitor.alerts.secrets import Secret
from monitor.alerts.sink_settings import SLACK_API_URL, SinkSettings
from monitor.alerts.slack_api import SlackApi, SlackApiError, message_ts
from monitor.alerts.slack_format import build_message, build_parent, build_reply

USER_AGENT = "trailsentry"
REPLY_STEP = "reply"
# chat.update answers that mean "the first message is gone": post a new one.
_PARENT_GONE = frozenset({"message_not_found"})
# ... and that mean "it stays as it is" (edit window or permission): reply only.
_PARENT_FROZEN = frozenset({"cant_update_message", "edit_window_closed"})


class ThreadStore(Protocol):
    """Where threads and finished steps are recorded: the outbox (monitor/alerts/outbox.py)."""

    def thread(self, sink: str, alert_id: str) -> Thread | None: ...

    def save_thread(self, sink: str, alert_id: str, thread: Thread, now: float) -> None: ...

    def step_done(self, sink: str, delivery_id: str, step: str) -> bool: ...

    def mark_step(self, sink: str, delivery_id: str, step: str, now: float) -> None: ...


class SlackSink:
    kind = "slack"

    def __init__(self, settings: SinkSettings, url: Secret | None = None, *, token: Secret | None = None,
                 channel: str = "", api_url: str = SLACK_API_URL, clock: Callable[[], float] = time.time) -> None:
        if (url is None) == (token is None):
            raise ValueError("a Slack sink takes a webhook URL or a bot token")
        self.name = settings.name
        self._url = url
        self._api = SlackApi(token, api_url, settings.timeout_seconds) if token is not None else None
        self._channel = channel
        self._timeout = settings.timeout_seconds
        self._clock = clock
        self._store: ThreadStore | None = None
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"SlackSink(name={self.name!r}, mode={'bot' if self._api else 'webhook'})"

    @property
    def threads(self) -> bool:
        """True when this sink posts with a bot token and threads updates (it needs `bind`)."""
        return self._api is not None

    def bind(self, store: ThreadStore) -> None:
        self._store = store

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})

    async def send(self, notice: Notice) -> None:
        await self.start()
        assert self._session is not None
        if self._api is None:
            assert self._url is not None
            payload = orjson.dumps(build_message(notice))
            status, retry_after, body = await post(self._session, self._url, payload,
                                                   {"Content-Type": "application/json"}, self._timeout)
            check_status(status, retry_after, body)
            return
        if self._store is None:
            raise DeliveryError("config", "the Slack bot sink has no outbox to record threads in", permanent=True)
        await self._send_threaded(notice, self._api, self._store, self._session)

    async def _send_threaded(self, notice: Notice, api: SlackApi, store: ThreadStore,
                             session: aiohttp.ClientSession) -> None:
        alert_id = notice.alert.id
        thread = store.thread(self.name, alert_id)
        if thread is None:
            await self._post_first(notice, api, store, session, build_message(notice))
            return
        if thread.delivery_id == notice.delivery_id:
            return  # this delivery posted the first message; only marking it delivered was missed
        try:
            await api.call(session, "chat.update", {"channel": thread.channel, "ts": thread.ts,
                                                    **build_parent(notice)})
        except SlackApiError as error:
            if error.code in _PARENT_GONE:
                await self._post_first(notice, api, store, session, build_parent(notice))
                return
            if error.code not in _PARENT_FROZEN:
                raise
        if store.step_done(self.name, notice.delivery_id, REPLY_STEP):
            return
        reply: dict[str, Any] = {"channel": thread.channel, "thread_ts": thread.ts, **build_reply(notice)}
        if notice.kind == KIND_ESCALATION:
            reply["reply_broadcast"] = True
        try:
            await api.call(session, "chat.postMessage", reply)
        except DeliveryError as error:
            if error.ambiguous:
                store.mark_step(self.name, notice.delivery_id, REPLY_STEP, self._clock())
            raise
        store.mark_step(self.name, notice.delivery_id, REPLY_STEP, self._clock())

    async def _post_first(self, notice: Notice, api: SlackApi, store: ThreadStore,
                          session: aiohttp.ClientSession, message: dict[str, Any]) -> None:
        answer = await api.call(session, "chat.postMessage", {"channel": self._channel, **message})
        channel, ts = message_ts("chat.postMessage", answer)
        store.save_thread(self.name, notice.alert.id, Thread(channel, ts, notice.delivery_id), self._clock())

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

