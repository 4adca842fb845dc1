"""Bounded memory of recently seen eventIDs.

Two generations of sets: lookups check both, inserts go to the newer one, and when it fills up the
older generation is dropped. Memory stays below 2 x capacity ids, and an id is remembered for at
least `capacity` later events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class EventIds:
    __slots__ = ("_capacity", "_current", "_previous")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("dedupe capacity must be positive")
        self._capacity = capacity
        self._current: set[str] = set()
        self._previous: set[str] = set()

    def seen_before(self, event_id: str) -> bool:
        """True if the id was already recorded; otherwise records it and returns False."""
        if event_id in self._current or event_id in self._previous:
            return True
        current = self._current
        current.add(event_id)
        if len(current) >= self._capacity:
            self._previous = current
            self._current = set()
        return False

    def claim(self, event_ids: Sequence[str]) -> tuple[list[bool], list[str]]:
        """For each id, True when it is new (now remembered) or empty; and the ids newly remembered.

        The usual batch repeats nothing: set operations in C tell so at once, one lookup per id otherwise.
        """
        batch = set(event_ids)
        batch.discard("")
        current = self._current
        if (len(batch) == len(event_ids) and len(current) + len(batch) < self._capacity
                and batch.isdisjoint(current) and batch.isdisjoint(self._previous)):
            current |= batch
            return [True] * len(event_ids), list(event_ids)
        fresh: list[bool] = []
        added: list[str] = []
        for event_id in event_ids:
            if not event_id:
                fresh.append(True)
            elif self.seen_before(event_id):
                fresh.append(False)
            else:
                fresh.append(True)
                added.append(event_id)
        return fresh, added

    def generations(self) -> tuple[set[str], set[str]]:
        """Both generations as they are now, for undoing a rotation: a rotation replaces the sets and never
        changes the older ones, so these (less ids remembered since, see `forget`) are the state of now."""
        return self._previous, self._current

    def rewind(self, generations: tuple[set[str], set[str]]) -> None:
        """Go back to generations taken earlier (a generation dropped since comes back); then `forget` the ids
        remembered since."""
        self._previous, self._current = generations

    def forget(self, event_ids: Iterable[str]) -> None:
        """Undo recording these ids (their batch was rolled back)."""
        for event_id in event_ids:
            self._current.discard(event_id)
            self._previous.discard(event_id)

    @property
    def capacity(self) -> int:
        return self._capacity

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def oldest_first(self) -> list[str]:
        return [*self._previous, *self._current]

    def restore(self, event_ids: Iterable[str]) -> None:
        for event_id in event_ids:
            self.seen_before(event_id)
