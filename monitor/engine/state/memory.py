"""The in-process state store: dicts, a journal to undo batches, bounded by expiry and capacity.

Every write first notes the value it replaces in the batch's journal (once per key), so `rollback`
restores the batch's start exactly. A committed batch's journal joins the journal of everything not
yet persisted: those are the keys `persist` writes, and the values `forget_unpersisted` restores.

`scan` uses this store alone; `run` uses `EmbeddedStore`, which adds persistence in SQLite.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from typing import Any

from monitor.engine.state.event_ids import EventIds
from monitor.engine.state.store import DEFAULT_OPTIONS, PLAIN, Codec, SpaceOptions

Entry = tuple[Any, float]  # (value, expires)
_ABSENT: Entry | None = None


class _Space:
    __slots__ = ("codec", "entries", "last_sweep", "options", "order")

    def __init__(self, codec: Codec, options: SpaceOptions) -> None:
        self.codec = codec
        self.options = options
        self.entries: dict[str, Entry] = {}
        self.last_sweep = 0.0
        # due_index spaces: (expires, key) of every put, stale ones skipped when popped.
        self.order: list[tuple[float, str]] | None = [] if options.due_index else None

    def reorder(self) -> None:
        if self.order is not None:
            self.order = [(expires, key) for key, (_, expires) in self.entries.items()]
            heapq.heapify(self.order)


class MemoryStore:
    def __init__(self, dedupe_capacity: int) -> None:
        self._spaces: dict[str, _Space] = {}
        self._event_ids = EventIds(dedupe_capacity)
        # Batch journal: (space, key) -> the entry before the batch's first write (None: absent).
        self._batch: dict[tuple[str, str], Entry | None] = {}
        self._batch_ids: list[str] = []
        # The eventID generations when the batch began: a batch that filled the newer one dropped the older.
        self._batch_generations: tuple[set[str], set[str]] | None = None
        # The same for every committed batch since the last persist.
        self._unpersisted: dict[tuple[str, str], Entry | None] = {}
        self._unpersisted_ids: list[str] = []
        self._unpersisted_generations: tuple[set[str], set[str]] | None = None

    # -- spaces and values -------------------------------------------------------------------------

    def space(self, name: str, codec: Codec = PLAIN, options: SpaceOptions = DEFAULT_OPTIONS) -> None:
        if name not in self._spaces:
            self._spaces[name] = _Space(codec, options)

    def get(self, space: str, key: str) -> Any | None:
        entry = self._spaces[space].entries.get(key)
        return None if entry is None else entry[0]

    def put(self, space: str, key: str, value: Any, expires: float) -> None:
        target = self._spaces[space]
        entries = target.entries
        self._note(space, key, entries)
        entries[key] = (value, expires)
        if target.order is not None:
            heapq.heappush(target.order, (expires, key))

    def delete(self, space: str, key: str) -> None:
        entries = self._spaces[space].entries
        if key in entries:
            self._note(space, key, entries)
            del entries[key]

    def size(self, space: str) -> int:
        return len(self._spaces[space].entries)

    def items(self, space: str) -> Iterator[tuple[str, Any]]:
        for key, (value, _) in list(self._spaces[space].entries.items()):
            yield key, value

    def expires_of(self, space: str, key: str) -> float | None:
        entry = self._spaces[space].entries.get(key)
        return None if entry is None else entry[1]

    def _note(self, space: str, key: str, entries: dict[str, Entry]) -> None:
        slot = (space, key)
        if slot not in self._batch:
            self._batch[slot] = entries.get(key)

    def expire(self, watermark: float) -> None:
        for name, space in self._spaces.items():
            if space.order is not None or watermark - space.last_sweep < space.options.sweep_every:
                continue
            space.last_sweep = watermark
            for key in [key for key, (_, expires) in space.entries.items() if expires < watermark]:
                self.delete(name, key)

    def due(self, space: str, horizon: float) -> list[str]:
        target = self._spaces[space]
        order = target.order
        if order is None:
            raise ValueError(f"space {space!r} has no due index")
        entries = target.entries
        keys: dict[str, None] = {}
        while order and order[0][0] < horizon:
            expires, key = heapq.heappop(order)
            entry = entries.get(key)
            if entry is not None and entry[1] == expires:
                keys[key] = None
        return list(keys)

    # -- eventIDs ----------------------------------------------------------------------------------

    def claim_events(self, event_ids: Sequence[str]) -> list[bool]:
        fresh, added = self._event_ids.claim(event_ids)
        self._batch_ids.extend(added)
        return fresh

    @property
    def event_ids(self) -> EventIds:
        return self._event_ids

    # -- batches -----------------------------------------------------------------------------------

    def begin(self) -> None:
        if self._batch or self._batch_ids:
            raise RuntimeError("a batch is already open")
        self._batch_generations = self._event_ids.generations()

    def commit(self) -> None:
        unpersisted = self._unpersisted
        for slot, before in self._batch.items():
            unpersisted.setdefault(slot, before)
        self._unpersisted_ids.extend(self._batch_ids)
        if self._unpersisted_generations is None:
            self._unpersisted_generations = self._batch_generations
        self._batch = {}
        self._batch_ids = []
        self._batch_generations = None

    def rollback(self) -> None:
        self._undo(self._batch, self._batch_ids, self._batch_generations)
        self._batch = {}
        self._batch_ids = []
        self._batch_generations = None

    def persist(self) -> None:
        if self._batch or self._batch_ids:
            raise RuntimeError("persist with a batch open")
        self._write(list(self._unpersisted), self._unpersisted_ids)
        self._unpersisted = {}
        self._unpersisted_ids = []
        self._unpersisted_generations = None

    def forget_unpersisted(self) -> None:
        self.rollback()
        self._undo(self._unpersisted, self._unpersisted_ids, self._unpersisted_generations)
        self._unpersisted = {}
        self._unpersisted_ids = []
        self._unpersisted_generations = None

    @property
    def unpersisted(self) -> bool:
        return bool(self._unpersisted or self._unpersisted_ids)

    def _undo(self, journal: dict[tuple[str, str], Entry | None], event_ids: list[str],
              generations: tuple[set[str], set[str]] | None) -> None:
        for (space, key), before in journal.items():
            entries = self._spaces[space].entries
            if before is None:
                entries.pop(key, None)
            else:
                entries[key] = before
        for target in self._spaces.values():
            target.reorder()  # also gives back keys `due` handed out in the undone batches
        if generations is not None:
            self._event_ids.rewind(generations)  # the ids a rotation dropped are remembered again
        self._event_ids.forget(event_ids)

    def _write(self, changed: list[tuple[str, str]], event_ids: list[str]) -> None:
        """Where a durable store writes `changed` keys (their current values) and new ids: here, nowhere."""

    # -- for persistence -------------------------------------------------------------------------

    def dump(self, space: str, key: str) -> tuple[Any, float] | None:
        """A key's value as plain data with its expiry; None when absent."""
        entry = self._spaces[space].entries.get(key)
        if entry is None:
            return None
        return self._spaces[space].codec.dump(entry[0]), entry[1]

    def load(self, space: str, key: str, plain: Any, expires: float) -> None:
        """Restore one saved value (at start, outside any batch)."""
        target = self._spaces.get(space)
        if target is not None:
            target.entries[key] = (target.codec.load(plain), expires)
            if target.order is not None:
                heapq.heappush(target.order, (expires, key))

    def space_names(self) -> list[str]:
        return list(self._spaces)
