"""The HTTP endpoints a platform watches: /metrics, /healthz and /readyz.

    server = MetricsServer(telemetry, settings, readiness=readiness_check(sources, alerting))
    await server.start()        # binds settings.host:settings.port (port 0: any free port, see .port)
    ...
    await server.stop()

- `/metrics`: the Prometheus text format of `telemetry.registry`.
- `/healthz`: 200 while the process runs its event loop (liveness).
- `/readyz`: 200 only when the readiness probe says so (every source reached
  its upstream, alert delivery is ready); 503 with a short reason otherwise,
  including before a probe is set (`set_readiness`), so a starting pod gets no
  traffic and a stuck one is visible.

aiohttp is imported only when the server starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from monitor.metrics.settings import MetricsSettings

if TYPE_CHECKING:
    from aiohttp import web

    from monitor.metrics.collector import Telemetry

log = logging.getLogger("trailsentry.health")  # the name `run` raises to INFO

# Every trailsentry name is a classic metric name, so the body is the 0.0.4 text format every Prometheus reads.
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    reason: str = ""


ReadinessProbe = Callable[[], Readiness]


class _Ready(Protocol):
    name: str

    def ready(self) -> bool: ...


class _AlertingReady(Protocol):
    def ready(self) -> bool: ...


def readiness_check(sources: Iterable[_Ready], alerting: _AlertingReady | None, *,
                    running: Callable[[], bool] | None = None, state: Callable[[], bool] | None = None
                    ) -> ReadinessProbe:
    """Ready when the detect stage runs (`running()`, if given), the state store answers (`state()`, if
    given), every source's `ready()` and the alerting service's `ready()` (False when its outbox is
    stuck) are true."""
    fixed_sources = tuple(sources)

    def probe() -> Readiness:
        if running is not None and not _safe_call(running):
            return Readiness(False, "detect stage not running")
        if state is not None and not _safe_call(state):
            return Readiness(False, "state store (Redis) unreachable")
        waiting = [s.name for s in fixed_sources if not _safe_ready(s)]
        if waiting:
            shown = ", ".join(waiting[:5]) + (f" and {len(waiting) - 5} more" if len(waiting) > 5 else "")
            return Readiness(False, f"source not connected: {shown}")
        if alerting is not None and not _safe_ready(alerting):
            return Readiness(False, "alert delivery not ready (outbox stuck)")
        return Readiness(True)

    return probe


def _safe_ready(component: _AlertingReady) -> bool:
    return _safe_call(component.ready)


def _safe_call(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:  # a failing check means not ready, not a failed probe
        return False


def _starting() -> Readiness:
    return Readiness(False, "starting")


class MetricsServer:
    def __init__(self, telemetry: Telemetry, settings: MetricsSettings | None = None, *,
                 readiness: ReadinessProbe | None = None) -> None:
        self.telemetry = telemetry
        self.settings = settings or MetricsSettings()
        self._readiness: ReadinessProbe = readiness or _starting
        self._runner: web.AppRunner | None = None
        self.port: int | None = None  # the bound port once started

    def set_readiness(self, readiness: ReadinessProbe) -> None:
        self._readiness = readiness

    async def start(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        # Probes hit these every few seconds: no access log.
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses = runner.addresses
        self.port = int(addresses[0][1]) if addresses else self.settings.port
        log.info("metrics and health endpoints on %s:%d", self.settings.host, self.port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    @property
    def url(self) -> str:
        host = self.settings.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def _metrics(self, request: web.Request) -> web.Response:
        from aiohttp import web

        body = self.telemetry.exposition()
        return web.Response(body=body, headers={"Content-Type": TEXT_FORMAT})

    async def _healthz(self, request: web.Request) -> web.Response:
        from aiohttp import web

        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        from aiohttp import web

        try:
            state = self._readiness()
        except Exception as exc:  # the probe itself failed: report it, keep serving
            state = Readiness(False, f"readiness check failed: {type(exc).__name__}")
        if state.ready:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"not ready: {state.reason or 'unknown'}\n")
