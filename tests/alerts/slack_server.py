"""A real HTTP server on 127.0.0.1 imitating the parts of Slack's Web API the bot sink calls.

`chat.postMessage` and `chat.update` keep messages the way Slack does: each
post gets a new `ts` in a channel (a name is answered with the channel's ID),
a reply names its parent with `thread_ts`, an update replaces a message's
text and blocks. Failures are scripted per method as Slack sends them: HTTP
200 with `ok: false`, HTTP 429 with Retry-After, or an answer that is not JSON.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

BOT_TOKEN = "xoxb-111-222-botsecrettoken"
CHANNEL_ID = "C0ONCALL1"


@dataclass
class Call:
    method: str
    payload: dict[str, Any]
    authorization: str
    status: int
    answer: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        return self.answer is not None and bool(self.answer.get("ok"))


@dataclass
class Fail:
    """One scripted failure for the next call of a method."""

    error: str = ""  # ok: false with this error code
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None  # a body that is not Slack's JSON


@dataclass
class Message:
    channel: str
    ts: str
    payload: dict[str, Any]
    thread_ts: str | None = None
    updates: int = 0


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[str, Message] = {}
        self.failures: dict[str, list[Fail]] = {}
        self.port = 0
        self._next_ts = 0
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def fail(self, method: str, *failures: Fail) -> None:
        self.failures.setdefault(method, []).extend(failures)

    def ok_calls(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.ok]

    def parents(self) -> list[Message]:
        return [m for m in self.messages.values() if m.thread_ts is None]

    def replies(self, ts: str) -> list[Message]:
        return [m for m in self.messages.values() if m.thread_ts == ts]

    async def wait_calls(self, count: int, timeout_seconds: float = 20.0) -> list[Call]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.calls) >= count), timeout_seconds)
        return list(self.calls)

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        payload = orjson.loads(await request.read())
        authorization = request.headers.get("Authorization", "")
        status, headers, answer, raw = self._answer(method, payload, authorization)
        async with self._changed:
            self.calls.append(Call(method, payload, authorization, status, answer))
            self._changed.notify_all()
        if raw is not None:
            return web.Response(status=status, text=raw, headers=headers)
        return web.Response(status=status, body=orjson.dumps(answer), headers=headers,
                            content_type="application/json")

    def _answer(self, method: str, payload: dict[str, Any],
                authorization: str) -> tuple[int, dict[str, str], dict[str, Any] | None, str | None]:
        scripted = self.failures.get(method)
        if scripted:
            fail = scripted.pop(0)
            if fail.raw is not None:
                return fail.status, fail.headers, None, fail.raw
            return fail.status, fail.headers, {"ok": False, "error": fail.error}, None
        if authorization != f"Bearer {BOT_TOKEN}":
            return 200, {}, {"ok": False, "error": "invalid_auth"}, None
        channel = payload.get("channel")
        if channel not in ("#oncall", CHANNEL_ID):
            return 200, {}, {"ok": False, "error": "channel_not_found"}, None
        if method == "chat.postMessage":
            self._next_ts += 1
            ts = f"1700000000.{self._next_ts:06d}"
            self.messages[ts] = Message(CHANNEL_ID, ts, payload, payload.get("thread_ts"))
            return 200, {}, {"ok": True, "channel": CHANNEL_ID, "ts": ts, "message": payload}, None
        if method == "chat.update":
            message = self.messages.get(str(payload.get("ts")))
            if message is None or channel != CHANNEL_ID:
                return 200, {}, {"ok": False, "error": "message_not_found"}, None
            message.payload = payload
            message.updates += 1
            return 200, {}, {"ok": True, "channel": CHANNEL_ID, "ts": message.ts, "text": payload.get("text")}, None
        return 200, {}, {"ok": False, "error": "unknown_method"}, None
