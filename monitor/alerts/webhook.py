"""Generic webhook sink: the alert JSON POSTed as is, optionally signed.

Headers on every request: `X-Trailsentry-Alert-Id` (the episode id, also in
the body), `X-Trailsentry-Delivery-Id` (the same on every retry of one
message: de-duplicate on it), `X-Trailsentry-Kind` (new, update, escalation,
repeat) and `X-Trailsentry-Repeats` ("+N more"). With a secret, also
`X-Trailsentry-Timestamp` (Unix seconds) and
`X-Trailsentry-Signature: sha256=<hex>`, the HMAC-SHA256 of
`<timestamp>.<body>`: the timestamp is signed with the body so a receiver that
rejects old timestamps bounds replay.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

import aiohttp

from monitor.alerts.base import Notice
from monitor.alerts.http import check_status, post
from monitor.alerts.secrets import Secret
from monitor.alerts.sink_settings import SinkSettings

USER_AGENT = "trailsentry"


def signature(secret: Secret, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.reveal().encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class WebhookSink:
    kind = "webhook"

    def __init__(self, settings: SinkSettings, url: Secret, secret: Secret | None,
                 headers: dict[str, Secret], clock: Callable[[], float] = time.time) -> None:
        self.name = settings.name
        self._url = url
        self._secret = secret
        self._headers = headers
        self._timeout = settings.timeout_seconds
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"WebhookSink(name={self.name!r})"

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})

    def headers(self, notice: Notice) -> dict[str, str]:
        headers = {name: value.reveal() for name, value in self._headers.items()}
        headers.update({
            "Content-Type": "application/json",
            "X-Trailsentry-Alert-Id": notice.alert.id,
            "X-Trailsentry-Delivery-Id": notice.delivery_id,
            "X-Trailsentry-Kind": notice.kind,
            "X-Trailsentry-Repeats": str(notice.repeats),
        })
        if self._secret is not None:
            timestamp = str(int(self._clock()))
            headers["X-Trailsentry-Timestamp"] = timestamp
            headers["X-Trailsentry-Signature"] = signature(self._secret, timestamp, notice.body)
        return headers

    async def send(self, notice: Notice) -> None:
        await self.start()
        assert self._session is not None
        status, retry_after, body = await post(self._session, self._url, notice.body, self.headers(notice),
                                               self._timeout)
        check_status(status, retry_after, body)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
