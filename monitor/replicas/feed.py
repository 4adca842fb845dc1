"""Alert delivery for replicas: the committed alerts go from Redis to one replica's durable outbox.

Every replica's group commit appends its alerts to one Redis stream, atomically with its state. The
replica holding the `delivery` lease reads the stream (a consumer group, so each entry is handed to
one reader), records each entry in its own outbox under the entry's id as a receipt (an entry recorded
twice is recorded once), and only then acknowledges and deletes it. So every committed alert reaches
exactly one outbox, and the outbox's repeat windows and updates see every emission, as with one process.

A replica that dies with entries read but not recorded leaves them pending under its name: when it
restarts it records them first (it keeps its name in its data folder); if it does not come back, the
lease holder claims them once they have been pending for `claim_idle_seconds` (it looks every half of
that). A holder records what it reads within milliseconds, so only a dead or stuck reader's entries
wait that long.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from monitor.engine.state.store import StateUnavailable
from monitor.model import Alert
from monitor.replicas.connection import RoundTrips
from monitor.replicas.leases import Lease
from monitor.replicas.store import Keys

log = logging.getLogger("trailsentry.replicas")

GROUP = "delivery"
READ_COUNT = 100
BLOCK_MS = 1000


class ReceiptRecorder(Protocol):
    async def record(self, alerts: Sequence[Alert], receipt: str | None = None) -> None: ...


class DeliveryFeed:
    def __init__(self, client: aioredis.Redis, keys: Keys, replica_id: str, lease: Lease,
                 recorder: ReceiptRecorder, trips: RoundTrips, *, claim_idle_seconds: float) -> None:
        self._client = client
        self._stream = keys.alerts
        self._consumer = replica_id
        self.lease = lease
        self._recorder = recorder
        self.trips = trips
        self._claim_idle_ms = int(claim_idle_seconds * 1000)
        self._claim_every = max(claim_idle_seconds / 2, 0.1)
        self.recorded = 0  # stream entries recorded in this replica's outbox
        self.alerts = 0

    async def run(self) -> None:
        """Until cancelled: record this replica's own pending entries, then feed while holding the lease."""
        delay = 0.05
        while True:
            try:
                await self._ensure_group()
                await self._read_and_record(b"0")  # read before (a restart, a failed record): recorded first
                await self.lease.held.wait()
                claimed_at = 0.0
                while self.lease.held.is_set():
                    if time.monotonic() - claimed_at >= self._claim_every:
                        await self._claim_abandoned()  # a replica that died holding entries, now and then
                        claimed_at = time.monotonic()
                    await self._read_and_record(b">")
                delay = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away, or this replica's outbox failing: the entries wait in Redis
                if not isinstance(exc, StateUnavailable):
                    log.error("alert delivery feed: %s: %s; retrying", type(exc).__name__, str(exc)[:300])
                await asyncio.sleep(delay)  # a backoff before trying again
                delay = min(delay * 2, 5.0)

    async def _ensure_group(self) -> None:
        try:
            await self.trips.call("feed", functools.partial(
                self._client.xgroup_create, self._stream, GROUP, id="0", mkstream=True))
        except redis_errors.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _read_and_record(self, position: bytes) -> None:
        """Read entries (new ones: '>', this replica's pending ones: '0') and record each."""
        while True:
            block = BLOCK_MS if position == b">" else None
            reply = await self.trips.call("feed", functools.partial(
                self._client.xreadgroup, GROUP, self._consumer, {self._stream: position}, count=READ_COUNT,
                block=block))
            entries = _entries(reply)
            for entry_id, fields in entries:
                await self._record(entry_id, fields)
            if position == b">" or not entries:
                return

    async def _claim_abandoned(self) -> None:
        """Entries another replica read and never recorded (it died), pending for long enough."""
        start: bytes = b"0-0"
        while True:
            reply = await self.trips.call("feed", functools.partial(
                self._client.xautoclaim, self._stream, GROUP, self._consumer, self._claim_idle_ms,
                start_id=start, count=READ_COUNT))
            start, claimed = reply[0], reply[1]
            for entry_id, fields in claimed:
                if fields is not None:
                    await self._record(entry_id, fields)
            if start in (b"0-0", "0-0"):
                return

    async def _record(self, entry_id: bytes, fields: dict[bytes, bytes] | None) -> None:
        receipt = entry_id.decode()
        alerts: list[Alert] = []
        try:
            payload = (fields or {}).get(b"alerts", b"[]")
            alerts = [Alert.from_dict(data) for data in orjson.loads(payload)]
            alerts = [alert for alert in alerts if not alert.signal]  # never committed so; never delivered
        except (ValueError, KeyError, TypeError) as exc:  # never written by trailsentry: dropped, said so
            log.error("alert stream entry %s is not a list of alerts (%s); dropped", receipt, type(exc).__name__)
        if alerts:
            await self._recorder.record(alerts, receipt)
        await self.trips.call("feed", functools.partial(self._acknowledge, entry_id))
        self.recorded += 1
        self.alerts += len(alerts)

    async def _acknowledge(self, entry_id: bytes) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.xack(self._stream, GROUP, entry_id)
            pipe.xdel(self._stream, entry_id)
            await pipe.execute()


def _entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes] | None]]:
    """The entries of an XREADGROUP reply for one stream (RESP2 list or RESP3 map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        streams = list(reply.values())
        return list(streams[0][0]) if streams and streams[0] else []
    return list(reply[0][1])
