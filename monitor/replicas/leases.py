"""Leases: work that one replica at a time must do (a source that cannot be shared, alert delivery).

A lease is a key holding the holder's replica id with a TTL of `lease_seconds`. Its holder renews it
every third of that; a replica that cannot renew it (Redis unreachable, or someone else holds it)
gives it up at once, so it stops before the TTL runs out and another replica can take it over. A
replica that dies stops renewing, and the others take the lease within `lease_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

import redis.asyncio as aioredis

from monitor.engine.state.store import StateUnavailable
from monitor.replicas.connection import RoundTrips
from monitor.replicas.store import Keys

log = logging.getLogger("trailsentry.replicas")

# Take (NX) or keep (when ours) the lease; returns 1 when this replica holds it now.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    """One named lease; `held` is set while this replica holds it, `lost` while it does not."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.held = asyncio.Event()
        self.lost = asyncio.Event()
        self.lost.set()
        self.acquired = 0  # times taken

    def _set(self, holding: bool) -> None:
        if holding and not self.held.is_set():
            self.acquired += 1
            self.lost.clear()
            self.held.set()
            log.info("lease %s taken by this replica", self.name)
        elif not holding and self.held.is_set():
            self.held.clear()
            self.lost.set()
            log.info("lease %s given up by this replica", self.name)


class Leases:
    """Keeps trying to take, and keeps renewing, every lease this replica runs work for."""

    def __init__(self, client: aioredis.Redis, keys: Keys, replica_id: str, lease_seconds: float,
                 trips: RoundTrips) -> None:
        self._client = client
        self._keys = keys
        self.replica_id = replica_id
        self.lease_ms = int(lease_seconds * 1000)
        self.interval = lease_seconds / 3
        self._trips = trips
        self.leases: dict[str, Lease] = {}
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)

    def lease(self, name: str) -> Lease:
        lease = self.leases.get(name)
        if lease is None:
            lease = self.leases[name] = Lease(name)
        return lease

    async def run(self) -> None:
        """Renew or take every lease each interval, until cancelled (then give them all back)."""
        try:
            while True:
                await self.renew_all()
                await asyncio.sleep(self.interval)  # the renewal period of the leases
        finally:
            await asyncio.shield(self.release_all())

    async def renew_all(self) -> None:
        for lease in list(self.leases.values()):
            try:
                holding = await self._trips.call("lease", functools.partial(
                    self._acquire, keys=[self._keys.lease(lease.name)], args=[self.replica_id, self.lease_ms]))
            except StateUnavailable:
                holding = 0  # it may still be ours in Redis: stop anyway, before it can pass to another
            lease._set(bool(holding))

    async def release_all(self) -> None:
        for lease in self.leases.values():
            if not lease.held.is_set():
                continue
            lease._set(False)
            with contextlib.suppress(StateUnavailable):  # else it expires on its own
                await self._trips.call("lease", functools.partial(
                    self._release, keys=[self._keys.lease(lease.name)], args=[self.replica_id]))
