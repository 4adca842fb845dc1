"""The connection to Redis (or Valkey): opened from a secret URL, every round trip counted and timed.

A round trip that fails because Redis cannot be reached (refused, timed out, still loading its AOF
after a restart) raises `StateUnavailable` and marks the store down until the next one succeeds; the
pipeline then stops taking batches (their sources redeliver) and readiness fails. The URL holds the
password: it is never logged, and errors name the operation, not the URL.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from monitor.alerts.secrets import Secret
from monitor.engine.state.store import StateUnavailable

T = TypeVar("T")

# Failures of reaching Redis, as opposed to a script or command refused (a bug).
UNREACHABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.BusyLoadingError,
               ConnectionError, TimeoutError, OSError)


def open_client(url: Secret, timeout: float) -> aioredis.Redis:
    """A client for redis:// or rediss:// (TLS); nothing is connected until the first command."""
    return aioredis.Redis.from_url(url.reveal(), socket_timeout=timeout, socket_connect_timeout=timeout,
                                   decode_responses=False, retry_on_timeout=False, health_check_interval=30)


class RoundTrips:
    """Counts and times round trips by operation; knows whether the last one reached Redis."""

    def __init__(self, observe: Callable[[str, float], None] | None = None) -> None:
        self.counts: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.up = True
        self.last_error = ""
        self.down_since: float | None = None
        self._observe = observe
        self._listeners: list[Callable[[bool], None]] = []
        self._in_flight: set[asyncio.Future[Any]] = set()

    def on_change(self, listener: Callable[[bool], None]) -> None:
        """Called with the new state whenever the store goes down or comes back."""
        self._listeners.append(listener)

    def observe_with(self, observe: Callable[[str, float], None]) -> None:
        self._observe = observe

    async def call(self, operation: str, make: Callable[[], Awaitable[T]]) -> T:
        """One round trip. Cancelling the caller does not cancel the command: redis-py can be left waiting
        for ever when a command is cancelled while it reads the reply (a blocking XREADGROUP of the
        delivery feed, stopped at shutdown, hung that way), so the command runs as a task of its own and
        ends by itself, within its block time or the socket timeout (`settle` waits for those)."""
        started = time.perf_counter()
        trip: asyncio.Future[T] = asyncio.ensure_future(make())
        self._in_flight.add(trip)
        trip.add_done_callback(self._finished)
        try:
            result = await asyncio.shield(trip)
        except UNREACHABLE as exc:
            self.failures[operation] += 1
            self._set(False, f"{operation}: {type(exc).__name__}: {_first_line(exc)}")
            raise StateUnavailable(self.last_error) from None
        finally:
            self.counts[operation] += 1
            if self._observe is not None:
                self._observe(operation, time.perf_counter() - started)
        self._set(True, "")
        return result

    async def settle(self, within: float) -> None:
        """Wait (at most `within` seconds) for the round trips whose callers were cancelled to end."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=within)

    def _finished(self, trip: asyncio.Future[Any]) -> None:
        self._in_flight.discard(trip)
        if not trip.cancelled():
            trip.exception()  # retrieved: a caller that was cancelled never sees it

    def _set(self, up: bool, error: str) -> None:
        if error:
            self.last_error = error
        if up == self.up:
            return
        self.up = up
        self.down_since = None if up else time.time()
        for listener in self._listeners:
            listener(up)


def _first_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:200]
