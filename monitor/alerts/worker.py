"""One delivery worker per sink: sends due outbox rows in order, retries, rate-limits, dead-letters.

One message is in flight at a time. A failure pauses the whole sink (the
same row is retried first when the pause ends, so order holds) for the
receiver's Retry-After or a jittered exponential backoff. A payload the
receiver rejects (400/413/422) is dead-lettered at once; any row still
undelivered `max_age_seconds` after it became due is dead-lettered: logged
with its alert id, counted, and kept in the dead-letter table.

All scheduling uses the injected wall clock, so tests move time forward and
call `wake()` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from monitor.alerts.base import KIND_REPEAT, DeliveryError, Notice, Sink
from monitor.alerts.outbox import Outbox
from monitor.alerts.outbox_schema import Due
from monitor.alerts.settings import HealthSettings
from monitor.alerts.sink_settings import SinkSettings
from monitor.alerts.stats import SinkCounters
from monitor.aws.backoff import Backoff
from monitor.model.alert import Alert

log = logging.getLogger("trailsentry.alerts")

# The longest a worker waits before looking at the outbox and the clock again.
IDLE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class HealthChange:
    sink: str
    kind: str
    failing: bool
    reason: str
    consecutive_failures: int
    oldest_pending_seconds: float
    since: float


HealthCallback = Callable[[HealthChange], None]


class DeliveryWorker:
    def __init__(self, sink: Sink, settings: SinkSettings, outbox: Outbox, *, clock: Callable[[], float],
                 health: HealthSettings, on_health: HealthCallback, rng: random.Random | None = None,
                 on_progress: Callable[[], None] = lambda: None) -> None:
        self.sink = sink
        self.name = settings.name
        self.settings = settings
        self.counters = SinkCounters()
        self.consecutive_failures = 0
        self.failing = False
        self.draining = False
        self._outbox = outbox
        self._clock = clock
        self._health = health
        self._on_health = on_health
        self._on_progress = on_progress
        self._backoff = Backoff(settings.backoff_base_seconds, settings.backoff_cap_seconds, rng=rng, floor=0.5)
        self._interval = 1.0 / settings.rate_per_second if settings.rate_per_second > 0 else 0.0
        self._paused_until = 0.0
        self._next_send_at = 0.0
        self._last_reason = ""
        self._failing_since = 0.0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that races the wake-up.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(max(seconds, 0.01), IDLE_SECONDS)):
                await self._wake.wait()

    async def run(self) -> None:
        while True:
            # Clear before looking: a record() after this point wakes the next wait.
            self._wake.clear()
            now = self._clock()
            self._expire(now)
            self._check_health(now)
            if now < self._paused_until:
                if self.draining:
                    return
                await self._sleep(self._paused_until - now)
                continue
            if now < self._next_send_at:
                await self._sleep(self._next_send_at - now)
                continue
            due = self._outbox.next_due(self.name, now)
            if due is None:
                if self.draining:
                    return
                upcoming = self._outbox.next_due_time(self.name)
                await self._sleep(IDLE_SECONDS if upcoming is None else upcoming - now)
                continue
            try:
                await self._deliver(due)
            finally:
                self._on_progress()

    def _expire(self, now: float) -> None:
        letters = self._outbox.expire(self.name, now - self.settings.max_age_seconds, now)
        if letters:
            self._on_progress()
        for letter in letters:
            self.counters.dead_lettered += 1
            log.error("alert %s dead-lettered for sink %s after %d attempts: %s (delivery %s)",
                      letter.alert_id, self.name, letter.attempts, letter.reason, letter.delivery_id)

    def _notice(self, due: Due) -> tuple[Notice, int] | None:
        stored = self._outbox.alert_body(due.alert_id)
        if stored is None:
            return None
        body, version = stored
        alert = Alert.from_dict(orjson.loads(body))
        notice = Notice(alert=alert, body=body, delivery_id=due.delivery_id, kind=due.kind, repeats=due.repeats,
                        window_seconds=due.window_seconds, attempt=due.attempts + 1)
        return notice, version

    async def _deliver(self, due: Due) -> None:
        try:
            prepared = self._notice(due)
        except (ValueError, KeyError, TypeError):
            self._dead(due, "stored alert is unreadable")
            return
        if prepared is None:
            self._outbox.mark_folded(due.seq, self._clock())
            return
        notice, version = prepared
        if due.kind == KIND_REPEAT and due.single and self._outbox.already_sent(self.name, due.alert_id, version):
            # The first message went out late and already showed the newest count.
            self._outbox.mark_folded(due.seq, self._clock())
            self.counters.skipped += 1
            return
        if due.attempts > 0:
            self.counters.retried += 1
        self._next_send_at = self._clock() + self._interval
        self._outbox.in_flight.add(due.seq)
        try:
            await self.sink.send(notice)
        except DeliveryError as error:
            self._outbox.in_flight.discard(due.seq)
            self._failed(due, error)
            return
        except asyncio.CancelledError:
            self._outbox.in_flight.discard(due.seq)
            raise
        except Exception as exc:  # a sink bug must not stop delivery to this sink
            self._outbox.in_flight.discard(due.seq)
            self._failed(due, DeliveryError("error", f"unexpected {type(exc).__name__}"))
            return
        # No await between the confirmation and this mark: a cancel cannot make it send twice.
        self._outbox.mark_delivered(due.seq, version, self._clock())
        self._outbox.in_flight.discard(due.seq)
        self.counters.sent += 1
        self._backoff.reset()
        self.consecutive_failures = 0
        self._check_health(self._clock())

    def _dead(self, due: Due, reason: str) -> None:
        letter = self._outbox.dead_letter(due.seq, reason, self._clock())
        if letter is not None:
            self.counters.dead_lettered += 1
            log.error("alert %s dead-lettered for sink %s after %d attempts: %s (delivery %s)",
                      letter.alert_id, self.name, letter.attempts, reason, letter.delivery_id)

    def _failed(self, due: Due, error: DeliveryError) -> None:
        now = self._clock()
        self.counters.failed += 1
        if error.rate_limited:
            self.counters.rate_limited += 1
        self.consecutive_failures += 1
        self._last_reason = error.reason
        self._outbox.mark_failed(due.seq, str(error))
        if error.permanent:
            log.warning("sink %s rejected alert %s (%s)", self.name, due.alert_id, error)
            self._dead(due, f"rejected by the receiver: {error}")
        else:
            delay = error.retry_after if error.retry_after is not None else self._backoff.next_delay()
            self._paused_until = now + delay
            log.warning("sink %s: sending alert %s failed (%s%s); retrying in %.2fs",
                        self.name, due.alert_id, error, ", may have arrived" if error.ambiguous else "", delay)
        self._check_health(now)

    def _check_health(self, now: float) -> None:
        pending, oldest = self._outbox.pending_of(self.name, now)
        stuck = pending > 0 and oldest >= self._health.pending_seconds
        failing = self.consecutive_failures >= self._health.consecutive_failures or stuck
        if failing == self.failing:
            return
        if failing:
            self._failing_since = now
        reason = self._last_reason if self.consecutive_failures else "backlog"
        self.failing = failing
        self._on_health(HealthChange(sink=self.name, kind=self.sink.kind, failing=failing, reason=reason,
                                     consecutive_failures=self.consecutive_failures,
                                     oldest_pending_seconds=oldest, since=self._failing_since))
