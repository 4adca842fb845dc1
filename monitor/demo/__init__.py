"""`trailsentry demo`: the real service against an embedded AWS emulator, with CloudTrail traffic written live.

    moto on 127.0.0.1 ── bucket ──► SNS topic ──► SQS queue ──► s3-sqs source ──► pipeline ──► alerts on stdout
                           ▲
    TrafficGenerator ──────┘ (background every few seconds, every mission scenario in the first minute)

The service part is exactly what `trailsentry run` builds (`monitor.app.App`)
from a config that names the emulator's queue; only the alert recorder is the
console one. `--duration` stops by itself once what was written has been
processed; Ctrl-C (SIGINT) or SIGTERM stop it cleanly, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from monitor.demo.emulator import REGION, DemoUnavailable, Emulator, Trail, use_dummy_credentials, wire_trail
from monitor.demo.traffic import BACKGROUND_EVERY_SECONDS, TrafficGenerator

__all__ = ["DemoUnavailable", "demo_config", "run_demo"]

SOURCE_NAME = "org-trail"
BUCKET = "org-cloudtrail-logs-111122223333"
# After --duration: how long to wait for the objects already written to be processed.
CATCH_UP_SECONDS = 20.0


def demo_config(trail: Trail, endpoint_url: str) -> dict[str, Any]:
    """The config `run` would read for this emulator (validated by the same parser)."""
    return {
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


def run_demo(*, duration: float | None, speed: float, text: bool, out: IO[bytes] | None = None,
             err: IO[str] | None = None) -> int:
    """Run the demo until Ctrl-C or `duration`; the exit code. Raises DemoUnavailable without moto."""
    emulator = Emulator()
    use_dummy_credentials()
    stream = out if out is not None else sys.stdout.buffer
    messages = err if err is not None else sys.stderr
    return asyncio.run(_demo(emulator, duration=duration, speed=speed, text=text, out=stream, err=messages))


async def _demo(emulator: Emulator, *, duration: float | None, speed: float, text: bool, out: IO[bytes],
                err: IO[str]) -> int:
    from aiobotocore.session import get_session

    from monitor.app import App, ConsoleRecorder
    from monitor.config import parse_config

    emulator.start()
    try:
        with tempfile.TemporaryDirectory(prefix="trailsentry-demo-") as state:
            session = get_session()
            trail = await wire_trail(session, emulator.endpoint_url, bucket=BUCKET)
            config = parse_config(demo_config(trail, emulator.endpoint_url))
            recorder = ConsoleRecorder(out, text=text)
            app = App(config, recorder=recorder, checkpoint_path=Path(state) / "demo.sqlite")
            async with session.create_client("s3", region_name=REGION, endpoint_url=emulator.endpoint_url) as s3:
                traffic = TrafficGenerator(s3, trail.bucket, speed=speed)
                print(f"trailsentry demo: AWS emulator on {emulator.endpoint_url}; bucket {trail.bucket} -> "
                      f"SNS {trail.topic_arn.rsplit(':', 1)[-1]} -> SQS {trail.queue_url.rsplit('/', 1)[-1]}; "
                      f"a CloudTrail log file every {BACKGROUND_EVERY_SECONDS / speed:g}s, every mission scenario "
                      f"within the first {60 / speed:g}s. "
                      + ("Ctrl-C stops." if duration is None else f"Stopping after {duration:g}s."),
                      file=err, flush=True)
                code = await _serve(app, traffic, duration)
            print(f"trailsentry demo: wrote {traffic.stats.objects} log files ({traffic.stats.events} events, "
                  f"{len(traffic.stats.scenarios)} scenarios); {recorder.alerts} alert emissions "
                  f"({recorder.distinct} alerts)", file=err, flush=True)
            return code
    finally:
        emulator.stop()


async def _serve(app: Any, traffic: TrafficGenerator, duration: float | None) -> int:
    service = asyncio.create_task(app.run())
    writing = asyncio.create_task(traffic.run())
    stop_requested = asyncio.create_task(app.wait_stop_requested())
    try:
        done, _ = await asyncio.wait({service, stop_requested}, timeout=duration,
                                     return_when=asyncio.FIRST_COMPLETED)
        writing.cancel()
        if not done:  # --duration reached: let what was written be processed, then stop
            await _catch_up(app, traffic)
            app.request_stop("--duration reached")
        code: int = await service
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
