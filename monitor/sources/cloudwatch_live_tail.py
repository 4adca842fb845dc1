"""Follow CloudTrail's CloudWatch Logs delivery with StartLiveTail, back-filling what the stream missed.

Live Tail pushes events about a second after ingestion, but a session lasts at
most three hours, may sample when the volume is high, and can drop. So:

- `TailSession` (monitor/sources/cloudwatch_tail_session.py) reads one response
  stream (any async iterator of stream events, which is what tests drive) until
  the session limit, the end of the stream or an error, and reports what it saw.
- `LiveTailSource` reconnects (at once after the limit, with backoff after
  errors or a stream that ended early) and keeps a record of the spans the
  stream did not cover: the time between sessions, sampled updates, released
  batches, and before the first session the span since the checkpoint. The
  back-fill (monitor/sources/cloudwatch_backfill.py) reads those spans with
  FilterLogEvents once they have settled, minus an overlap for late ingestion,
  and while no session is up it keeps polling like the `cloudwatch-logs` source,
  so an outage loses nothing.

Live Tail results carry no eventId, so both paths de-duplicate by a digest of
(log group, stream, timestamp, message). The checkpoint is a low-water mark:
the earliest time that is not yet both emitted and acknowledged. A restart
back-fills from it (minus the overlap); the engine's eventID memory absorbs the
events read twice.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiobotocore.config import AioConfig

from monitor.aws.backoff import Backoff
from monitor.sources.base import Batch, Emit, Source, SourceContext, SourceStats
from monitor.sources.cloudwatch_backfill import Backfill
from monitor.sources.cloudwatch_common import (
    RecentKeys,
    Sleep,
    content_key,
    count_error,
    describe_error,
    landed_at,
    now_ms,
    page_bytes,
    timestamps,
)
from monitor.sources.cloudwatch_tail_session import SessionEnd, StreamEvent, TailSession
from monitor.sources.settings import LiveTailSettings, group_name

KIND = "cloudwatch-live-tail"

log = logging.getLogger(__name__)
# Sessions starting, ending and reconnecting: `run` shows these at INFO without -v (monitor/cli.py).
sessions_log = logging.getLogger("trailsentry.sources.live_tail")

# A session that ends by itself sooner than this is treated like an error (backoff), so a
# server that closes streams at once is not reconnected in a hot loop.
HEALTHY_SESSION_SECONDS = 60.0

OpenStream = Callable[[Sequence[str]], AsyncIterator[StreamEvent]]


def create(name: str, settings: LiveTailSettings, context: SourceContext) -> Source:
    return LiveTailSource(name, settings, context)


# --- the source --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Outstanding:
    """An emitted batch waiting for ack/release."""

    earliest_ms: int
    latest_ms: int
    keys: list[bytes]


class LiveTailSource:
    def __init__(
        self,
        name: str,
        settings: LiveTailSettings,
        context: SourceContext,
        *,
        open_stream: OpenStream | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        backoff: Backoff | None = None,
        healthy_session_seconds: float = HEALTHY_SESSION_SECONDS,
    ) -> None:
        self.name = name
        self.kind = KIND
        self.stats = SourceStats()
        self._settings = settings
        self._context = context
        self._open_stream = open_stream or self._start_live_tail
        self._clock = clock
        self._sleep = sleep
        self.backoff = backoff or Backoff(1.0, 60.0)
        self._healthy_session_seconds = healthy_session_seconds
        self._seen = RecentKeys(settings.fetch.recent_event_ids)
        self._arns: dict[str, str] = {}  # log group name -> ARN, as Live Tail wants them
        self._emit: Emit | None = None
        self._tokens = itertools.count(1)
        self._outstanding: dict[int, _Outstanding] = {}
        self._live_mark: int | None = None  # the last time a live session said something
        self._session_live = False
        self._session_id = ""
        self._filter_client: Any = None
        self._tail_client: Any = None
        self.sessions = 0  # sessions opened (for tests and logs)
        self._backfill = Backfill(name, settings, self.stats, self._seen, client=self._logs_client,
                                  emit=self._emit_batch, saved=self._save_checkpoint, clock=clock, sleep=sleep)

    # -- Source protocol --

    def ready(self) -> bool:
        return self._session_live or (self.stats.last_success > 0 and self._backfill.uncovered_since is None)

    async def close(self) -> None:
        self._save_checkpoint()

    async def run(self, emit: Emit) -> None:
        self._emit = emit
        fetch = self._settings.fetch
        overlap = int(fetch.overlap_seconds * 1000)
        stored = self._context.checkpoints.get(self.name, "watermark")
        now = now_ms(self._clock)
        if stored is not None and stored.isdigit():
            self._backfill.uncovered_since = int(stored) - overlap
        elif fetch.start_at is not None:
            self._backfill.uncovered_since = int(fetch.start_at * 1000)
        else:
            self._backfill.uncovered_since = now - overlap
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._backfill.run(), name=f"{self.name}-backfill")
            tasks.create_task(self._session_loop(), name=f"{self.name}-sessions")

    # -- sessions --

    async def _session_loop(self) -> None:
        session = TailSession(session_seconds=self._settings.session_seconds, clock=self._clock,
                              on_start=self._session_started, on_update=self._session_update)
        loop = asyncio.get_running_loop()
        while True:
            self.sessions += 1
            self.stats.add("live_tail_sessions")
            opened = loop.time()
            stream: AsyncIterator[StreamEvent] | None = None
            try:
                stream = self._open_stream(await self._group_arns())
                end = await session.follow(stream)
            except asyncio.CancelledError:
                self._session_closed(None)
                raise
            except Exception as exc:  # resolving the ARNs failed
                end = SessionEnd("error", False, None, exc)
            finally:
                if stream is not None:
                    await _close_stream(stream)
            self._session_closed(end.last_message_ms if end.started else None)
            lasted = loop.time() - opened
            await self._after_session(end, lasted)

    async def _after_session(self, end: SessionEnd, lasted: float) -> None:
        what = (f"Live Tail session {self._session_id} ended ({end.reason}) after {lasted:.0f} s" if end.started
                else f"Live Tail session did not start ({end.reason})")
        self.stats.add("live_tail_reconnects")
        if end.reason in ("limit", "timeout"):  # the session's planned end: reconnect at once
            self.backoff.reset()
            sessions_log.info("source %s: %s; reconnecting", self.name, what)
            return
        if lasted >= self._healthy_session_seconds:
            self.backoff.reset()
        if end.reason == "error" and end.error is not None:
            count_error(self.stats, self.name, "StartLiveTail", ",".join(self._settings.log_groups), end.error)
        else:
            self.stats.add("live_tail_closed")
        delay = self.backoff.next_delay()
        sessions_log.info("source %s: %s; reconnecting in %.1f s", self.name, what, delay)
        await self._sleep(delay)

    async def _session_started(self, session_id: str, received_ms: int) -> None:
        self.stats.last_success = time.time()
        self._session_live = True
        self._session_id = session_id[:64] or "session"
        self._live_mark = received_ms
        self._backfill.covered_from(received_ms)
        sessions_log.info("source %s: Live Tail session %s started", self.name, self._session_id)
        self._save_checkpoint()

    def _session_closed(self, last_message_ms: int | None) -> None:
        if not self._session_live:
            return
        self._session_live = False
        # Everything after the last word from the stream is uncovered; the overlap catches late ingestion.
        covered = last_message_ms if last_message_ms is not None else now_ms(self._clock)
        self._backfill.uncovered_from(covered - int(self._settings.fetch.overlap_seconds * 1000))

    async def _session_update(self, results: list[dict[str, Any]], sampled: bool, received_ms: int) -> None:
        self.stats.last_success = time.time()
        previous = self._live_mark if self._live_mark is not None else received_ms
        self._live_mark = received_ms
        if sampled:
            self.stats.add("live_tail_sampled")
            earliest = min([previous, *timestamps(results)])
            self._backfill.add_gap(earliest - int(self._settings.fetch.overlap_seconds * 1000), received_ms)
        if not results:
            return
        self.stats.add("log_events_read", len(results))
        fresh: list[dict[str, Any]] = []
        keys: list[bytes] = []
        for result in results:
            identifier = result.get("logGroupIdentifier")
            key = content_key(group_name(identifier) if isinstance(identifier, str) else "", result)
            if self._seen.add(key):
                fresh.append(result)
                keys.append(key)
        self.stats.add("log_events_duplicate", len(results) - len(fresh))
        if fresh:
            await self._emit_batch(fresh, keys, f"cloudwatch-live-tail:{self._session_id}@{received_ms}")

    # -- batches and the checkpoint --

    async def _emit_batch(self, events: list[dict[str, Any]], keys: list[bytes], origin: str) -> None:
        assert self._emit is not None, "run() sets emit"
        stamps = timestamps(events) or [now_ms(self._clock)]
        token = next(self._tokens)
        self._outstanding[token] = _Outstanding(min(stamps), max(stamps), keys)

        async def ack() -> None:
            if self._outstanding.pop(token, None) is not None:
                self._save_checkpoint()

        async def release(reason: str) -> None:
            entry = self._outstanding.pop(token, None)
            if entry is None:
                return
            for key in entry.keys:
                self._seen.discard(key)
            self.stats.add("batches_released")
            log.info("source %s: batch %s released (%s); its span will be back-filled", self.name, origin, reason)
            self._backfill.add_gap(entry.earliest_ms, entry.latest_ms)

        data = page_bytes(events)
        batch = Batch(source=self.name, origin=f"{origin}#{token}", data=data, ack=ack, release=release,
                      landed_at=landed_at(events))
        self.stats.add("batches_emitted")
        self.stats.add("bytes_read", len(data))
        try:
            await self._emit(batch)
        except BaseException:
            await release("not emitted")
            raise

    def watermark(self) -> int:
        """The earliest time not yet both emitted and acknowledged, epoch milliseconds."""
        marks = [entry.earliest_ms for entry in self._outstanding.values()]
        marks.extend(self._backfill.marks())
        if self._live_mark is not None and self._session_live:
            marks.append(self._live_mark)
        return min(marks) if marks else now_ms(self._clock)

    def _save_checkpoint(self) -> None:
        checkpoints = self._context.checkpoints
        checkpoints.put(self.name, "watermark", str(max(0, self.watermark())))
        checkpoints.commit()

    # -- AWS --

    async def _group_arns(self) -> list[str]:
        """Live Tail wants ARNs; names are resolved once with DescribeLogGroups."""
        missing = [g for g in self._settings.log_groups if not g.startswith("arn:") and g not in self._arns]
        if missing:
            client = await self._logs_client()
            for name in missing:
                self.stats.api_call("DescribeLogGroups")
                response = await client.describe_log_groups(logGroupNamePrefix=name)
                for group in response.get("logGroups") or ():
                    if group.get("logGroupName") == name and isinstance(group.get("logGroupArn"), str):
                        self._arns[name] = group["logGroupArn"]
                if name not in self._arns:
                    raise LookupError(f"log group {name} not found")
        return [g if g.startswith("arn:") else self._arns[g] for g in self._settings.log_groups]

    async def _logs_client(self) -> Any:
        if self._filter_client is None:
            self._filter_client = await self._context.clients.client("logs", self._settings.aws)
        return self._filter_client

    async def _start_live_tail(self, arns: Sequence[str]) -> AsyncIterator[StreamEvent]:
        if self._tail_client is None:
            # Live Tail's endpoint carries a host prefix ("streaming-"), which an IP endpoint cannot take.
            config = AioConfig(inject_host_prefix=False) if self._settings.aws.endpoint_url else None
            self._tail_client = await self._context.clients.client("logs", self._settings.aws, config=config,
                                                                   variant="livetail")
        arguments: dict[str, Any] = {"logGroupIdentifiers": list(arns)}
        if self._settings.fetch.log_stream_prefix:
            arguments["logStreamNamePrefixes"] = [self._settings.fetch.log_stream_prefix]
        if self._settings.fetch.filter_pattern:
            arguments["logEventFilterPattern"] = self._settings.fetch.filter_pattern
        self.stats.api_call("StartLiveTail")
        response = await self._tail_client.start_live_tail(**arguments)
        stream = response["responseStream"]
        try:
            async for event in stream:
                yield event
        finally:
            stream.close()


async def _close_stream(stream: AsyncIterator[StreamEvent]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is None:
        return
    try:
        await aclose()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.debug("closing a Live Tail stream failed: %s", describe_error(exc))


__all__ = ["KIND", "LiveTailSource", "create"]
