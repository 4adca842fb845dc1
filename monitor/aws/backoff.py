"""Exponential backoff with full jitter, and classification of AWS API errors.

Shared by the sources and alert delivery. `Backoff(base, cap).next_delay()`
returns a random delay in [floor * c, c] with c = min(cap, base * 2**attempt)
(jitter: replicas that failed together do not retry together) and `reset()`
after a success. Sources use full jitter (floor 0); delivery retries use a
floor of 0.5 so a down receiver is never retried at once.
`is_throttle(exc)` tells rate limiting (back off, count `api_throttles`) from
other API errors (count `api_errors`).
"""

from __future__ import annotations

import random
from typing import Any

THROTTLE_CODES = frozenset({
    "Throttling",
    "Throttled",
    "KMSThrottlingException",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceededException",
    "LimitExceededException",
})


class Backoff:
    """Capped exponential backoff with full jitter. Not thread-safe; one per retry loop."""

    __slots__ = ("_attempt", "_rng", "base", "cap", "floor")

    def __init__(self, base: float = 0.5, cap: float = 30.0, *, rng: random.Random | None = None,
                 floor: float = 0.0) -> None:
        if base <= 0 or cap < base:
            raise ValueError("backoff needs 0 < base <= cap")
        if not 0.0 <= floor <= 1.0:
            raise ValueError("backoff floor is a fraction of the ceiling, 0 to 1")
        self.base = base
        self.cap = cap
        self.floor = floor
        self._attempt = 0
        self._rng = rng or random.Random()

    @property
    def attempt(self) -> int:
        return self._attempt

    def ceiling(self) -> float:
        """The upper bound of the next delay."""
        # min() before the power would overflow on long outages.
        return min(self.cap, self.base * 2.0 ** min(self._attempt, 62))

    def next_delay(self) -> float:
        ceiling = self.ceiling()
        delay = self._rng.uniform(self.floor * ceiling, ceiling)
        self._attempt += 1
        return delay

    def reset(self) -> None:
        self._attempt = 0


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or "" for anything else."""
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    error = response.get("Error")
    if not isinstance(error, dict):
        return ""
    code = error.get("Code")
    return code if isinstance(code, str) else ""


def is_throttle(exc: BaseException) -> bool:
    """True for rate-limit errors (HTTP 429/503 SlowDown included)."""
    code = error_code(exc)
    if code in THROTTLE_CODES:
        return True
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        meta = response.get("ResponseMetadata")
        if isinstance(meta, dict) and meta.get("HTTPStatusCode") == 429:
            return True
    return False
