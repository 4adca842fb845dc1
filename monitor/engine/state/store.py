"""The state-store protocol: everything the engine remembers between events, behind one small interface.

The engine's stateful kinds (windows, distinct counts, sequences, first-seen history, usual rates),
its episodes and its memory of eventIDs read and write state only through a `StateStore`. A store
holds keyed values in named spaces (one space per kind and detector), each value with an expiry in
event time, plus the memory of recent eventIDs.

Values are replaced, never changed in place: a kind reads a value, builds the new one and `put`s it.
That lets a store undo a batch (`rollback`) by keeping the values it replaced, and persist or share
exactly the keys a batch changed. Each space has a codec that turns its values into plain JSON data
for stores that keep them outside the process.

Batches: `begin()` opens one; `commit()` keeps its changes (not yet durable) and `rollback()`
forgets them. `persist()` makes everything committed so far durable in one step, which is when a
source may be acknowledged; `forget_unpersisted()` undoes every committed batch not yet persisted
(the alerts behind them could not be recorded). The embedded store (in-process, saved to SQLite) is
the default.

A store shared by several replicas (`SharedStateStore`, Redis) cannot answer `get` from memory: the
caller first `fetch`es what a batch will read (`Applier.wanted` lists it), applies the batch, and at
the group's end `commit_shared` writes the changes, the eventIDs and the alerts in one atomic step,
or reports a `StateConflict` when another replica changed something the group read (the caller then
fetches again and re-applies the group).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from monitor.model.alert import Alert


@dataclass(frozen=True, slots=True)
class Codec:
    """How a space's values become plain JSON data and back."""

    dump: Callable[[Any], Any]
    load: Callable[[Any], Any]


PLAIN = Codec(dump=lambda value: value, load=lambda value: value)


@dataclass(frozen=True, slots=True)
class SpaceOptions:
    """How a store treats a space's values besides keeping them."""

    sweep_every: float = 3600.0  # event-time seconds between two sweeps of its expired values
    # Values are taken in order of expiry with `due()` (and then deleted by the caller), never swept.
    due_index: bool = False
    # One number that only grows (the watermark): replicas merge it by maximum instead of by version.
    merge_max: bool = False


DEFAULT_OPTIONS = SpaceOptions()


class StateStore(Protocol):
    def space(self, name: str, codec: Codec = PLAIN, options: SpaceOptions = DEFAULT_OPTIONS) -> None:
        """Declare a space (idempotent): its codec, for stores that keep values outside the process, and how
        its values expire."""
        ...

    def get(self, space: str, key: str) -> Any | None: ...

    def put(self, space: str, key: str, value: Any, expires: float) -> None:
        """Set a value that may be forgotten once the watermark passes `expires` (event time)."""
        ...

    def delete(self, space: str, key: str) -> None: ...

    def expires_of(self, space: str, key: str) -> float | None: ...

    def size(self, space: str) -> int: ...

    def items(self, space: str) -> Iterator[tuple[str, Any]]:
        """Every key and value of a space (for sweeps and eviction; not on the per-event path)."""
        ...

    def claim_events(self, event_ids: Sequence[str]) -> list[bool]:
        """For each id: True when it was not seen before (and is now remembered), False for a duplicate.

        An empty id is never a duplicate and is not remembered.
        """
        ...

    def expire(self, watermark: float) -> None:
        """Forget values whose expiry is before `watermark` (amortised: stores may do it in steps)."""
        ...

    def due(self, space: str, horizon: float) -> list[str]:
        """The keys of a `due_index` space whose expiry is before `horizon`, in order of expiry. Each is handed
        out once: the caller deletes it (or puts it again with a later expiry)."""
        ...

    def begin(self) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def persist(self) -> None:
        """Make every committed batch durable (a no-op for a store that keeps nothing)."""
        ...

    def forget_unpersisted(self) -> None: ...


@dataclass(slots=True)
class Wanted:
    """What applying some findings will read: keys per space, the eventIDs to claim, and the newest event
    time (the values of `due_index` spaces that expire by then, less the lateness, are read too)."""

    keys: dict[str, set[str]] = field(default_factory=dict)
    event_ids: list[str] = field(default_factory=list)
    newest: float = 0.0

    def add(self, space: str, key: str) -> None:
        keys = self.keys.get(space)
        if keys is None:
            keys = self.keys[space] = set()
        keys.add(key)


class StateConflict(Exception):
    """Another replica changed state this group read (or applied one of its events) since it was fetched."""


class StateUnavailable(Exception):
    """The shared store could not be reached (nothing was written); the message names the operation."""


class SharedStateStore(StateStore, Protocol):
    """A state store several replicas share: fetched before use, committed atomically with the alerts."""

    async def fetch(self, wanted: Wanted, lateness: float) -> None:
        """Load what `wanted` names (and the `due_index` values expiring before its newest time less
        `lateness`) that this group has not read yet, in one round trip."""
        ...

    async def commit_shared(self, alerts: Sequence[Alert]) -> None:
        """Write every change of the batches committed since the last call, claim their eventIDs and hand
        their alerts to delivery, all at once; or raise StateConflict and write nothing."""
        ...

    def invalidate(self) -> None:
        """Forget everything fetched (after a conflict, or after a commit: other replicas move on)."""
        ...

    @property
    def available(self) -> bool:
        """False since a round trip failed to reach the store, until one succeeds again."""
        ...

    async def wait_available(self) -> None:
        """Return once the store answers again (probing it with a growing delay)."""
        ...
