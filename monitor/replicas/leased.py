"""A source that competing consumers cannot share, run by one replica at a time.

`s3-poll`, `cloudwatch-logs` and `cloudwatch-live-tail` walk a position (a listing cursor, a log
stream's time); two replicas running one would read everything twice. Each such source runs only
while this replica holds the lease `source:<name>`, with its cursors in Redis: on taking the lease it
loads them and builds the source afresh; on losing it (Redis unreachable, or the lease passed on) it
stops the source at once. A dead holder's lease passes to another replica within `lease_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from monitor.replicas.cursors import SharedCursors
from monitor.replicas.leases import Lease
from monitor.sources.base import Emit, Source, SourceStats

LEASED_KINDS = frozenset({"s3-poll", "cloudwatch-logs", "cloudwatch-live-tail"})


class LeasedSource:
    def __init__(self, name: str, kind: str, lease: Lease, cursors: SharedCursors,
                 build: Callable[[SharedCursors], Source]) -> None:
        self.name = name
        self.kind = kind
        self.lease = lease
        self.cursors = cursors
        self._build = build
        self.stats = SourceStats()
        self._current: Source | None = None

    async def run(self, emit: Emit) -> None:
        writer = asyncio.create_task(self.cursors.run_writer(), name=f"cursors-{self.name}")
        try:
            while True:
                await self.lease.held.wait()
                await self.cursors.load()
                source = self._current = self._build(self.cursors)
                source.stats = self.stats  # one set of counters across holders, for the metrics
                running = asyncio.create_task(source.run(emit), name=f"leased-{self.name}")
                lost = asyncio.create_task(self.lease.lost.wait())
                try:
                    await asyncio.wait({running, lost}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    lost.cancel()
                    running.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await running
                    self._current = None
                    await source.close()
                if running.done() and not running.cancelled() and running.exception() is not None:
                    raise running.exception()  # type: ignore[misc]  # the supervisor restarts it
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def close(self) -> None:
        await self.cursors.flush()

    def ready(self) -> bool:
        """Ready when another replica runs it (its readiness is that replica's) or it reached its upstream."""
        current = self._current
        return current.ready() if current is not None else not self.lease.held.is_set()
