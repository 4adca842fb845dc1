"""`trailsentry demo`: the real service against an embedded AWS emulator, with CloudTrail traffic written live.

    moto on 127.0.0.1 ── bucket ──► SNS topic ──► SQS queue ──► s3-sqs source ──► pipeline ──► outbox ──► stdout
                           ▲
    TrafficGenerator ──────┘ (background every few seconds, every mission scenario in the first minute)

The service part is exactly what `trailsentry run` builds (`monitor.app.App`)
from a config that names the emulator's queue, metrics server included
(/metrics, /healthz, /readyz on 127.0.0.1:9108 by default); only the console
sink prints readable lines on a terminal. `--duration` stops by itself once
what was written has been processed; Ctrl-C (SIGINT) or SIGTERM stop it
cleanly, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from monitor.demo.console import TerminalSink
from monitor.demo.emulator import REGION, DemoUnavailable, Emulator, Trail, use_dummy_credentials, wire_trail
from monitor.demo.traffic import BACKGROUND_EVERY_SECONDS, TrafficGenerator

__all__ = ["SOURCE_NAME", "DemoUnavailable", "demo_config", "run_demo"]

SOURCE_NAME = "org-trail"
BUCKET = "org-cloudtrail-logs-111122223333"
# After --duration: how long to wait for the objects already written to be processed.
CATCH_UP_SECONDS = 20.0
DEFAULT_METRICS_PORT = 9108


def demo_config(trail: Trail, endpoint_url: str, *, metrics_port: int = 0) -> dict[str, Any]:
    """The config `run` would read for this emulator (validated by the same parser)."""
    return {
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


def run_demo(*, duration: float | None, speed: float, text: bool, metrics_port: int = DEFAULT_METRICS_PORT,
             out: IO[bytes] | None = None, err: IO[str] | None = None) -> int:
    """Run the demo until Ctrl-C or `duration`; the exit code. Raises DemoUnavailable without moto."""
    emulator = Emulator()
    use_dummy_credentials()
    stream = out if out is not None else sys.stdout.buffer
    messages = err if err is not None else sys.stderr
    if metrics_port and not _port_free(metrics_port):
        print(f"trailsentry demo: port {metrics_port} is busy; serving metrics on a free port instead",
              file=messages)
        metrics_port = 0
    return asyncio.run(_demo(emulator, duration=duration, speed=speed, text=text, metrics_port=metrics_port,
                             out=stream, err=messages))


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _demo(emulator: Emulator, *, duration: float | None, speed: float, text: bool, metrics_port: int,
                out: IO[bytes], err: IO[str]) -> int:
    from aiobotocore.session import get_session

    from monitor.app import App
    from monitor.config import parse_config

    emulator.start()
    try:
        with tempfile.TemporaryDirectory(prefix="trailsentry-demo-") as state:
            session = get_session()
            trail = await wire_trail(session, emulator.endpoint_url, bucket=BUCKET)
            config = parse_config(demo_config(trail, emulator.endpoint_url, metrics_port=metrics_port))
            sink = TerminalSink(out, text=text)
            app = App(config, alert_sinks=[sink], serve_metrics=True, checkpoint_path=Path(state) / "demo.sqlite")
            async with session.create_client("s3", region_name=REGION, endpoint_url=emulator.endpoint_url) as s3:
                traffic = TrafficGenerator(s3, trail.bucket, speed=speed)
                banner = (f"trailsentry demo: AWS emulator on {emulator.endpoint_url}; bucket {trail.bucket} -> "
                          f"SNS {trail.topic_arn.rsplit(':', 1)[-1]} -> SQS {trail.queue_url.rsplit('/', 1)[-1]}; "
                          f"a CloudTrail log file every {BACKGROUND_EVERY_SECONDS / speed:g}s, every mission "
                          f"scenario within the first {60 / speed:g}s. ")
                banner += "Ctrl-C stops." if duration is None else f"Stopping after {duration:g}s."
                code = await _serve(app, traffic, duration, banner, err)
            print(f"trailsentry demo: wrote {traffic.stats.objects} log files ({traffic.stats.events} events, "
                  f"{len(traffic.stats.scenarios)} scenarios); delivered {sink.sent} alert messages "
                  f"({len(sink.alert_ids)} alerts)", file=err, flush=True)
            return code
    finally:
        emulator.stop()


async def _serve(app: Any, traffic: TrafficGenerator, duration: float | None, banner: str, err: IO[str]) -> int:
    service = asyncio.create_task(app.run())
    started = asyncio.create_task(app.started.wait())
    await asyncio.wait({service, started}, return_when=asyncio.FIRST_COMPLETED)
    started.cancel()
    if service.done():  # failed at start: its exception or exit code
        code: int = service.result()
        return code
    print(banner, file=err, flush=True)
    if app.metrics_server is not None:
        print(f"trailsentry demo: metrics on {app.metrics_server.url}/metrics (also /healthz, /readyz)",
              file=err, flush=True)
    writing = asyncio.create_task(traffic.run())
    stop_requested = asyncio.create_task(app.wait_stop_requested())
    try:
        done, _ = await asyncio.wait({service, stop_requested}, timeout=duration,
                                     return_when=asyncio.FIRST_COMPLETED)
        writing.cancel()
        if not done:  # --duration reached: let what was written be processed, then stop
            await _catch_up(app, traffic)
            app.request_stop("--duration reached")
        code = await service
        return code
    finally:
        for task in (writing, stop_requested):
            task.cancel()
        await asyncio.gather(writing, stop_requested, return_exceptions=True)
        if not service.done():
            service.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await service


async def _catch_up(app: Any, traffic: TrafficGenerator) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CATCH_UP_SECONDS
    while loop.time() < deadline:
        pipeline = app.pipeline
        if pipeline is None:
            return
        counters = pipeline.stats.source(SOURCE_NAME)
        if counters.batches + counters.batches_failed >= traffic.stats.objects and pipeline.stats.queue_depth == 0:
            return
        await asyncio.sleep(0.05)
