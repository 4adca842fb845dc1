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
the default; another implementation shares state between replicas.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Codec:
    """How a space's values become plain JSON data and back."""

    dump: Callable[[Any], Any]
    load: Callable[[Any], Any]


PLAIN = Codec(dump=lambda value: value, load=lambda value: value)


class StateStore(Protocol):
    def space(self, name: str, codec: Codec = PLAIN, sweep_every: float = 3600.0) -> None:
        """Declare a space (idempotent): its codec, for stores that keep values outside the process, and
        how far (event time) the watermark moves between two sweeps of its expired values."""
        ...

    def prefetch(self, wanted: dict[str, set[str]]) -> None:
        """A hint: these keys of these spaces are about to be read (a remote store fetches them at once)."""
        ...

    def get(self, space: str, key: str) -> Any | None: ...

    def put(self, space: str, key: str, value: Any, expires: float) -> None:
        """Set a value that may be forgotten once the watermark passes `expires` (event time)."""
        ...

    def delete(self, space: str, key: str) -> None: ...

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

    def begin(self) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def persist(self) -> None:
        """Make every committed batch durable (a no-op for a store that keeps nothing)."""
        ...

    def forget_unpersisted(self) -> None: ...
