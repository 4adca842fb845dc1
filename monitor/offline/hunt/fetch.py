"""The S3 side of a hunt: a child process that lists and downloads, in the order of reading.

Days are read one after another; within a day the objects of every account and region taken are
merged in the order of the times in their names, so windows and episodes see events in time order
across objects, as they would have live. Listing runs up to `LIST_AHEAD_DAYS` days ahead, and up to
`concurrency` downloads run at once within a look-ahead bounded in objects and bytes.

The downloads run in a process of their own (an asyncio loop, forked before the parent starts threads)
and land as files in a spool folder, so the parent, which applies every finding in order, spends no
time on HTTP, and the detection workers read each object from its file as a local scan does. Items
reach the parent strictly in order through a bounded queue, and each file is deleted once applied,
so memory and disk stay bounded however long the hunt. The child exits when its parent dies.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import multiprocessing
import os
import queue
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from multiprocessing.context import ForkProcess
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from monitor.aws.clients import AwsClients
from monitor.aws.settings import AwsSettings
from monitor.offline.hunt.layout import ObjectRef, S3Location, Selection, Shard, TimeRange, Trail
from monitor.offline.hunt.s3 import Discovery, S3Counters, S3Reader, client_config, describe_error, discover

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
    path: str | None  # the spool file holding the object
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


@dataclass(frozen=True, slots=True)
class Status:
    """What the child has listed and how S3 answered, sent along as it changes."""

    listing: Listing
    counters: S3Counters


class S3Failure(RuntimeError):
    """Listing failed for a reason other than throttling (no such bucket, access denied): the hunt stops."""


_END = "end"
_ORPHAN_CHECK_SECONDS = 1.0


class Fetcher:
    """Runs the S3 side in a child process; `items()` yields what it hands on, in reading order.

    `skip` and `complete` (what an earlier run of a resumed hunt has read) are taken as they are when
    `start()` forks the child."""

    def __init__(self, query: HuntQuery, aws: AwsSettings, *, concurrency: int, spool: Path | None = None,
                 skip: Callable[[ObjectRef], bool] = lambda ref: False,
                 complete: Callable[[Trail, date], bool] = lambda trail, day: False,
                 lookahead_bytes: int = LOOKAHEAD_BYTES, list_only: bool = False) -> None:
        if spool is None and not list_only:
            raise ValueError("downloads need a spool folder")
        self.query = query
        self.list_only = list_only  # a dry run: list everything, download nothing
        self.aws = aws
        self.concurrency = max(1, concurrency)
        self.lookahead_bytes = lookahead_bytes
        self.spool = spool
        self.listing = Listing()
        self.counters = S3Counters()
        self._skip = skip
        self._complete = complete
        self._downloads = 0
        self._parent = 0
        context = multiprocessing.get_context("fork")
        self._queue: Queue[Any] = context.Queue(maxsize=2 * self.concurrency + 8)
        self._process: ForkProcess = context.Process(target=self._child, args=(os.getpid(),),
                                                     name="trailsentry-hunt-s3", daemon=True)

    def start(self) -> None:
        self._process.start()

    def items(self) -> Iterator[Fetched | DayRead]:
        while True:
            try:
                item = self._queue.get(timeout=_ORPHAN_CHECK_SECONDS)
            except queue.Empty:
                if not self._process.is_alive():
                    code = self._process.exitcode
                    raise S3Failure(f"the S3 reader stopped unexpectedly (exit code {code})") from None
                continue
            if item == _END:
                return
            if isinstance(item, Status):
                self.listing, self.counters = item.listing, item.counters
                continue
            if isinstance(item, S3Failure):
                raise item
            assert isinstance(item, Fetched | DayRead)
            yield item

    def stop(self) -> None:
        """Stop listing and downloading (done, or the consumer gave up)."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._queue.close()
        self._queue.cancel_join_thread()

    # -- the child -------------------------------------------------------------------------------------------------

    def _child(self, parent: int) -> None:
        self._parent = parent
        # The parent's objects (detectors, engine) came with the fork: keep the collector off them, or it
        # walks them on every collection (and copies their pages by touching them).
        gc.freeze()
        try:
            asyncio.run(self._main())
        except (ClientError, BotoCoreError) as exc:
            self._hand_on(S3Failure(describe_error(exc)))
        except Exception as exc:  # a bug: the parent reports it instead of waiting for ever
            self._hand_on(S3Failure(f"{type(exc).__name__}: {str(exc)[:300]}"))
        self._hand_on(_END)
        self._queue.close()
        self._queue.join_thread()

    def _orphaned(self) -> bool:
        return os.getppid() != self._parent

    def _hand_on(self, item: object) -> None:
        while True:
            try:
                self._queue.put(item, timeout=_ORPHAN_CHECK_SECONDS)
                return
            except queue.Full:
                if self._orphaned():
                    os._exit(0)

    async def _put(self, item: object) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            await asyncio.to_thread(self._hand_on, item)

    async def _status(self) -> None:
        # Copies: the queue pickles in a thread of its own, while this loop goes on counting.
        await self._put(Status(copy.deepcopy(self.listing), copy.deepcopy(self.counters)))

    async def _watch_parent(self) -> None:
        while True:  # polled: no event tells a process that its parent died
            await asyncio.sleep(_ORPHAN_CHECK_SECONDS)
            if self._orphaned():
                os._exit(0)

    async def _main(self) -> None:
        watch = asyncio.create_task(self._watch_parent())
        clients = AwsClients()
        try:
            client = await clients.client("s3", self.aws, config=client_config(self.concurrency))
            reader = S3Reader(client, self.query.location)
            reader.counters = self.counters
            await self._hunt(reader)
            await self._status()
        finally:
            watch.cancel()
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
                await self._status()
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

        spool = self.spool
        assert spool is not None

        async def download(ref: ObjectRef, number: int) -> Fetched:
            async with limit:
                try:
                    data = await reader.read(ref.key)
                except (TimeoutError, ClientError, BotoCoreError, OSError) as exc:
                    return Fetched(ref, None, f"cannot download: {describe_error(exc)}")
            path = spool / f"{number:09d}"
            await asyncio.to_thread(path.write_bytes, data)
            return Fetched(ref, str(path))

        pending: deque[tuple[asyncio.Task[Fetched], int]] = deque()
        in_flight = 0
        position = 0
        try:
            while position < len(refs) or pending:
                while position < len(refs) and len(pending) < 2 * self.concurrency and (
                        not pending or in_flight + refs[position].size <= self.lookahead_bytes):
                    ref = refs[position]
                    pending.append((asyncio.create_task(download(ref, self._downloads)), ref.size))
                    self._downloads += 1
                    in_flight += ref.size
                    position += 1
                task, size = pending.popleft()
                fetched = await task
                in_flight -= size
                await self._put(fetched)
        finally:
            for task, _ in pending:
                task.cancel()

