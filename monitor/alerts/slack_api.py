"""Slack Web API calls (chat.postMessage, chat.update) with a bot token, every failure a DeliveryError.

Slack answers most failures with HTTP 200 and `{"ok": false, "error": "<code>"}`;
rate limiting comes as HTTP 429 with Retry-After (and `error: ratelimited`).
The codes map to the worker's handling: a wrong token, scope or channel can
never succeed (permanent: dead-lettered at once, and the sink-failing alert
says so); Slack-side trouble is retried; an answer that is not Slack's JSON
may mean the message was posted (ambiguous). Unknown codes are retried until
the sink's max age rather than dropped.

The token goes only into the Authorization header; errors carry Slack's short
code, never the token or the response text.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from monitor.alerts.base import DeliveryError
from monitor.alerts.http import check_status, parse_retry_after, post, safe_token
from monitor.alerts.secrets import Secret

# chat.postMessage echoes the whole message back: read enough of it to find `ts` and `channel`.
RESPONSE_LIMIT = 1024 * 1024

# Codes no retry can fix: the token, its scopes, the channel or the message itself is wrong.
PERMANENT = frozenset({
    "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "no_permission",
    "missing_scope", "not_allowed_token_type", "team_access_not_granted", "access_denied", "ekm_access_denied",
    "channel_not_found", "not_in_channel", "is_archived", "restricted_action", "invalid_blocks",
    "invalid_blocks_format", "msg_too_long", "no_text", "too_many_attachments", "invalid_arguments",
    "invalid_arg_name", "invalid_charset", "invalid_form_data", "invalid_post_type", "missing_post_type",
    "unknown_method", "method_deprecated", "deprecated_endpoint",
})
RATE_LIMITED = frozenset({"ratelimited", "rate_limited"})


class SlackApiError(DeliveryError):
    """Slack's `ok: false`; `code` is its error code, for the few the sink handles itself."""

    def __init__(self, code: str, method: str, *, retry_after: float | None = None) -> None:
        detail = f"{method}: {code}"
        if code in RATE_LIMITED:
            super().__init__("rate_limited", detail, retry_after=retry_after, rate_limited=True)
        elif code in PERMANENT:
            super().__init__("rejected", detail, permanent=True)
        else:
            super().__init__("slack_error", detail, retry_after=retry_after)
        self.code = code


def slack_reply(method: str, status: int, retry_after: str | None, body: bytes) -> dict[str, Any]:
    """The answer of a successful call; raises DeliveryError for every other one."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = None
    if status == 429 or not 200 <= status < 300:
        if isinstance(answer, dict) and isinstance(answer.get("error"), str) and status != 429:
            raise SlackApiError(safe_token(answer["error"]) or "unknown", method,
                                retry_after=parse_retry_after(retry_after))
        check_status(status, retry_after, body if answer is None else b"")
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        # Not Slack's JSON (a proxy's page, a cut-off body): the message may have been posted.
        raise DeliveryError("bad_response", f"{method}: the answer is not Slack's JSON", ambiguous=True)
    if not answer["ok"]:
        code = answer.get("error")
        raise SlackApiError((safe_token(code) if isinstance(code, str) else "") or "unknown", method,
                            retry_after=parse_retry_after(retry_after))
    return answer


class SlackApi:
    def __init__(self, token: Secret, base_url: str, timeout_seconds: float) -> None:
        self._token = token
        self._base = base_url.rstrip("/")
        self._timeout = timeout_seconds

    def __repr__(self) -> str:
        return f"SlackApi(base_url={self._base!r})"

    async def call(self, session: aiohttp.ClientSession, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "Authorization": f"Bearer {self._token.reveal()}"}
        status, retry_after, body = await post(session, Secret(f"{self._base}/{method}"), orjson.dumps(payload),
                                               headers, self._timeout, read_limit=RESPONSE_LIMIT)
        return slack_reply(method, status, retry_after, body)


def message_ts(method: str, answer: dict[str, Any]) -> tuple[str, str]:
    """(channel ID, ts) of the message a call posted or updated."""
    channel, ts = answer.get("channel"), answer.get("ts")
    if not isinstance(channel, str) or not isinstance(ts, str) or not channel or not ts:
        raise DeliveryError("bad_response", f"{method}: the answer has no channel and ts", ambiguous=True)
    return channel, ts
