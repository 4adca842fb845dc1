"""Exponential backoff with jitter for delivery retries.

The delay for attempt n is drawn from [c/2, c] with c = min(cap, base * 2**n):
growing, never zero (a down receiver is not hammered), and spread so that
sinks which failed together do not retry together.
"""

from __future__ import annotations

import random


class Backoff:
    __slots__ = ("_attempt", "_rng", "base", "cap")

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        if base <= 0 or cap < base:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self._attempt = 0
        self._rng = rng or random.Random()

    @property
    def attempt(self) -> int:
        return self._attempt

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2.0 ** min(self._attempt, 62))
        self._attempt += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._attempt = 0
