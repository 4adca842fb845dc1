"""The demo's service: one `App`, or with `--replicas N` N of them in this process, sharing state in Redis.

Each replica is an `App` built as `trailsentry run` builds it, from the demo's config plus the same
`state` section (backend redis, one key prefix per demo run): its own data folder under the demo's
temporary directory (its replica id, checkpoint and outbox), its own `Replication`, metrics server
and console sink. All of them consume the emulator's one SQS queue, so the log files are shared out
between them; each commits the alerts its batches produce together with the state they change, and
the replica holding the `delivery` lease takes them from Redis into its outbox and prints them (with
N > 1 each text line starts with the replica that printed it).

Stopping keeps every alert: the replicas without the delivery lease stop first (their last commits
reach the shared alert stream), then the holder, once it has taken the stream's last entries. With
one replica and no Redis this is the demo as it always was: one `App` with its local state.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis

from monitor.alerts.secrets import Secret
from monitor.app import App
from monitor.config import parse_config
from monitor.demo.console import TerminalSink
from monitor.demo.emulator import DemoUnavailable
from monitor.demo.run import SOURCE_NAME
from monitor.pipeline.stats import PipelineStats
from monitor.replicas.connection import UNREACHABLE, open_client
from monitor.replicas.runtime import DELIVERY_LEASE, Replication
from monitor.replicas.store import Keys

# After --duration: how long to wait for the objects already written to be processed (and their alerts
# taken from Redis by the delivery lease holder).
CATCH_UP_SECONDS = 20.0
# At the start: how long to wait for a replica to take the delivery lease (its first try is at once).
LEASE_WAIT_SECONDS = 10.0
# At the stop: how long the delivery lease holder gets to take the last alerts from Redis.
STREAM_DRAIN_SECONDS = 10.0
POLL_SECONDS = 0.05


@dataclass(slots=True)
class SharedState:
    """The `state` section every replica gets, and the demo's own client (to watch the alert stream)."""

    section: dict[str, Any]
    keys: Keys
    client: aioredis.Redis
    described: str

    async def waiting_alerts(self) -> int:
        """Committed alert batches no delivery lease holder has taken into its outbox yet."""
        try:
            return int(await self.client.xlen(self.keys.alerts))
        except UNREACHABLE:
            return -1

    async def close(self) -> int:
        """Remove this demo run's keys; the alert batches that were left undelivered (-1: unknown)."""
        left = await self.waiting_alerts()
        try:
            pattern = self.section["key_prefix"] + "*"
            doomed = [key async for key in self.client.scan_iter(match=pattern, count=500)]
            for start in range(0, len(doomed), 500):
                await self.client.unlink(*doomed[start:start + 500])
        except UNREACHABLE:
            pass  # what is left expires on its own, except the few keys without a TTL
        finally:
            await self.client.aclose()
        return left


async def open_shared_state(url: Secret, url_file: Path, described: str) -> SharedState:
    """Check that the Redis answers (DemoUnavailable, without the URL, if not); the replicas' `state` section."""
    prefix = f"trailsentry-demo-{secrets.token_hex(4)}:"
    try:
        client = open_client(url, timeout=2.0)
    except ValueError as exc:  # not a redis://, rediss:// or unix:// URL
        raise DemoUnavailable(f"cannot use {described}: {_without(str(exc), url)}") from None
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        raise DemoUnavailable(f"cannot reach {described}: {type(exc).__name__}: "
                              f"{_without(str(exc), url)}") from None
    section = {"backend": "redis", "url_file": str(url_file), "key_prefix": prefix}
    return SharedState(section, Keys(prefix), client, described)


def _without(message: str, url: Secret) -> str:
    """An error message, first line, with neither the URL nor its password in it."""
    text = (message.splitlines() or [""])[0][:300].replace(url.reveal(), "<url>")
    password = urlsplit(url.reveal()).password
    return text.replace(password, "***") if password else text


@dataclass(eq=False)
class Replica:
    number: int
    app: App
    sink: TerminalSink
    task: asyncio.Task[int] | None = None
    # Kept once started: the app lets go of both when it stops, the summary reads them after.
    replication: Replication | None = None
    stats: PipelineStats | None = None
    stop_requested: bool = False

    @property
    def replica_id(self) -> str:
        return self.replication.replica_id if self.replication is not None else ""

    def leases(self) -> list[str]:
        """The leases this replica holds now."""
        held = self.replication.leases_held() if self.replication is not None else {}
        return sorted(name for name, holding in held.items() if holding)

    def holds(self, lease: str) -> bool:
        return lease in self.leases()

    def applied(self) -> int:
        return self.stats.source(SOURCE_NAME).batches if self.stats is not None else 0

    def request_stop(self, reason: str) -> None:
        self.stop_requested = True
        self.app.request_stop(reason)


class ReplicaSet:
    def __init__(self, replicas: list[Replica], shared: SharedState | None) -> None:
        self.replicas = replicas
        self.shared = shared
        self._stop = asyncio.Event()
        self._hurry = asyncio.Event()
        self.reason = ""
        self._signals: list[signal.Signals] = []

    @classmethod
    def build(cls, count: int, config: Callable[[int], dict[str, Any]], folder: Path, shared: SharedState | None,
              out: IO[bytes], *, text: bool, metrics_port: int) -> ReplicaSet:
        """`count` apps from `config(metrics_port)`: the first on `metrics_port`, the others on free ports."""
        replicas = []
        for number in range(1, count + 1):
            data = config(metrics_port if number == 1 else 0)
            if shared is not None:
                data["state"] = dict(shared.section)
            sink = TerminalSink(out, text=text, label=f"[replica {number}]" if count > 1 else "")
            home = folder if count == 1 else folder / f"replica-{number}"
            app = App(parse_config(data), alert_sinks=[sink], serve_metrics=True,
                      checkpoint_path=home / "demo.sqlite")
            replicas.append(Replica(number, app, sink))
        return cls(replicas, shared)

    @property
    def sent(self) -> int:
        return sum(replica.sink.sent for replica in self.replicas)

    @property
    def alert_ids(self) -> set[str]:
        return set().union(*(replica.sink.alert_ids for replica in self.replicas))

    # -- start -------------------------------------------------------------------------------------------

    async def start(self) -> bool:
        """Start every replica (signals stop them from now on); False when one failed to start (then call stop)."""
        self._install_signal_handlers()
        for replica in self.replicas:
            replica.task = asyncio.create_task(replica.app.run(handle_signals=False),
                                               name=f"demo-replica-{replica.number}")
        for replica in self.replicas:
            assert replica.task is not None
            started = asyncio.create_task(replica.app.started.wait())
            await asyncio.wait({replica.task, started}, return_when=asyncio.FIRST_COMPLETED)
            started.cancel()
            if replica.task.done():
                return False
            replica.replication = replica.app.replication
            replica.stats = replica.app.pipeline.stats if replica.app.pipeline is not None else None
        if self.shared is not None:
            await self._until(lambda: self._holder() is not None, LEASE_WAIT_SECONDS, self._stop)
        return True

    def describe(self) -> list[str]:
        """What to print once started: where the metrics are, and with Redis a line per replica."""
        first = self.replicas[0].app.metrics_server
        if self.shared is None:
            return [f"trailsentry demo: metrics on {first.url}/metrics (also /healthz, /readyz)"] if first else []
        count = len(self.replicas)
        who = f"{count} replicas consume the one SQS queue and share their" if count > 1 else \
            "1 replica consumes the SQS queue and keeps its"
        lines = [f"trailsentry demo: {who} state in {self.shared.described}; keys under "
                 f"{self.shared.section['key_prefix']}"]
        for replica in self.replicas:
            held = replica.leases()
            leases = f"holds the {' and '.join(held)} lease{'s' if len(held) > 1 else ''}" if held else "holds no lease"
            if DELIVERY_LEASE in held:
                leases += " (prints every alert)"
            server = replica.app.metrics_server
            metrics = f"; metrics on {server.url}/metrics (also /healthz, /readyz)" if server is not None else ""
            lines.append(f"trailsentry demo: replica {replica.number} of {count}, id {replica.replica_id}: "
                         f"{leases}{metrics}")
        return lines

    # -- run -----------------------------------------------------------------------------------------------

    async def wait(self, duration: float | None) -> bool:
        """Until a signal, a replica stopping by itself, or `duration`; True when it was the duration."""
        stop = asyncio.create_task(self._stop.wait())
        tasks = {replica.task for replica in self.replicas if replica.task is not None}
        try:
            done, _ = await asyncio.wait({stop, *tasks}, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        return not done

    async def catch_up(self, written: int) -> None:
        """Let what was written be processed, and its alerts reach an outbox (at most CATCH_UP_SECONDS)."""
        async def processed() -> bool:
            stats = [replica.stats for replica in self.replicas if replica.stats is not None]
            handled = sum(s.source(SOURCE_NAME).batches + s.source(SOURCE_NAME).batches_failed for s in stats)
            if handled < written or any(s.queue_depth for s in stats):
                return False
            return self.shared is None or await self.shared.waiting_alerts() == 0

        await self._until(processed, CATCH_UP_SECONDS, self._stop)

    # -- stop ----------------------------------------------------------------------------------------------

    async def stop(self, reason: str) -> int:
        """Stop every replica, the delivery lease holder last; the exit code (a start failure raises)."""
        try:
            holder = self._holder()
            await self._stop_each([replica for replica in self.replicas if replica is not holder], reason)
            if holder is not None:
                assert self.shared is not None
                shared = self.shared

                async def taken() -> bool:
                    return await shared.waiting_alerts() <= 0

                await self._until(taken, STREAM_DRAIN_SECONDS, self._hurry)
                await self._stop_each([holder], reason)
        finally:
            self._remove_signal_handlers()
        codes = [replica.task.result() for replica in self.replicas if replica.task is not None]
        return max(codes, default=0)

    async def _stop_each(self, replicas: list[Replica], reason: str) -> None:
        for replica in replicas:
            if replica.task is not None and not replica.task.done() and not replica.stop_requested:
                replica.request_stop(reason)
        await asyncio.gather(*(replica.task for replica in replicas if replica.task is not None),
                             return_exceptions=True)

    def summary(self) -> list[str]:
        """With Redis, a line per replica: what it applied, and whether it held the delivery lease."""
        if self.shared is None:
            return []
        lines = []
        for replica in self.replicas:
            stats = replica.stats
            conflicts = stats.conflicts if stats is not None else 0
            committed = stats.source(SOURCE_NAME).alerts if stats is not None else 0
            redone = f", {conflicts} commit(s) redone after another replica's" if conflicts else ""
            line = (f"trailsentry demo: replica {replica.number}, id {replica.replica_id}: applied "
                    f"{replica.applied()} log files{redone}, committed {committed} alert(s) to Redis; ")
            replication = replica.replication
            lease = replication.leases.leases.get(DELIVERY_LEASE) if replication is not None else None
            if lease is not None and lease.acquired:
                feed = replication.feed if replication is not None else None
                taken = feed.alerts if feed is not None else 0
                line += (f"held the delivery lease: took {taken} alert(s) from Redis into its outbox and printed "
                         f"{replica.sink.sent} alert messages ({len(replica.sink.alert_ids)} alerts)")
            else:
                line += "did not hold the delivery lease"
                if replica.sink.sent:
                    line += f"; printed {replica.sink.sent} alert messages of its own"
            lines.append(line)
        return lines

    # -- helpers -------------------------------------------------------------------------------------------

    async def abandon(self) -> None:
        """Cancel the replicas still running (the demo itself failed or was cancelled)."""
        tasks = [replica.task for replica in self.replicas if replica.task is not None and not replica.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._remove_signal_handlers()

    def _holder(self) -> Replica | None:
        return next((replica for replica in self.replicas if replica.holds(DELIVERY_LEASE)), None)

    @staticmethod
    async def _until(condition: Callable[[], Any], seconds: float, abort: asyncio.Event) -> bool:
        """Poll `condition` (sync or async) until it holds, `abort` is set (a signal) or `seconds` pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline and not abort.is_set():
            result = condition()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return True
            await asyncio.sleep(POLL_SECONDS)  # the poll interval
        return False

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._signalled, sig.name)
            self._signals.append(sig)

    def _remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)
        self._signals.clear()

    def _signalled(self, name: str) -> None:
        """The first signal stops the demo in order; a second cuts every drain and wait short."""
        if not self._stop.is_set():
            self.reason = name
            self._stop.set()
            return
        self._hurry.set()
        for replica in self.replicas:
            if not replica.stop_requested:
                replica.request_stop(name)
            replica.app.request_stop(name)  # a second request: skip the rest of the drain
