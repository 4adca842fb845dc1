"""The engine's state in Redis, shared by every replica: optimistic, one round trip each way.

Replicas apply batches the way one process does, on a local copy of just the state those batches
read. Per batch, `fetch` loads in one round trip the keys `Applier.wanted` named (and the versions
they had), the eventIDs already applied by anyone, and the episodes that end by then. The batch is
applied to that copy by the ordinary in-memory store code. At the group's end, `commit_shared` runs
one script that checks that no key the group read has changed and that none of its eventIDs was
applied meanwhile, then writes every changed key, claims the eventIDs (keys with a TTL) and appends
the group's alerts to the alert stream, all at once. When another replica got there first, nothing is
written: the caller undoes the group, fetches afresh and applies it again. So N replicas reach the
state (and the alerts) of one process that applied the same batches in commit order.

Nothing in Redis grows without bound: values expire (a TTL from their expiry in event time plus a
margin), ended episodes leave their index when closed, eventIDs expire after `event_id_seconds`, the
alert stream is capped. The watermark (a number that only grows) is merged by maximum, not checked,
so replicas do not conflict over it; the price is that a batch applied while another commit moved it
on judges lateness by the older watermark (the README's Replicas limits).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from monitor.engine.state.memory import MemoryStore
from monitor.engine.state.store import StateConflict, StateUnavailable, Wanted
from monitor.engine.state.text import from_json, to_json
from monitor.model.alert import Alert
from monitor.replicas.connection import RoundTrips
from monitor.replicas.scripts import COMMIT, FETCH

TAG = "{state}"
# Past a value's expiry (event time), Redis keeps it this much longer: a replica lagging behind the
# others (a backlog) still finds what it needs. Ended episodes wait for their close even longer.
VALUE_MARGIN_SECONDS = 6 * 3600.0
EPISODE_MARGIN_SECONDS = 7 * 86400.0
MAX_TTL_SECONDS = 400 * 86400.0
DUE_PER_FETCH = 1000  # ended episodes closed per batch at most (the rest by the next ones)
ALERT_STREAM_MAX = 1_000_000  # emissions waiting for the delivery lease holder, at most


def encode(text: str) -> bytes:
    """A key part as bytes: attacker-controlled text may hold a lone surrogate, which is not UTF-8."""
    return text.encode("utf-8", "surrogatepass")


def decode(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


class Keys:
    """The names of one deployment's keys, all in one hash slot."""

    def __init__(self, prefix: str) -> None:
        self.base = encode(prefix + TAG + ":")
        self.sequence = self.base + b"seq"
        self.alerts = self.base + b"alerts"

    def value_prefix(self, space: str) -> bytes:
        return self.base + b"v:" + encode(space) + b"\x1f"

    def value(self, space: str, key: str) -> bytes:
        return self.value_prefix(space) + encode(key)

    def maximum(self, space: str, key: str) -> bytes:
        return self.base + b"max:" + encode(space) + b"\x1f" + encode(key)

    def due(self, space: str) -> bytes:
        return self.base + b"due:" + encode(space)

    def event_id(self, event_id: str) -> bytes:
        return self.base + b"e:" + encode(event_id)

    def lease(self, name: str) -> bytes:
        return self.base + b"lease:" + encode(name)

    def cursors(self, source: str) -> bytes:
        return self.base + b"cursors:" + encode(source)


class RedisStore(MemoryStore):
    """A `SharedStateStore`: the in-memory store as a per-group copy of the shared state in Redis."""

    def __init__(self, client: aioredis.Redis, keys: Keys, *, lateness: float, event_id_seconds: float,
                 trips: RoundTrips, dedupe_capacity: int = 1_000_000) -> None:
        super().__init__(dedupe_capacity)
        self._client = client
        self.keys = keys
        self.lateness = lateness
        self.event_id_ms = int(event_id_seconds * 1000)
        self.trips = trips
        self._fetch = client.register_script(FETCH)
        self._commit = client.register_script(COMMIT)
        # What this group read: (space, key) -> the version it had ("0": absent).
        self._versions: dict[tuple[str, str], bytes] = {}
        self._maxima: set[tuple[str, str]] = set()  # merge_max keys fetched
        self._ids_checked: set[str] = set()
        self.conflicts = 0
        self.commits = 0

    # -- reading -------------------------------------------------------------------------------------

    async def fetch(self, wanted: Wanted, lateness: float | None = None) -> None:
        spaces = self._spaces
        values: list[tuple[str, str]] = []
        maxima: list[tuple[str, str]] = []
        for space, names in wanted.keys.items():
            merge_max = spaces[space].options.merge_max
            for key in names:
                slot = (space, key)
                if merge_max:
                    if slot not in self._maxima:
                        maxima.append(slot)
                elif slot not in self._versions and slot not in self._unpersisted and slot not in self._batch:
                    values.append(slot)
        ids = [event_id for event_id in dict.fromkeys(wanted.event_ids)
               if event_id and event_id not in self._ids_checked]
        due = [name for name, space in spaces.items() if space.options.due_index]
        watermark_index = next((index + 1 for index, (space, _) in enumerate(maxima)
                                if spaces[space].options.merge_max), 0)
        keys = [*(self.keys.value(s, k) for s, k in values), *(self.keys.maximum(s, k) for s, k in maxima),
                *(self.keys.event_id(e) for e in ids), *(self.keys.due(space) for space in due)]
        args: list[Any] = [len(values), len(maxima), len(ids), len(due), repr(float(wanted.newest)),
                           repr(self.lateness if lateness is None else lateness), DUE_PER_FETCH, watermark_index,
                           *(self.keys.value_prefix(space) for space in due)]
        rows, maxes, applied, ended = await self.trips.call("fetch", lambda: self._fetch(keys=keys, args=args))
        for (space, key), row in zip(values, rows, strict=True):
            self._load_row(space, key, row[0], row[1], row[2])
        for (space, key), value in zip(maxima, maxes, strict=True):
            self._maxima.add((space, key))
            if value is not None:
                mine = self.get(space, key)
                entry = float(value) if mine is None else max(float(value), float(mine))
                self._spaces[space].entries[key] = (entry, math.inf)
        self._ids_checked.update(ids)
        self.event_ids.restore(event_id for event_id, flag in zip(ids, applied, strict=True) if flag)
        for space, found in zip(due, ended, strict=True):
            for index in range(0, len(found), 4):
                key = decode(found[index])
                if (space, key) not in self._versions and (space, key) not in self._unpersisted:
                    self._load_row(space, key, found[index + 1], found[index + 2], found[index + 3])

    def _load_row(self, space: str, key: str, version: bytes | None, expires: bytes | None,
                  data: bytes | None) -> None:
        slot = (space, key)
        target = self._spaces[space]
        if version is None or data is None or expires is None:
            self._versions[slot] = b"0"
            target.entries.pop(key, None)
            return
        self._versions[slot] = version
        self.load(space, key, from_json(data), float(expires))

    def expire(self, watermark: float) -> None:
        """Nothing to sweep: Redis forgets values by their TTL."""

    # -- committing ---------------------------------------------------------------------------------

    def persist(self) -> None:
        raise RuntimeError("a shared store commits with commit_shared")

    async def commit_shared(self, alerts: Sequence[Alert]) -> None:
        if self._batch or self._batch_ids:
            raise RuntimeError("commit with a batch open")
        spaces = self._spaces
        keys: list[bytes] = [self.keys.sequence]
        args: list[Any] = []
        checked = [(slot, version) for slot, version in self._versions.items()]
        keys.extend(self.keys.value(space, key) for (space, key), _ in checked)
        event_ids = [event_id for event_id in dict.fromkeys(self._unpersisted_ids) if event_id]
        keys.extend(self.keys.event_id(event_id) for event_id in event_ids)
        watermark = self._watermark()
        writes: list[Any] = []
        maxima: list[Any] = []
        written = 0
        for space, key in self._unpersisted:
            options = spaces[space].options
            entry = spaces[space].entries.get(key)
            if options.merge_max:
                if entry is not None:
                    keys_max = self.keys.maximum(space, key)
                    maxima.append((keys_max, repr(float(entry[0]))))
                continue
            value_key = self.keys.value(space, key)
            keys.extend((value_key, self.keys.due(space) if options.due_index else value_key))
            if entry is None:
                writes.extend(("d", "0", "0", "", encode(key)))
            else:
                value, expires = entry
                margin = EPISODE_MARGIN_SECONDS if options.due_index else VALUE_MARGIN_SECONDS
                writes.extend(("s", repr(float(expires)), _ttl_ms(expires, watermark, self.lateness + margin),
                               to_json(spaces[space].codec.dump(value)), encode(key)))
            written += 1
        keys.extend(key for key, _ in maxima)
        keys.append(self.keys.alerts)
        payload = b"[" + b",".join(alert.to_json() for alert in alerts) + b"]" if alerts else b""
        args = [len(checked), len(event_ids), written, len(maxima), self.event_id_ms, ALERT_STREAM_MAX, payload,
                *(version for _, version in checked), *writes, *(value for _, value in maxima)]
        result = await self.trips.call("commit", lambda: self._commit(keys=keys, args=args))
        if int(result[0]) != 1:
            self.conflicts += 1
            raise StateConflict(f"{len(result[1])} key(s) changed by another replica")
        self.commits += 1
        self._unpersisted = {}
        self._unpersisted_ids = []
        self._unpersisted_generations = None
        self.invalidate()

    def _watermark(self) -> float:
        newest = 0.0
        for space in self._spaces.values():
            if space.options.merge_max:
                for value, _ in space.entries.values():
                    newest = max(newest, float(value))
        return newest

    @property
    def available(self) -> bool:
        return self.trips.up

    async def wait_available(self) -> None:
        delay = 0.05
        while not self.trips.up:
            try:
                await self.trips.call("ping", self._client.ping)
            except StateUnavailable:
                await asyncio.sleep(delay)  # a backoff between probes, not a synchronisation
                delay = min(delay * 2, 2.0)

    def invalidate(self) -> None:
        """Forget the copy: the next batch reads the shared state afresh (call with nothing unpersisted)."""
        if self._batch or self._unpersisted or self._unpersisted_ids:
            raise RuntimeError("invalidate with changes not committed")
        for space in self._spaces.values():
            space.entries.clear()
            space.reorder()
        self._versions.clear()
        self._maxima.clear()
        self._ids_checked.clear()
        self.event_ids.rewind((set(), set()))

    def forget_unpersisted(self) -> None:
        super().forget_unpersisted()
        self.invalidate()


def _ttl_ms(expires: float, watermark: float, margin: float) -> int:
    """How long Redis keeps a value (0: for ever, for values that never expire, which are few)."""
    if math.isinf(expires):
        return 0
    seconds = min(max(expires - watermark, 0.0) + margin, MAX_TTL_SECONDS)
    return max(1000, int(seconds * 1000))
