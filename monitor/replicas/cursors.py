"""Cursors of a source that one replica at a time runs, kept in Redis so that any replica can go on.

Loaded when the replica takes the source's lease; written behind: `commit()` hands the changes to a
writer task that sends them in order. A cursor write lost in a crash only makes the next holder read
some objects again, and the shared eventID memory drops their events as duplicates.
"""

from __future__ import annotations

import asyncio
import functools
import logging

import redis.asyncio as aioredis

from monitor.engine.state.store import StateUnavailable
from monitor.replicas.connection import RoundTrips
from monitor.replicas.store import Keys, decode, encode

log = logging.getLogger("trailsentry.replicas")


class SharedCursors:
    def __init__(self, client: aioredis.Redis, keys: Keys, source: str, trips: RoundTrips) -> None:
        self._client = client
        self._key = keys.cursors(source)
        self.source = source
        self._trips = trips
        self._values: dict[str, str] = {}
        self._pending: dict[str, str | None] = {}
        self._unsent: list[dict[str, str | None]] = []
        self._wake = asyncio.Event()
        self.writes = 0

    async def load(self) -> None:
        stored = await self._trips.call("cursors", functools.partial(self._client.hgetall, self._key))
        self._values = {_text(key): _text(value) for key, value in stored.items()}
        self._pending.clear()

    def _check(self, source: str) -> None:
        if source != self.source:
            raise ValueError(f"cursors of source {self.source!r} asked for {source!r}")

    def get(self, source: str, key: str) -> str | None:
        self._check(source)
        if key in self._pending:
            return self._pending[key]
        return self._values.get(key)

    def items(self, source: str) -> dict[str, str]:
        self._check(source)
        values = dict(self._values)
        for key, value in self._pending.items():
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
        return values

    def put(self, source: str, key: str, value: str) -> None:
        self._check(source)
        self._pending[key] = value

    def delete(self, source: str, key: str) -> None:
        self._check(source)
        self._pending[key] = None

    def commit(self) -> None:
        if not self._pending:
            return
        changes, self._pending = self._pending, {}
        for key, value in changes.items():
            if value is None:
                self._values.pop(key, None)
            else:
                self._values[key] = value
        self._unsent.append(changes)
        self._wake.set()

    async def run_writer(self) -> None:
        """Send committed changes in order, until cancelled (then once more, as far as Redis answers)."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await self.flush()
        finally:
            await asyncio.shield(self.flush())

    async def flush(self) -> None:
        while self._unsent:
            changes = self._unsent[0]
            try:
                await self._trips.call("cursors", functools.partial(self._write, changes))
            except StateUnavailable:
                return  # kept; sent with the next commit once Redis answers
            self._unsent.pop(0)
            self.writes += 1

    async def _write(self, changes: dict[str, str | None]) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            for key, value in changes.items():
                if value is None:
                    pipe.hdel(self._key, encode(key))
                else:
                    pipe.hset(self._key, encode(key), encode(value))
            await pipe.execute()


def _text(value: bytes | str) -> str:
    return decode(value) if isinstance(value, bytes) else value
