"""One HTTP POST for the Slack and webhook sinks, with every failure turned into a URL-free DeliveryError.

aiohttp's exceptions put the request URL in their text; for a Slack
incoming webhook the URL *is* the credential. So nothing from them is kept:
each becomes a fixed reason, and the original is dropped (`from None`).
Redirects are not followed (a redirected webhook is a misconfiguration).
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time

import aiohttp

from monitor.alerts.base import DeliveryError
from monitor.alerts.secrets import Secret

MAX_RETRY_AFTER_SECONDS = 3600.0
_SAFE_TOKEN = re.compile(r"^[a-z0-9_]{1,64}$")
_RESPONSE_READ_LIMIT = 4096


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), clamped to an hour."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    seconds: float
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def safe_token(text: str) -> str:
    """A receiver's short error code (Slack's `invalid_blocks`) if it looks like one, else nothing."""
    token = text.strip()
    return token if _SAFE_TOKEN.match(token) else ""


def check_status(status: int, retry_after: str | None, body: bytes) -> None:
    """Raise DeliveryError unless `status` confirms delivery."""
    if 200 <= status < 300:
        return
    code = safe_token(body[:64].decode("utf-8", "replace"))
    detail = f"HTTP {status}" + (f" {code}" if code else "")
    if status == 429:
        raise DeliveryError("rate_limited", detail, retry_after=parse_retry_after(retry_after), rate_limited=True)
    if status in (400, 413, 422):
        # The receiver rejected this payload; sending it again cannot succeed.
        raise DeliveryError("rejected", detail, permanent=True)
    raise DeliveryError("http_status", detail, retry_after=parse_retry_after(retry_after) if status == 503 else None)


async def post(session: aiohttp.ClientSession, url: Secret, body: bytes, headers: dict[str, str],
               timeout_seconds: float, read_limit: int = _RESPONSE_READ_LIMIT) -> tuple[int, str | None, bytes]:
    """POST and return (status, Retry-After, the first `read_limit` bytes of the response body)."""
    try:
        async with session.post(url.reveal(), data=body, headers=headers, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout_seconds)) as response:
            text = await _read(response, read_limit)
            return response.status, response.headers.get("Retry-After"), text
    except TimeoutError:
        raise DeliveryError("timeout", f"no response within {timeout_seconds:g}s", ambiguous=True) from None
    except aiohttp.InvalidURL:
        raise DeliveryError("config", "the configured URL is not valid", permanent=True) from None
    except aiohttp.ClientConnectorError as exc:
        errno = exc.os_error.errno if exc.os_error is not None else None
        raise DeliveryError("connection", f"could not connect (errno {errno})") from None
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError):
        raise DeliveryError("connection", "connection lost during the request", ambiguous=True) from None
    except aiohttp.ClientError as exc:
        raise DeliveryError("http_error", type(exc).__name__, ambiguous=True) from None
    except asyncio.CancelledError:
        raise
    except (OSError, ValueError) as exc:
        raise DeliveryError("connection", type(exc).__name__, ambiguous=True) from None


async def _read(response: aiohttp.ClientResponse, limit: int) -> bytes:
    # StreamReader.read(n) may return fewer bytes than are coming: read until the limit or the end.
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
