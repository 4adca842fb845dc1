"""`s3-poll`: follow a CloudTrail bucket by listing it (for buckets without notifications).

Discovery (at the first pass, then every `discovery_every` passes) walks the layout with delimiter
listings: `<prefix>` → `o-xxxx/` organization folders and/or 12-digit accounts → `<account>/CloudTrail/`
→ regions. Each (account, region) is a *stream* with its own cursor.

Cursor: the newest key K such that it and every earlier key of the stream (from the stream's start,
`floor`) has been acked. When a pass finds nothing above K and nothing is in flight, K moves up to a
synthetic key at `pass time - lookback_seconds` (a quiet region then costs two listings per pass, not
one per day since its last file). Each pass lists the stream's day folders `YYYY/MM/DD/` from the look-back start
through today (and tomorrow when within a few minutes of midnight, for clock skew), so crossing midnight and
catching up after downtime are the same code path. Keys above K are tracked in key order: acked,
in flight, or released; the cursor only moves over the contiguous acked run at the front (acks complete
out of order; a released key stops it and is emitted again by the next pass).

Look-back: CloudTrail sometimes delivers a file whose name (its time) is earlier than files already
read. Each pass therefore lists from `cursor time - lookback_seconds`; a key at or below K that is not in
the stream's `done` memory is a late delivery, emitted once (it does not move the cursor). `done` holds
the acked keys whose name time is within the look-back window of K (both below and above it), pruned
as K moves and capped by `recent_keys` across all streams (least recently acked first out; an evicted
key may be emitted again, which the pipeline's eventID dedupe absorbs).

Checkpoint per stream, key `s3://<bucket>/<stream prefix>`: JSON `{"cursor", "floor", "done"}` with
`done` as keys relative to the stream prefix; plus one `discovered:` entry holding the time of the last
complete discovery, so a stream first seen later (a new account or region) starts at that time minus the
look-back and nothing it wrote is missed. State is O(streams + recent_keys), never O(objects).

A brand-new source starts at `start_at`, or by default at now minus the look-back (no history replay).
An object that fails `max_attempts` times (denied, too large, released every time) is abandoned, logged
and counted so one bad object cannot stall its stream forever; objects deleted between listing and
reading are counted as `objects_missing` and passed over.

This module discovers and lists; monitor/sources/s3_poll_cursors.py keeps the cursors and settles
what was acked or failed.
"""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from monitor.aws.backoff import Backoff, error_code, is_throttle
from monitor.sources.base import Batch, Emit, SourceContext, SourceStats
from monitor.sources.s3_objects import classify_error, classify_key, get_object
from monitor.sources.s3_poll_cursors import ACKED, INFLIGHT, RELEASED, Cursors, Job, Stream, name_time
from monitor.sources.settings import PollSettings

KIND = "s3-poll"
log = logging.getLogger(__name__)

_ACCOUNT = re.compile(r"^\d{12}$")
_ORGANIZATION = re.compile(r"^o-[a-z0-9]{10,32}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+$")
MIDNIGHT_SKEW = dt.timedelta(minutes=5)  # list tomorrow's folder this close to midnight (clock skew)


def create(name: str, settings: PollSettings, context: SourceContext) -> PollSource:
    return PollSource(name, settings, context)


def _day(epoch: float) -> dt.date:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).date()


class PollSource:
    def __init__(self, name: str, settings: PollSettings, context: SourceContext, *,
                 rng: random.Random | None = None) -> None:
        self.name = name
        self.kind = KIND
        self.stats = SourceStats()
        self._settings = settings
        self._context = context
        self._rng = rng or random.Random()
        self._base = f"s3://{settings.bucket}/"
        self._cursors = Cursors(name, settings, context.checkpoints, self.stats)
        self._jobs: asyncio.Queue[Job] = asyncio.Queue(maxsize=settings.download_concurrency)
        self._passes = 0
        self._healthy = False
        self._throttle = Backoff(1.0, 60.0, rng=self._rng)

    def ready(self) -> bool:
        return self._healthy

    async def run(self, emit: Emit) -> None:
        s3 = await self._connect()
        self._cursors.load()
        self._cursors.restart_in_flight()
        self._jobs = asyncio.Queue(maxsize=self._settings.download_concurrency)
        async with asyncio.TaskGroup() as group:
            for _ in range(self._settings.download_concurrency):
                group.create_task(self._worker(s3, emit))
            while True:
                await self.poll_once(s3)
                await asyncio.sleep(self._settings.interval_seconds)

    async def close(self) -> None:
        self._context.checkpoints.commit()

    def cursors(self) -> dict[str, str]:
        """Stream prefix → cursor key (for tests and diagnostics)."""
        return {prefix: stream.cursor for prefix, stream in self._cursors.streams.items()}

    async def _connect(self) -> Any:
        backoff = Backoff(1.0, 60.0, rng=self._rng)
        while True:
            try:
                return await self._context.clients.client("s3", self._settings.aws)
            except Exception as exc:
                self._api_failure("CreateClient", exc)
                await asyncio.sleep(backoff.next_delay())

    def _discovery_key(self) -> str:
        return f"discovered:{self._base}{self._settings.prefix}"

    # -- passes ---------------------------------------------------------------------------------

    async def poll_once(self, s3: Any) -> None:
        """One pass: discovery when due, then list every stream and queue what is new."""
        started = time.time()
        if self._passes % self._settings.discovery_every == 0:
            await self._discover(s3, started)
        self._passes += 1
        gate = asyncio.Semaphore(self._settings.list_concurrency)

        async def one(stream: Stream) -> None:
            async with gate:
                await self._list_stream(s3, stream, started)

        await asyncio.gather(*(one(stream) for stream in list(self._cursors.streams.values())))
        self.stats.add("passes")

    async def _discover(self, s3: Any, started: float) -> None:
        settings = self._settings
        try:
            accounts: list[str] = []
            for child in await self._folders(s3, settings.prefix):
                name = child[len(settings.prefix):-1]
                if _ORGANIZATION.match(name) and settings.organization != "no":
                    accounts += [a for a in await self._folders(s3, child) if _ACCOUNT.match(a[len(child):-1])]
                elif _ACCOUNT.match(name) and settings.organization != "yes":
                    accounts.append(child)
            gate = asyncio.Semaphore(settings.list_concurrency)

            async def regions(account_prefix: str) -> list[str]:
                async with gate:
                    return await self._folders(s3, account_prefix + "CloudTrail/")

            found = await asyncio.gather(*(regions(a) for a in accounts))
        except Exception as exc:
            self._api_failure("ListObjectsV2 (discovery)", exc)
            return
        stored = self._context.checkpoints.get(self.name, self._discovery_key())
        if stored is not None:
            start = float(stored) - settings.lookback_seconds  # appeared since the last discovery
        elif settings.start_at is not None:
            start = settings.start_at.timestamp()
        else:
            start = started - settings.lookback_seconds
        start -= start % 60  # CloudTrail names files by the minute
        added = 0
        for account_prefix, region_prefixes in zip(accounts, found, strict=True):
            account = account_prefix.rstrip("/").rsplit("/", 1)[-1]
            for region_prefix in region_prefixes:
                region = region_prefix[:-1].rsplit("/", 1)[-1]
                if region_prefix in self._cursors.streams or not _REGION.match(region):
                    continue
                stream = Stream(region_prefix, account, region, "", start)
                stream.cursor = stream.start_key(start)
                self._cursors.streams[region_prefix] = stream
                self._cursors.persist(stream)
                added += 1
        if added:
            log.info("%s: following %d new account/region stream(s) (%d in all)", self.name, added,
                     len(self._cursors.streams))
        self._context.checkpoints.put(self.name, self._discovery_key(), repr(started))
        self.stats.add("discoveries")

    async def _folders(self, s3: Any, prefix: str) -> list[str]:
        folders: list[str] = []
        token: str | None = None
        while True:
            arguments: dict[str, Any] = {"Bucket": self._settings.bucket, "Prefix": prefix, "Delimiter": "/"}
            if token:
                arguments["ContinuationToken"] = token
            response = await self._list(s3, arguments)
            folders += [p["Prefix"] for p in response.get("CommonPrefixes") or [] if isinstance(p.get("Prefix"), str)]
            token = response.get("NextContinuationToken")
            if not response.get("IsTruncated") or not token:
                return folders

    async def _list(self, s3: Any, arguments: dict[str, Any]) -> Any:
        self.stats.add("list_calls")
        self.stats.api_call("ListObjectsV2")
        response = await s3.list_objects_v2(**arguments)
        self._healthy = True
        self._throttle.reset()
        self.stats.last_success = time.time()
        return response

    async def _list_stream(self, s3: Any, stream: Stream, started: float) -> None:
        lookback = self._settings.lookback_seconds
        cursor_time = name_time(stream.cursor)
        window = stream.floor if cursor_time is None else max(stream.floor, cursor_time - lookback)
        day = _day(window)
        last = (dt.datetime.fromtimestamp(started, dt.UTC) + MIDNIGHT_SKEW).date()
        start_after: str | None = stream.start_key(window)
        while day <= last:
            day_prefix = f"{stream.prefix}{day:%Y/%m/%d}/"
            try:
                await self._list_day(s3, stream, day_prefix, start_after, window)
            except Exception as exc:
                self._api_failure(f"ListObjectsV2 {stream.prefix}", exc)
                if is_throttle(exc):
                    await asyncio.sleep(self._throttle.next_delay())
                return  # the next pass starts again from the cursor
            start_after = None
            day += dt.timedelta(days=1)
        if not stream.pending:
            # Everything listed is acked and nothing newer exists: a quiet stream. Move the cursor up to
            # the look-back horizon so later passes list two day folders, not every day since its last file.
            horizon = stream.start_key(started - lookback)
            if horizon > stream.cursor:
                stream.cursor = horizon
                self._cursors.prune(stream)
                self._cursors.persist(stream)

    async def _list_day(self, s3: Any, stream: Stream, day_prefix: str, start_after: str | None,
                        window: float) -> None:
        token: str | None = None
        while True:
            arguments: dict[str, Any] = {"Bucket": self._settings.bucket, "Prefix": day_prefix}
            if token:
                arguments["ContinuationToken"] = token
            elif start_after:
                arguments["StartAfter"] = start_after
            response = await self._list(s3, arguments)
            for item in response.get("Contents") or []:
                key = item.get("Key")
                if isinstance(key, str) and key.startswith(day_prefix):
                    await self._consider(stream, key, window)
            token = response.get("NextContinuationToken")
            if not response.get("IsTruncated") or not token:
                return

    async def _consider(self, stream: Stream, key: str, window: float) -> None:
        state = stream.status.get(key)
        if state is not None:
            if state == RELEASED:  # emitted before, not processed: again
                stream.status[key] = INFLIGHT
                await self._jobs.put(Job(stream, key, False))
            return
        if key in stream.late:
            return
        named = name_time(key)
        if key <= stream.cursor:
            # Behind the cursor: only a late delivery within the look-back, not yet read, is of interest.
            if key in stream.done or named is None or named < window or classify_key(key) is not None:
                return
            stream.late.add(key)
            self.stats.add("objects_late")
            await self._jobs.put(Job(stream, key, True))
            return
        bisect.insort(stream.pending, key)
        if key in stream.done:  # acked before a restart, above the cursor then
            stream.status[key] = ACKED
            self._cursors.advance(stream)
            return
        reason = classify_key(key)
        if reason is not None or (named is not None and named < stream.floor):
            if reason is not None:
                self.stats.add(f"skipped_{reason}")
            stream.status[key] = ACKED
            self._cursors.advance(stream)
            return
        stream.status[key] = INFLIGHT
        await self._jobs.put(Job(stream, key, False))

    # -- downloads and acknowledgements ---------------------------------------------------------

    async def _worker(self, s3: Any, emit: Emit) -> None:
        while True:
            job = await self._jobs.get()
            await self._process(job, s3, emit)

    async def _process(self, job: Job, s3: Any, emit: Emit) -> None:
        origin = f"{self._base}{job.key}"
        self.stats.api_call("GetObject")
        try:
            obj = await get_object(s3, self._settings.bucket, job.key)
        except Exception as exc:
            kind = classify_error(exc)
            if kind == "missing":  # deleted since it was listed: nothing left to read
                self.stats.add("objects_missing")
                log.warning("%s: %s disappeared before it could be read", self.name, origin)
                self._cursors.settle(job, ok=True)
                return
            if kind == "too_large":
                self.stats.add("objects_too_large")
            else:
                self.stats.api_failure(kind == "throttle", "GetObject")
            log.warning("%s: GetObject %s failed (%s): %s", self.name, origin, kind, _describe(exc))
            self._cursors.settle(job, ok=False)
            if kind == "throttle":
                await asyncio.sleep(self._throttle.next_delay())
            return
        self.stats.last_success = time.time()
        self.stats.add("objects_read")
        self.stats.add("bytes_read", len(obj.data))
        ack, release = self._callbacks(job)
        try:
            await emit(Batch(source=self.name, origin=obj.origin, data=obj.data, ack=ack, release=release,
                             landed_at=obj.landed_at))
        except Exception as exc:  # a broken consumer must not kill the worker
            log.error("%s: emit failed for %s: %s", self.name, origin, _describe(exc))
            await release("emit failed")

    def _callbacks(self, job: Job) -> tuple[Callable[[], Awaitable[None]], Callable[[str], Awaitable[None]]]:
        settled = False

        async def ack() -> None:
            nonlocal settled
            if not settled:
                settled = True
                self._cursors.settle(job, ok=True)

        async def release(reason: str) -> None:
            nonlocal settled
            if not settled:
                settled = True
                self.stats.add("objects_released")
                self._cursors.settle(job, ok=False)

        return ack, release

    def _api_failure(self, operation: str, exc: Exception) -> None:
        throttled = is_throttle(exc)
        self.stats.api_failure(throttled, operation.split(" ", 1)[0])  # "ListObjectsV2 <prefix>": the API
        if throttled:
            log.warning("%s: %s throttled (%s)", self.name, operation, error_code(exc))
        else:
            self._healthy = False
            log.warning("%s: %s failed: %s", self.name, operation, _describe(exc))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"
