"""The real service on the demo data with its metrics server: what `trailsentry demo` runs, plus telemetry.

    moto (the `aws` fixture) ── bucket ─► SNS ─► SQS ─► s3-sqs source ─► pipeline ─► Alerting ─► webhook sinks
          ▲                                                                             (a real aiohttp receiver:
    TrafficGenerator (demo traffic)                                                      one sink answers 200,
                                                                                         one answers 503)
    Telemetry + MetricsServer on 127.0.0.1: /metrics /healthz /readyz

`TelemetryService` is the App "service" that wires telemetry once the app has
built its engine, pipeline and sources, which is what the composition root does.
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

from monitor.alerts import Alerting, parse_alerting
from monitor.app import App
from monitor.config import parse_config
from monitor.configreader import Section
from monitor.demo import SOURCE_NAME, demo_config
from monitor.demo.emulator import REGION, wire_trail
from monitor.demo.traffic import TrafficGenerator
from monitor.health import MetricsServer, MetricsSettings, readiness_check
from monitor.metrics import Telemetry

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


class TelemetryService:
    """Started by the App after it built engine, pipeline and sources; stopped at its shutdown."""

    def __init__(self, app: App, alerting: Alerting, telemetry: Telemetry, server: MetricsServer) -> None:
        self.app = app
        self.alerting = alerting
        self.telemetry = telemetry
        self.server = server

    async def start(self) -> None:
        pipeline = self.app.pipeline
        assert pipeline is not None
        await self.alerting.start()
        self.telemetry.register_engine(pipeline.engine)
        self.telemetry.register_pipeline(pipeline.stats)
        self.telemetry.register_sources(self.app.sources)
        self.telemetry.register_alerting(self.alerting)
        self.server.set_readiness(readiness_check(self.app.sources, self.alerting, running=self.app.ready))
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()
        await self.alerting.stop(deadline_seconds=1.0)


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

    async def wait_until(self, condition: Any, what: str, within: float = WAIT) -> None:
        """Poll a condition of the running service (no fixed sleeps); fail with `what` after `within` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not condition():
            assert loop.time() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)

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

        await self.wait_until(caught_up, f"the service to process the {written} objects written")


@contextlib.asynccontextmanager
async def live_service(aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *,
                       speed: float = 12.0) -> AsyncIterator[Live]:
    receiver = Receiver()
    await receiver.start()
    monkeypatch.setenv("TRAILSENTRY_TEST_OK_URL", receiver.url + "/ok")
    monkeypatch.setenv("TRAILSENTRY_TEST_DOWN_URL", receiver.url + "/down")
    session = get_session()
    trail = await wire_trail(session, aws.endpoint_url, bucket=BUCKET)
    config = parse_config(demo_config(trail, aws.endpoint_url))
    errors: list[str] = []
    alerting_settings = parse_alerting(Section({"sinks": [
        {"name": "siem", "type": "webhook", "url_env": "TRAILSENTRY_TEST_OK_URL"},
        {"name": "pager", "type": "webhook", "url_env": "TRAILSENTRY_TEST_DOWN_URL", "backoff_base_seconds": 0.2,
         "backoff_cap_seconds": 0.5},
    ]}, "", errors))
    assert not errors, errors
    alerting = Alerting(alerting_settings, db_path=tmp_path / "outbox.sqlite")
    telemetry = Telemetry()
    server = MetricsServer(telemetry, MetricsSettings(host="127.0.0.1", port=0))
    app = App(config, recorder=alerting, checkpoint_path=tmp_path / "checkpoint.sqlite")
    app.services.append(TelemetryService(app, alerting, telemetry, server))
    service = asyncio.create_task(app.run(handle_signals=False))
    try:
        async with session.create_client("s3", region_name=REGION, endpoint_url=aws.endpoint_url) as s3:
            traffic = TrafficGenerator(s3, trail.bucket, speed=speed, seed=5)
            writing = asyncio.create_task(traffic.run())
            live = Live(app, alerting, telemetry, server, traffic, writing)
            try:
                await live.wait_until(lambda: server.port is not None or service.done(), "the metrics server")
                assert not service.done(), "the service stopped at start"
                yield live
            finally:
                writing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writing
    finally:
        app.request_stop("test finished")
        code = await asyncio.wait_for(service, WAIT)
        telemetry.deactivate()
        await receiver.stop()
        assert code == 0
