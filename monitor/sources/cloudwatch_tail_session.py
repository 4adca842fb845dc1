"""One Live Tail session: a response stream read until the session limit, its end or an error.

`TailSession.follow(stream)` takes any async iterator of stream events (what
StartLiveTail returns, or what a test drives), hands each `sessionStart` and
`sessionUpdate` on in stream order, and reports how the session ended
(`SessionEnd`) so the source can decide how to reconnect.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from monitor.aws.backoff import error_code
from monitor.sources.cloudwatch_common import now_ms

StreamEvent = Mapping[str, Any]

EndReason = Literal["limit", "timeout", "closed", "error"]


@dataclass(slots=True)
class SessionEnd:
    reason: EndReason  # limit: ours; timeout: CloudWatch's; closed: the stream ended; error: it failed
    started: bool  # a sessionStart arrived
    last_message_ms: int | None  # when the stream last said something (its coverage reaches there)
    error: BaseException | None = None


class TailSession:
    """Reads one Live Tail response stream, handing each update on, until it ends.

    `on_start(session_id, received_ms)` and `on_update(results, sampled, received_ms)`
    are awaited in stream order; the stream is not read while they run.
    """

    def __init__(
        self,
        *,
        session_seconds: float,
        clock: Callable[[], float],
        on_start: Callable[[str, int], Awaitable[None]],
        on_update: Callable[[list[dict[str, Any]], bool, int], Awaitable[None]],
    ) -> None:
        self._session_seconds = session_seconds
        self._clock = clock
        self._on_start = on_start
        self._on_update = on_update

    async def follow(self, stream: AsyncIterator[StreamEvent]) -> SessionEnd:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._session_seconds
        started = False
        last: int | None = None
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return SessionEnd("limit", started, last)
            try:
                async with asyncio.timeout(remaining):
                    event = await anext(stream)
            except TimeoutError:
                return SessionEnd("limit", started, last)
            except StopAsyncIteration:
                return SessionEnd("closed", started, last)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason: EndReason = "timeout" if error_code(exc) == "SessionTimeoutException" else "error"
                return SessionEnd(reason, started, last, exc)
            received = now_ms(self._clock)
            if not isinstance(event, Mapping):
                continue
            if "SessionTimeoutException" in event:
                return SessionEnd("timeout", started, last)
            if "SessionStreamingException" in event:
                return SessionEnd("error", started, last, _StreamError(str(event["SessionStreamingException"])))
            start = event.get("sessionStart")
            if isinstance(start, Mapping):
                started = True
                last = received
                await self._on_start(str(start.get("sessionId", "")), received)
                continue
            update = event.get("sessionUpdate")
            if isinstance(update, Mapping):
                metadata = update.get("sessionMetadata")
                sampled = isinstance(metadata, Mapping) and metadata.get("sampled") is True
                results = [r for r in update.get("sessionResults") or () if isinstance(r, dict)]
                if not started:
                    # Updates before sessionStart break the protocol; treat them as covering from now.
                    started = True
                    await self._on_start("", received)
                await self._on_update(results, sampled, received)
                last = received


class _StreamError(Exception):
    """A stream error that arrived as an event rather than as a raised exception."""
