"""The S3 side of a hunt: an asyncio loop in a thread that lists and downloads, in the order of reading.

Days are read one after another; within a day the objects of every account and region taken are
merged in the order of the times in their names, so windows and episodes see events in time order
across objects, as they would have live. Listing runs up to `LIST_AHEAD_DAYS` days ahead, and up to
`concurrency` downloads run at once within a look-ahead bounded in objects and bytes; results are
handed on strictly in order through a bounded queue, so memory stays bounded however long the hunt.

The consumer (the engine, in the main thread) reads `Fetched` items and `DayRead` markers from
`items()`; a failure of the listing ends the items with the exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date

from botocore.exceptions import BotoCoreError, ClientError

from monitor.aws.clients import AwsClients
from monitor.aws.settings import AwsSettings
from monitor.offline.hunt.layout import ObjectRef, S3Location, Selection, Shard, TimeRange, Trail
from monitor.offline.hunt.s3 import Discovery, S3Counters, S3Reader, client_config, discover

log = logging.getLogger("trailsentry.hunt")

LIST_AHEAD_DAYS = 2
LOOKAHEAD_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class HuntQuery:
    """What a hunt reads."""

    location: S3Location
    window: TimeRange
    selection: Selection = field(default_factory=Selection)
    organizations: bool = False
    shard: Shard = field(default_factory=Shard)


@dataclass(frozen=True, slots=True)
class Fetched:
    ref: ObjectRef
    data: bytes | None
    error: str | None = None  # why it could not be downloaded


@dataclass(frozen=True, slots=True)
class DayRead:
    """Every object of these folders' day was handed on (the folders with nothing to read included)."""

    day: date
    trails: tuple[Trail, ...]


@dataclass(slots=True)
class Listing:
    """What the listing found so far: the basis of the progress bar's totals and ETA."""

    folders: int = 0  # (account, region, day) folders to read, once discovered
    folders_listed: int = 0
    objects: int = 0
    bytes: int = 0
    objects_done_before: int = 0  # already read by an earlier run of a resumed hunt
    bytes_done_before: int = 0
    discovery: Discovery | None = None
    trails: list[Trail] = field(default_factory=list)

    def estimated(self) -> tuple[int, int]:
        """Objects and bytes to read in all, extrapolating the folders not listed yet from those listed."""
        if not self.folders_listed:
            return self.objects, self.bytes
        scale = self.folders / self.folders_listed
        return round(self.objects * scale), round(self.bytes * scale)


_END = object()


class Fetcher:
    """Runs the S3 side in a thread of its own; `items()` yields what it hands on, in reading order."""

    def __init__(self, query: HuntQuery, aws: AwsSettings, *, concurrency: int,
                 skip: Callable[[ObjectRef], bool] = lambda ref: False,
                 complete: Callable[[Trail, date], bool] = lambda trail, day: False,
                 lookahead_bytes: int = LOOKAHEAD_BYTES, list_only: bool = False) -> None:
        self.query = query
        self.list_only = list_only  # a dry run: list everything, download nothing
        self.aws = aws
        self.concurrency = max(1, concurrency)
        self.lookahead_bytes = lookahead_bytes
        self.listing = Listing()
        self.counters = S3Counters()
        self._skip = skip
        self._complete = complete
        self._out: queue.Queue[object] = queue.Queue(maxsize=2 * self.concurrency + 8)
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name="trailsentry-hunt-s3", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def items(self) -> Iterator[Fetched | DayRead]:
        while True:
            item = self._out.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, Fetched | DayRead)
            yield item

    def stop(self) -> None:
        """Stop listing and downloading (the consumer gave up); returns once the thread has ended."""
        self._stopping.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(task.cancel)
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):  # unblock a put
                self._out.get(timeout=0.1)
        self._thread.join()

    # -- the thread ------------------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._hand_on(exc)
        self._hand_on(_END)

    def _hand_on(self, item: object) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(queue.Full):
                self._out.put(item, timeout=0.2)
                return

    async def _put(self, item: object) -> None:
        try:
            self._out.put_nowait(item)
        except queue.Full:
            await asyncio.to_thread(self._hand_on, item)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        clients = AwsClients()
        try:
            client = await clients.client("s3", self.aws, config=client_config(self.concurrency))
            reader = S3Reader(client, self.query.location)
            reader.counters = self.counters
            await self._hunt(reader)
        finally:
            await clients.close()

    async def _hunt(self, reader: S3Reader) -> None:
        query = self.query
        found = await discover(reader, query.selection, query.organizations, self.concurrency)
        self.listing.discovery = found
        self.listing.trails = found.trails
        days = [(day, tuple(t for t in found.trails if query.shard.takes(t.account, day)))
                for day in query.window.days()]
        self.listing.folders = sum(len(trails) for _, trails in days)
        listed: asyncio.Queue[tuple[date, tuple[Trail, ...], list[ObjectRef]] | None] = asyncio.Queue(LIST_AHEAD_DAYS)
        lister = asyncio.create_task(self._list_days(reader, days, listed))
        try:
            while (entry := await listed.get()) is not None:
                day, trails, refs = entry
                if not self.list_only:
                    await self._download_in_order(reader, refs)
                await self._put(DayRead(day, trails))
            await lister
        finally:
            lister.cancel()

    async def _list_days(self, reader: S3Reader, days: list[tuple[date, tuple[Trail, ...]]],
                         listed: asyncio.Queue[tuple[date, tuple[Trail, ...], list[ObjectRef]] | None]) -> None:
        limit = asyncio.Semaphore(self.concurrency)

        async def folder(trail: Trail, day: date) -> list[ObjectRef]:
            if self._complete(trail, day):
                self.listing.folders_listed += 1
                return []
            async with limit:
                refs = await reader.objects(trail, day)
            self.listing.folders_listed += 1
            return refs

        for day, trails in days:
            parts = await asyncio.gather(*(folder(trail, day) for trail in trails))
            refs = sorted((ref for part in parts for ref in part if self.query.window.holds_name_time(ref)),
                          key=lambda ref: ref.order)
            todo = []
            for ref in refs:
                self.listing.objects += 1
                self.listing.bytes += ref.size
                if self._skip(ref):
                    self.listing.objects_done_before += 1
                    self.listing.bytes_done_before += ref.size
                else:
                    todo.append(ref)
            await listed.put((day, trails, todo))
        await listed.put(None)

    async def _download_in_order(self, reader: S3Reader, refs: list[ObjectRef]) -> None:
        limit = asyncio.Semaphore(self.concurrency)

        async def download(ref: ObjectRef) -> Fetched:
            async with limit:
                try:
                    return Fetched(ref, await reader.read(ref.key))
                except (TimeoutError, ClientError, BotoCoreError, OSError) as exc:
                    return Fetched(ref, None, _why(exc))

        pending: deque[tuple[asyncio.Task[Fetched], int]] = deque()
        in_flight = 0
        position = 0
        try:
            while position < len(refs) or pending:
                while position < len(refs) and len(pending) < 2 * self.concurrency and (
                        not pending or in_flight + refs[position].size <= self.lookahead_bytes):
                    ref = refs[position]
                    pending.append((asyncio.create_task(download(ref)), ref.size))
                    in_flight += ref.size
                    position += 1
                task, size = pending.popleft()
                fetched = await task
                in_flight -= size
                await self._put(fetched)
        finally:
            for task, _ in pending:
                task.cancel()


def _why(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error") or {}
        return f"cannot download: {error.get('Code') or 'error'}: {str(error.get('Message') or '')[:200]}"
    return f"cannot download: {type(exc).__name__}: {str(exc)[:200]}"
