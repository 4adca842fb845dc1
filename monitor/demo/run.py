"""`trailsentry demo`: the real service against an embedded AWS emulator, with CloudTrail traffic written live.

    moto on 127.0.0.1 ── bucket ──► SNS topic ──► SQS queue ──► s3-sqs source ──► pipeline ──► outbox ──► stdout
                           ▲
    TrafficGenerator ──────┘ (background every few seconds, every mission scenario in the first minute)

The service part is exactly what `trailsentry run` builds (`monitor.app.App`)
from a config that names the emulator's queue, metrics server included
(/metrics, /healthz, /readyz on 127.0.0.1:9108 by default); only the console
sink prints readable lines on a terminal. With `--replicas N` it is N such
services in this process, sharing their state in Redis (`replicas.py`; the
Redis: `local_redis.py`). `--duration` stops by itself once what was written
has been processed; Ctrl-C (SIGINT) or SIGTERM stop it cleanly, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from monitor.demo.builders import DEMO_AWS_PREFIXES
from monitor.demo.emulator import REGION, DemoUnavailable, Emulator, Trail, use_dummy_credentials, wire_trail
from monitor.demo.local_redis import LocalRedis, RedisChoice, choose_redis, write_url_file
from monitor.demo.traffic import BACKGROUND_EVERY_SECONDS, TrafficGenerator

if TYPE_CHECKING:
    from monitor.demo.replicas import ReplicaSet

__all__ = ["MAX_REPLICAS", "SOURCE_NAME", "DemoOptions", "DemoUnavailable", "demo_config", "run_demo"]

SOURCE_NAME = "org-trail"
BUCKET = "org-cloudtrail-logs-111122223333"
DEFAULT_METRICS_PORT = 9108
MAX_REPLICAS = 5


@dataclass(frozen=True, slots=True)
class DemoOptions:
    duration: float | None = None  # None: until Ctrl-C
    speed: float = 1.0
    text: bool = True  # readable lines, else JSON Lines
    metrics_port: int = DEFAULT_METRICS_PORT  # the first replica's; 0: any free port
    replicas: int = 1
    redis_url: str | None = None  # else TRAILSENTRY_REDIS_URL, else a redis-server of the demo's own (replicas > 1)
    seed: int | None = None  # the traffic's random choices: the same events (but their times) on every run


def demo_config(trail: Trail, endpoint_url: str, *, metrics_port: int = 0,
                aws_ranges: Path | None = None) -> dict[str, Any]:
    """The config `run` would read for this emulator (validated by the same parser)."""
    rules = {"rules": {"aws_ip_ranges_file": str(aws_ranges)}} if aws_ranges is not None else {}
    return {
        **rules,
        "metrics": {"host": "127.0.0.1", "port": metrics_port},
        "accounts": {"111122223333": "prod", "444455556666": "staging"},
        "sources": [{
            "kind": "s3-sqs",
            "name": SOURCE_NAME,
            "queue_url": trail.queue_url,
            "aws": {"region": REGION, "endpoint_url": endpoint_url},
            "visibility_timeout": 60,
            "retry_base_seconds": 2,
            "retry_max_seconds": 10,
        }],
        "service": {"drain_seconds": 5, "checkpoint_seconds": 5},
    }


def write_demo_aws_ranges(folder: Path) -> Path:
    """An ip-ranges.json in AWS's format naming the addresses the demo's workloads call from as AWS's, so stolen
    workload credentials used from the attackers' addresses alert from their first call, as in production."""
    path = folder / "ip-ranges.json"
    prefixes = [{"ip_prefix": prefix, "region": REGION, "service": "EC2", "network_border_group": REGION}
                for prefix in DEMO_AWS_PREFIXES]
    path.write_bytes(orjson.dumps({"syncToken": "0", "createDate": "2026-01-01-00-00-00", "prefixes": prefixes,
                                   "ipv6_prefixes": []}))
    return path


def run_demo(options: DemoOptions, *, out: IO[bytes] | None = None, err: IO[str] | None = None) -> int:
    """Run the demo until Ctrl-C or `duration`; the exit code. Raises DemoUnavailable without moto, or
    without a Redis for replicas (before anything is started)."""
    emulator = Emulator()
    redis = choose_redis(options.redis_url, options.replicas)
    use_dummy_credentials()
    stream = out if out is not None else sys.stdout.buffer
    messages = err if err is not None else sys.stderr
    if options.metrics_port and not _port_free(options.metrics_port):
        print(f"trailsentry demo: port {options.metrics_port} is busy; serving metrics on a free port instead",
              file=messages)
        options = dataclasses.replace(options, metrics_port=0)
    with tempfile.TemporaryDirectory(prefix="trailsentry-demo-") as folder:
        state = Path(folder)
        server: LocalRedis | None = None
        try:
            if redis is not None and redis.binary is not None:
                server = LocalRedis(redis.binary, state / "redis")
                server.start()  # before any thread: its child stops with this process (see local_redis)
                redis = RedisChoice(server.url, f"{redis.described} on 127.0.0.1:{server.port}, stopped at the end")
            return asyncio.run(_demo(emulator, options, state, redis, out=stream, err=messages))
        finally:
            if server is not None:
                server.stop()


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _demo(emulator: Emulator, options: DemoOptions, state: Path, redis: RedisChoice | None, *,
                out: IO[bytes], err: IO[str]) -> int:
    from aiobotocore.session import get_session

    from monitor.demo.replicas import ReplicaSet, SharedState, open_shared_state

    shared: SharedState | None = None
    if redis is not None:
        assert redis.url is not None  # a named Redis, or the demo's own once started
        shared = await open_shared_state(redis.url, write_url_file(redis.url, state), redis.described)
    emulator.start()
    try:
        session = get_session()
        trail = await wire_trail(session, emulator.endpoint_url, bucket=BUCKET)
        ranges = write_demo_aws_ranges(state)
        replicas = ReplicaSet.build(
            options.replicas,
            lambda port: demo_config(trail, emulator.endpoint_url, metrics_port=port, aws_ranges=ranges), state,
            shared, out, text=options.text, metrics_port=options.metrics_port)
        async with session.create_client("s3", region_name=REGION, endpoint_url=emulator.endpoint_url) as s3:
            traffic = TrafficGenerator(s3, trail.bucket, speed=options.speed, seed=options.seed)
            banner = (f"trailsentry demo: AWS emulator on {emulator.endpoint_url}; bucket {trail.bucket} -> "
                      f"SNS {trail.topic_arn.rsplit(':', 1)[-1]} -> SQS {trail.queue_url.rsplit('/', 1)[-1]}; "
                      f"a CloudTrail log file every {BACKGROUND_EVERY_SECONDS / options.speed:g}s, every mission "
                      f"scenario within the first {60 / options.speed:g}s. ")
            banner += "Ctrl-C stops." if options.duration is None else f"Stopping after {options.duration:g}s."
            code = await _serve(replicas, traffic, options.duration, banner, err)
        for line in replicas.summary():
            print(line, file=err, flush=True)
        print(f"trailsentry demo: wrote {traffic.stats.objects} log files ({traffic.stats.events} events, "
              f"{len(traffic.stats.scenarios)} scenarios); delivered {replicas.sent} alert messages "
              f"({len(replicas.alert_ids)} alerts)", file=err, flush=True)
        return code
    finally:
        emulator.stop()
        if shared is not None:
            left = await shared.close()
            if left > 0:
                print(f"trailsentry demo: {left} alert batch(es) committed at the stop were left in Redis, "
                      "undelivered (a deployment's next delivery lease holder would deliver them)", file=err,
                      flush=True)


async def _serve(replicas: ReplicaSet, traffic: TrafficGenerator, duration: float | None, banner: str,
                 err: IO[str]) -> int:
    """Start the replicas, write traffic until a signal or `duration` (then catch up), stop them."""
    writing: asyncio.Task[None] | None = None
    try:
        if not await replicas.start():  # one failed at start: its exception or exit code
            return await replicas.stop("a replica failed to start")
        print(banner, file=err, flush=True)
        for line in replicas.describe():
            print(line, file=err, flush=True)
        writing = asyncio.create_task(traffic.run())
        reached = await replicas.wait(duration)
        await _cancel(writing)
        if reached:  # --duration reached: let what was written be processed, then stop
            await replicas.catch_up(traffic.stats.objects)
        return await replicas.stop("--duration reached" if reached else replicas.reason or "a replica stopped")
    finally:
        if writing is not None:
            await _cancel(writing)
        await replicas.abandon()  # after an error here: nothing left running


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
