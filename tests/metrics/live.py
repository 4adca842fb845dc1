"""The real service on the demo data with its metrics server: what `trailsentry demo` runs, plus telemetry.

    moto (the `aws` fixture) ── bucket ─► SNS ─► SQS ─► s3-sqs source ─► pipeline ─► Alerting ─► webhook sinks
          ▲                                                                             (a real aiohttp receiver:
    TrafficGenerator (demo traffic)                                                      one sink answers 200,
                                                                                         one answers 503)
    Telemetry + MetricsServer on 127.0.0.1: /metrics /healthz /readyz

The service is `monitor.app.App`, the composition root `run` and `demo` use, with
`serve_metrics=True` and a config whose `sinks` are the two webhooks and whose
`metrics` section binds 127.0.0.1 on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session
from aiohttp import web

from monitor.alerts.service import Alerting
from monitor.app import App
from monitor.config import parse_config
from monitor.demo.emulator import REGION, wire_trail
from monitor.demo.run import SOURCE_NAME, demo_config
from monitor.demo.traffic import TrafficGenerator
from monitor.metrics.collector import Telemetry
from monitor.metrics.server import MetricsServer
from tests.helpers import wait_until

WAIT = 120.0  # generous: the emulator, the service and Prometheus share two cores with the rest of the suite
BUCKET = "org-cloudtrail-logs-111122223333"


class Receiver:
    """Stands in for the webhook receivers: /ok answers 200, /down answers 503."""

    def __init__(self) -> None:
        self.received = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/ok", self._ok)
        app.router.add_post("/down", self._down)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _ok(self, request: web.Request) -> web.Response:
        await request.read()
        self.received += 1
        return web.Response(text="ok")

    async def _down(self, request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=503, text="maintenance")


@dataclass
class Live:
    app: App
    alerting: Alerting
    telemetry: Telemetry
    server: MetricsServer
    traffic: TrafficGenerator
    writing: asyncio.Task[None]

    def counters(self) -> Any:
        assert self.app.pipeline is not None
        return self.app.pipeline.stats.source(SOURCE_NAME)

    async def stop_traffic_and_catch_up(self) -> None:
        self.writing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.writing
        written = self.traffic.stats.objects

        def caught_up() -> bool:
            pipeline = self.app.pipeline
            assert pipeline is not None
            counters = self.counters()
            return counters.batches + counters.batches_failed >= written and pipeline.stats.queue_depth == 0

        await wait_until(caught_up, f"the service to process the {written} objects written", within=WAIT)


@contextlib.asynccontextmanager
async def live_service(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *,
                       speed: float = 12.0) -> AsyncIterator[Live]:
    receiver = Receiver()
    await receiver.start()
    monkeypatch.setenv("TRAILSENTRY_TEST_OK_URL", receiver.url + "/ok")
    monkeypatch.setenv("TRAILSENTRY_TEST_DOWN_URL", receiver.url + "/down")
    session = get_session()
    trail = await wire_trail(session, aws.endpoint_url, bucket=BUCKET)
    raw = demo_config(trail, aws.endpoint_url)
    raw["sinks"] = [
        {"name": "siem", "type": "webhook", "url_env": "TRAILSENTRY_TEST_OK_URL"},
        {"name": "pager", "type": "webhook", "url_env": "TRAILSENTRY_TEST_DOWN_URL", "backoff_base_seconds": 0.2,
         "backoff_cap_seconds": 0.5},
    ]
    raw["metrics"] = {"host": "127.0.0.1", "port": 0}
    app = App(parse_config(raw), serve_metrics=True, checkpoint_path=tmp_path / "checkpoint.sqlite")
    service = asyncio.create_task(app.run(handle_signals=False))
    try:
        started = asyncio.create_task(app.started.wait())
        await asyncio.wait({started, service}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        assert app.started.is_set() and not service.done(), "the service did not start"
        assert app.alerting is not None and app.telemetry is not None and app.metrics_server is not None
        async with session.create_client("s3", region_name=REGION, endpoint_url=aws.endpoint_url) as s3:
            traffic = TrafficGenerator(s3, trail.bucket, speed=speed, seed=5)
            writing = asyncio.create_task(traffic.run())
            try:
                yield Live(app, app.alerting, app.telemetry, app.metrics_server, traffic, writing)
            finally:
                writing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writing
    finally:
        app.request_stop("test finished")
        code = await asyncio.wait_for(service, WAIT)
        await receiver.stop()
        assert code == 0
