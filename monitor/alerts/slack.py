"""Slack incoming-webhook sink: one Block Kit message per notice (see slack_format)."""

from __future__ import annotations

import aiohttp
import orjson

from monitor.alerts.base import Notice
from monitor.alerts.http import check_status, post
from monitor.alerts.secrets import Secret
from monitor.alerts.sink_settings import SinkSettings
from monitor.alerts.slack_format import build_message

USER_AGENT = "trailsentry"


class SlackSink:
    kind = "slack"

    def __init__(self, settings: SinkSettings, url: Secret) -> None:
        self.name = settings.name
        self._url = url
        self._timeout = settings.timeout_seconds
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"SlackSink(name={self.name!r})"

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})

    async def send(self, notice: Notice) -> None:
        await self.start()
        assert self._session is not None
        payload = orjson.dumps(build_message(notice))
        status, retry_after, body = await post(self._session, self._url, payload,
                                               {"Content-Type": "application/json"}, self._timeout)
        check_status(status, retry_after, body)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
