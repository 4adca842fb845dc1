"""What the two CloudWatch Logs sources share: FilterLogEvents windows, de-duplication, batch bytes.

CloudTrail delivers one event per log message, so a page of log events
becomes one batch of JSON Lines (messages joined by b"\\n"). `FilterLogEvents`
selects by event timestamp, while events can be ingested minutes after their
timestamp: readers re-read an overlap before their cursor and skip what they
already emitted with a bounded memory of keys (`RecentKeys`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any

from monitor.aws.backoff import Backoff, error_code, is_throttle
from monitor.sources.base import SourceStats
from monitor.sources.settings import FetchSettings

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
LogEvent = Mapping[str, Any]

# Retries of one page on throttling before the window is given up (and read again next time).
PAGE_THROTTLE_RETRIES = 5


class RecentKeys:
    """A bounded set that forgets its oldest keys first (de-duplication over an overlap)."""

    __slots__ = ("_keys", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._keys: OrderedDict[Hashable, None] = OrderedDict()

    def add(self, key: Hashable) -> bool:
        """Remember `key`; False if it was already remembered."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self.capacity:
            self._keys.popitem(last=False)
        return True

    def discard(self, key: Hashable) -> None:
        self._keys.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)


def page_bytes(events: Sequence[LogEvent]) -> bytes:
    """Messages as JSON Lines. A raw newline inside a message can only be JSON whitespace, so it becomes a space."""
    lines = []
    for event in events:
        message = event.get("message")
        if not isinstance(message, str):
            continue
        lines.append(message.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace"))
    return b"\n".join(lines)


def landed_at(events: Sequence[LogEvent]) -> float | None:
    """The newest ingestion time of a page, epoch seconds (for delivery-lag metrics)."""
    newest = max((e["ingestionTime"] for e in events if isinstance(e.get("ingestionTime"), int)), default=None)
    return None if newest is None else newest / 1000.0


def timestamps(events: Sequence[LogEvent]) -> list[int]:
    return [e["timestamp"] for e in events if isinstance(e.get("timestamp"), int)]


def content_key(group: str, event: LogEvent) -> bytes:
    """A key for one log event that Live Tail and FilterLogEvents agree on (Live Tail results carry no eventId)."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (group, event.get("logStreamName"), event.get("timestamp")):
        digest.update(str(part).encode("utf-8", "replace"))
        digest.update(b"\0")
    message = event.get("message")
    digest.update(message.encode("utf-8", "replace") if isinstance(message, str) else b"")
    return digest.digest()


def now_ms(clock: Callable[[], float]) -> int:
    return int(clock() * 1000)


def describe_error(exc: BaseException) -> str:
    """An error for the log: the AWS code and message, never request details or credentials."""
    code = error_code(exc)
    if code:
        response: Any = getattr(exc, "response", {})
        message = response.get("Error", {}).get("Message", "") if isinstance(response, dict) else ""
        return f"{code}: {str(message)[:200]}" if message else code
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def count_error(stats: SourceStats, source: str, operation: str, target: str, exc: BaseException) -> None:
    """Count an API error as a throttle or an error and log it with where it happened."""
    throttled = is_throttle(exc)
    stats.api_failure(throttled, operation)
    if throttled:
        log.warning("source %s: %s on %s throttled: %s", source, operation, target, describe_error(exc))
    else:
        log.warning("source %s: %s on %s failed: %s", source, operation, target, describe_error(exc))


async def filter_pages(
    client: Any,
    group: str,
    start_ms: int,
    end_ms: int,
    fetch: FetchSettings,
    *,
    source: str,
    stats: SourceStats,
    backoff: Backoff,
    sleep: Sleep = asyncio.sleep,
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield each page of FilterLogEvents over [start_ms, end_ms], following nextToken.

    A throttled page is retried after a backoff delay (counted); any other error,
    or throttling that outlasts the retries, propagates to the caller.
    """
    arguments: dict[str, Any] = {"logGroupName": group, "startTime": start_ms, "endTime": end_ms}
    if fetch.log_stream_prefix:
        arguments["logStreamNamePrefix"] = fetch.log_stream_prefix
    if fetch.filter_pattern:
        arguments["filterPattern"] = fetch.filter_pattern
    if fetch.page_size:
        arguments["limit"] = fetch.page_size
    seen_tokens: set[str] = set()
    throttled = 0
    while True:
        stats.api_call("FilterLogEvents")
        try:
            response = await client.filter_log_events(**arguments)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not is_throttle(exc) or throttled >= PAGE_THROTTLE_RETRIES:
                raise
            throttled += 1
            count_error(stats, source, "FilterLogEvents", group, exc)
            await sleep(backoff.next_delay())
            continue
        stats.last_success = time.time()
        backoff.reset()
        throttled = 0
        events = [e for e in response.get("events") or () if isinstance(e, dict)]
        stats.add("log_events_read", len(events))
        yield events
        token = response.get("nextToken")
        # A repeated token would loop forever; CloudWatch never sends one, but be safe.
        if not isinstance(token, str) or not token or token in seen_tokens:
            return
        seen_tokens.add(token)
        arguments["nextToken"] = token
