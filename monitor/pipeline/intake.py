"""The queue between the sources and the detect stage, bounded in batches and in bytes.

A source blocks in `put` while the queue holds `batches` batches or `max_bytes` bytes (one batch
larger than that still passes, alone): backpressure all the way to SQS and S3 listings, and memory
that does not grow with a backlog.
"""

from __future__ import annotations

import asyncio

from monitor.pipeline.stats import PipelineStats
from monitor.sources.base import Batch


class Intake:
    def __init__(self, batches: int, max_bytes: int) -> None:
        self.queue: asyncio.Queue[Batch] = asyncio.Queue(maxsize=batches)
        self.max_bytes = max_bytes
        self._bytes = 0
        self._room = asyncio.Event()  # set whenever a batch leaves the queue
        self.stats: PipelineStats | None = None

    async def put(self, batch: Batch) -> None:
        """Queue a batch; blocks while the queue is full. If this raises (the source is cancelled while
        waiting for room), the batch was not taken and the source still owns it."""
        size = len(batch.data)
        while self._bytes and self._bytes + size > self.max_bytes:
            self._room.clear()
            await self._room.wait()
        self._bytes += size
        try:
            await self.queue.put(batch)
        except BaseException:
            self._taken(batch)
            raise
        if self.stats is not None:
            self.stats.source(batch.source).queued += 1

    async def get(self, within: float | None = None) -> Batch | None:
        """The next batch (None when `within` seconds pass first); call `done()` once it is handled."""
        try:
            batch = await (self.queue.get() if within is None else asyncio.wait_for(self.queue.get(), within))
        except TimeoutError:
            return None
        self._taken(batch)
        return batch

    def done(self) -> None:
        self.queue.task_done()

    def empty(self) -> bool:
        return self.queue.empty()

    async def join(self) -> None:
        await self.queue.join()

    def take_all(self) -> list[Batch]:
        """Every batch still queued (at shutdown, to be released)."""
        batches = []
        while not self.queue.empty():
            batch = self.queue.get_nowait()
            self._taken(batch)
            self.queue.task_done()
            batches.append(batch)
        return batches

    def _taken(self, batch: Batch) -> None:
        """A batch left the queue: its bytes make room for the sources."""
        self._bytes -= len(batch.data)
        self._room.set()
        if self.stats is not None:
            self.stats.source(batch.source).queued -= 1
