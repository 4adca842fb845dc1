"""One replica's part in a shared deployment: the Redis state store, its leases, alert delivery from
the shared stream, sources run one replica at a time, and the monitor's alert when Redis is away.

Built by the composition root (`monitor.app`) when `state.backend` is `redis`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from monitor.alerts.contract import AlertRecorder
from monitor.model import Alert
from monitor.model.alert import fingerprint
from monitor.model.severity import Severity
from monitor.replicas.connection import RoundTrips, open_client
from monitor.replicas.cursors import SharedCursors
from monitor.replicas.feed import DeliveryFeed, ReceiptRecorder
from monitor.replicas.leased import LEASED_KINDS, LeasedSource
from monitor.replicas.leases import Leases
from monitor.replicas.settings import StateSettings
from monitor.replicas.store import Keys, RedisStore
from monitor.sources.base import Source

log = logging.getLogger("trailsentry.replicas")

DELIVERY_LEASE = "delivery"
STATE_DOWN_DETECTOR = "trailsentry-state-store-unavailable"
_STATE_DOWN_RUNBOOK = (
    "This trailsentry replica cannot reach the Redis (or Valkey) that holds the detection state it shares with "
    "the other replicas. While it cannot, it takes no new input and acknowledges nothing, so nothing is lost: SQS "
    "redelivers, and detection resumes on its own when Redis answers. Meanwhile CloudTrail is not being checked "
    "by this replica (by none, if every replica reports this). Check Redis (is it up, reachable from the pods, "
    "its password and TLS settings), the network policy and security groups between them, and "
    "trailsentry_state_round_trips_total and the replica logs."
)


def replica_id(data_dir: Path) -> str:
    """This replica's name, kept in its data folder so a restarted replica is the same consumer."""
    path = data_dir / "replica-id"
    with contextlib.suppress(OSError):
        existing = path.read_text(encoding="utf-8").strip()
        if existing:
            return existing
    name = f"{socket.gethostname()[:40]}-{uuid.uuid4().hex[:8]}"
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(name + "\n", encoding="utf-8")
    return name


class Replication:
    def __init__(self, settings: StateSettings, data_dir: Path, *, lateness: float,
                 clock: Callable[[], float] = time.time) -> None:
        assert settings.url is not None
        self.settings = settings
        self.replica_id = replica_id(data_dir)
        self.trips = RoundTrips()
        self.client = open_client(settings.url.resolve(), settings.timeout_seconds)
        self.keys = Keys(settings.key_prefix)
        self.store = RedisStore(self.client, self.keys, lateness=lateness, event_id_seconds=settings.event_id_seconds,
                                trips=self.trips)
        self.leases = Leases(self.client, self.keys, self.replica_id, settings.lease_seconds, self.trips)
        self.feed: DeliveryFeed | None = None
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []  # the feed and the leases: stopped first at shutdown
        self._watcher: asyncio.Task[None] | None = None
        self._outage_alerted: float | None = None  # when the outage being reported began

    def leased(self, name: str, kind: str, build: Callable[[SharedCursors], Source]) -> Source | None:
        """The source run one replica at a time, or None for a kind every replica runs (s3-sqs, directory)."""
        if kind not in LEASED_KINDS:
            return None
        cursors = SharedCursors(self.client, self.keys, name, self.trips)
        return LeasedSource(name, kind, self.leases.lease(f"source:{name}"), cursors, build)

    async def start(self, recorder: ReceiptRecorder | None, local: AlertRecorder | None) -> None:
        """Leases and, with a recorder (this replica's durable outbox), alert delivery from the stream."""
        if recorder is not None:
            self.feed = DeliveryFeed(self.client, self.keys, self.replica_id, self.leases.lease(DELIVERY_LEASE),
                                     recorder, self.trips, claim_idle_seconds=self.settings.lease_seconds * 2)
            self._tasks.append(asyncio.create_task(self.feed.run(), name="trailsentry-delivery-feed"))
        self._tasks.append(asyncio.create_task(self.leases.run(), name="trailsentry-leases"))
        self._watcher = asyncio.create_task(self._watch(local), name="trailsentry-state-watch")
        log.info("replica %s sharing state in Redis (key prefix %r)", self.replica_id, self.settings.key_prefix)

    def ready(self) -> bool:
        return self.trips.up

    # -- what the metrics read ---------------------------------------------------------------------

    def state_up(self) -> bool:
        return self.trips.up

    def round_trips(self) -> dict[str, int]:
        return dict(self.trips.counts)

    def leases_held(self) -> dict[str, bool]:
        return {name: lease.held.is_set() for name, lease in self.leases.leases.items()}

    async def leave(self) -> None:
        """First step of a shutdown: stop taking alerts from the stream and give every lease back, so another
        replica takes over delivery and the leased sources at once (what this one has not recorded stays in
        Redis for it). The store stays usable for the final commit."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()  # the lease keeper gives its leases back as it stops
        await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        await self.leave()
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        # The feed's last read blocks for up to a second; any trip ends within the socket timeout.
        await self.trips.settle(self.settings.timeout_seconds + 1.0)
        await self.client.aclose()

    async def _watch(self, local: AlertRecorder | None) -> None:
        """Say once per outage, on the monitor's own alert channel, that Redis is out of reach (and back)."""
        while True:
            await asyncio.sleep(1.0)  # the watch's period
            since = self.trips.down_since
            if since is not None and self._outage_alerted is None:
                if self._clock() - since >= self.settings.unavailable_alert_seconds:
                    self._outage_alerted = since
                    log.error("Redis unreachable for %.0fs (%s): taking no input until it answers",
                              self._clock() - since, self.trips.last_error)
                    await self._tell(local, since, down=True)
            elif since is None and self._outage_alerted is not None:
                began, self._outage_alerted = self._outage_alerted, None
                log.warning("Redis answers again after %.0fs; processing resumed", self._clock() - began)
                await self._tell(local, began, down=False)

    async def _tell(self, local: AlertRecorder | None, since: float, *, down: bool) -> None:
        if local is None:
            return
        now = self._clock()
        state = "unreachable" if down else "recovered"
        alert = Alert(
            id=fingerprint(STATE_DOWN_DETECTOR, self.replica_id, str(since), state), detector=STATE_DOWN_DETECTOR,
            title=f"trailsentry replica {self.replica_id} cannot reach its state store (Redis)" if down
            else f"trailsentry replica {self.replica_id} reaches its state store again",
            severity=Severity.HIGH if down else Severity.INFO, account="", region="", principal="trailsentry",
            source_ip="", user_agent="", event_source="trailsentry",
            event_name="StateStoreUnavailable" if down else "StateStoreRecovered", event_time=now,
            last_event_time=now, event_ids=[], count=1, mitre=(), runbook=_STATE_DOWN_RUNBOOK,
            context={"replica": self.replica_id, "state": state, "error": self.trips.last_error[:300],
                     "unavailable_seconds": round(max(now - since, 0.0))})
        try:
            await local.record([alert])
        except Exception as exc:  # the local outbox itself failing is logged by the caller's metrics
            log.error("recording the state store alert failed: %s: %s", type(exc).__name__, exc)
