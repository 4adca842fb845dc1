"""The /metrics, /healthz and /readyz server, and its config section."""

from __future__ import annotations

import asyncio
import socket
import subprocess

import aiohttp
import pytest

from monitor.configreader import Section
from monitor.engine import Engine
from monitor.metrics.collector import Telemetry
from monitor.metrics.server import MetricsServer, Readiness, readiness_check
from monitor.metrics.settings import DEFAULT_PORT, MetricsSettings, parse_metrics
from monitor.rules.builtin import builtin_detectors
from tests.deploy.tools import require_tool
from tests.metrics.scrape import parse, value

LOOPBACK = MetricsSettings(host="127.0.0.1", port=0)


class Component:
    def __init__(self, name: str, ready: bool) -> None:
        self.name = name
        self.is_ready = ready

    def ready(self) -> bool:
        return self.is_ready


async def _get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.text()


async def test_healthz_and_readyz() -> None:
    server = MetricsServer(Telemetry(), LOOPBACK)
    await server.start()
    try:
        assert server.port and server.port != 0
        assert await _get(server.url + "/healthz") == (200, "text/plain; charset=utf-8", "ok\n")
        status, _, body = await _get(server.url + "/readyz")
        assert (status, body) == (503, "not ready: starting\n")  # no readiness probe yet

        queue = Component("org-trail", False)
        logs = Component("audit-logs", True)
        alerting = Component("alerting", True)
        running = [True]
        server.set_readiness(readiness_check([queue, logs], alerting, running=lambda: running[0]))
        assert await _get(server.url + "/readyz") == (503, "text/plain; charset=utf-8",
                                                       "not ready: source not connected: org-trail\n")
        queue.is_ready = True
        assert (await _get(server.url + "/readyz"))[::2] == (200, "ready\n")
        alerting.is_ready = False
        stuck = "not ready: alert delivery not ready (outbox stuck)\n"
        assert (await _get(server.url + "/readyz"))[::2] == (503, stuck)
        alerting.is_ready = True
        running[0] = False
        assert (await _get(server.url + "/readyz"))[::2] == (503, "not ready: detect stage not running\n")
        running[0] = True

        def broken() -> Readiness:
            raise RuntimeError("secret detail")

        server.set_readiness(broken)
        status, _, body = await _get(server.url + "/readyz")
        assert status == 503 and body == "not ready: readiness check failed: RuntimeError\n"
        assert (await _get(server.url + "/healthz"))[0] == 200  # liveness is unaffected
        assert (await _get(server.url + "/nothing"))[0] == 404
    finally:
        await server.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await _get(server.url + "/healthz")


def test_readiness_names_at_most_five_sources() -> None:
    sources = [Component(f"s{n}", False) for n in range(8)]
    state = readiness_check(sources, None)()
    assert not state.ready
    assert state.reason == "source not connected: s0, s1, s2, s3, s4 and 3 more"
    assert readiness_check([], None)() == Readiness(True)


async def test_metrics_endpoint_serves_prometheus_text_that_promtool_accepts() -> None:
    promtool = require_tool("promtool")
    telemetry = Telemetry()
    engine = Engine(builtin_detectors())
    telemetry.register_engine(engine)
    telemetry.observe_batch("org-trail", ingest_lag=420.0, delivery_lag=12.0)
    server = MetricsServer(telemetry, LOOPBACK)
    await server.start()
    try:
        status, content_type, body = await _get(server.url + "/metrics")
    finally:
        await server.stop()
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    samples = parse(body)
    assert value(samples, "trailsentry_ingest_lag_seconds_count", source="org-trail") == 1
    assert value(samples, "trailsentry_detector_errors_total", detector="root-console-login") == 0
    assert "process_cpu_seconds_total" in samples
    result = await asyncio.to_thread(subprocess.run, [promtool, "check", "metrics"], input=body,
                                     capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_a_taken_port_is_an_error_at_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = MetricsServer(Telemetry(),
                               MetricsSettings(host="127.0.0.1", port=taken.getsockname()[1]))
        with pytest.raises(OSError):
            await server.start()
        await server.stop()  # harmless after a failed start


def _parse(data: object) -> tuple[MetricsSettings, list[str]]:
    errors: list[str] = []
    return parse_metrics(Section(data, "", errors)), errors


def test_metrics_config_section() -> None:
    assert _parse({}) == (MetricsSettings(enabled=True, host="0.0.0.0", port=DEFAULT_PORT), [])
    assert DEFAULT_PORT == 9108
    assert _parse({"metrics": {"enabled": False, "host": "127.0.0.1", "port": 9200}}) == (
        MetricsSettings(enabled=False, host="127.0.0.1", port=9200), [])
    settings, errors = _parse({"metrics": {"port": 70000, "host": "a b", "enabled": "yes", "path": "/m"}})
    assert settings == MetricsSettings()
    assert errors == [
        "metrics.enabled: must be true or false, got str",
        "metrics.host: must be an address or host name to listen on, got 'a b'",
        "metrics.port: must be <= 65535",
        "metrics.path: unknown key",
    ]
    assert _parse({"metrics": "on"})[1] == ["metrics: must be a mapping, got str"]
