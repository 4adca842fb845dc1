"""End to end: the service on the demo data, scraped by a real Prometheus, answers the dashboard's queries."""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.deploy import promql
from tests.deploy.tools import DEPLOY, free_port, require_tool
from tests.helpers import wait_until
from tests.metrics.live import WAIT, live_service

# Panels whose queries must return data on a running service (title -> refIds).
MAIN_PANELS = {
    "Events per second by source": ("A", "B"),
    "Ingest and delivery lag (p90) by source": ("A", "B"),
    "Objects per second by source": ("A", "C"),
    "SQS messages per second": ("A", "B"),
    "Alerts by detector and severity": ("A",),
    "Top detectors": ("A",),
    "Alerts by severity": ("A",),
    "Detector matches per second": ("A",),
    "Alerts sent and failed by sink": ("A", "B"),
    "Outbox depth and oldest pending age": ("A", "B"),
    "Dead letters": ("A",),
    "Time since newest event": ("A",),
    "Ready": ("A", "B"),
    "Errors": ("A",),
}
# Of those, the ones that must be positive numbers while traffic flows.
POSITIVE = {("Events per second by source", "A"), ("Ingest and delivery lag (p90) by source", "A"),
            ("Top detectors", "A")}


@contextlib.asynccontextmanager
async def prometheus(tmp_path: Path, target: str) -> AsyncIterator[str]:
    binary = require_tool("prometheus")
    port = free_port()
    shutil.copy(DEPLOY / "prometheus" / "alerts.yml", tmp_path / "alerts.yml")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["alerts.yml"],
        "scrape_configs": [{"job_name": "trailsentry", "static_configs": [{"targets": [target]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    log = (tmp_path / "prometheus.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
        stdout=log, stderr=asyncio.subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


async def _until(check: Any, what: str, logs: Path) -> Any:
    """Poll `check()` (an awaitable factory) until it returns a truthy value, up to WAIT seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    last: Any = None
    while loop.time() < deadline:
        with contextlib.suppress(aiohttp.ClientError):
            last = await check()
            if last:
                return last
        await asyncio.sleep(0.25)
    tail = await asyncio.to_thread(_tail, logs)
    pytest.fail(f"timed out waiting for {what}; last answer {last!r}\nprometheus log:\n{tail}")


def _tail(logs: Path) -> str:
    return logs.read_text(errors="replace")[-2000:] if logs.exists() else ""


@pytest.mark.slow
async def test_prometheus_scrapes_the_service_and_the_dashboard_has_data(
        aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tool("prometheus")
    board = promql.dashboard(DEPLOY / "grafana" / "trailsentry.json")
    queries = {}
    for panel in promql.panels(board):
        for target in panel.get("targets", []):
            if target["refId"] in MAIN_PANELS.get(panel["title"], ()):
                queries[(panel["title"], target["refId"])] = promql.substitute(target["expr"])
    assert len(queries) == sum(len(refs) for refs in MAIN_PANELS.values()), "every main query is on the dashboard"
    logs = tmp_path / "prom" / "prometheus.log"
    (tmp_path / "prom").mkdir()

    async with live_service(aws, tmp_path, monkeypatch, speed=6.0) as live, \
            prometheus(tmp_path / "prom", f"127.0.0.1:{live.server.port}") as prom, \
            aiohttp.ClientSession() as http:

        async def get(path: str, **params: str) -> Any:
            async with http.get(prom + path, params=params) as response:
                if response.status != 200:
                    return None
                return await response.json() if path.startswith("/api") else await response.text()

        await _until(lambda: get("/-/ready"), "Prometheus to be ready", logs)

        async def target_up() -> bool:
            answer = await get("/api/v1/query", query='up{job="trailsentry"}')
            result = answer["data"]["result"] if answer else []
            return bool(result) and result[0]["value"][1] == "1"

        await _until(target_up, "the trailsentry target to be scraped", logs)
        # Alerts were delivered and the pager sink failed, so the delivery panels have data.
        await wait_until(lambda: live.alerting.stats().sinks["siem"].sent > 0
                         and live.alerting.stats().sinks["pager"].failed > 0, "deliveries", within=WAIT)

        for (title, ref), expr in queries.items():
            async def answered(expr: str = expr, key: tuple[str, str] = (title, ref)) -> Any:
                answer = await get("/api/v1/query", query=expr)
                assert answer is not None and answer["status"] == "success", (key, answer)
                result = answer["data"]["result"]
                if key in POSITIVE:
                    result = [r for r in result if math.isfinite(float(r["value"][1])) and float(r["value"][1]) > 0]
                return result

            result = await _until(answered, f"data for {title!r} {ref}: {expr}", logs)
            assert result, (title, ref)

        # The alert rules loaded and evaluate cleanly against the live series.
        async def rules_evaluated() -> Any:
            answer = await get("/api/v1/rules")
            rules = [r for g in answer["data"]["groups"] for r in g["rules"]] if answer else []
            return rules if rules and all(r.get("lastEvaluation", "").startswith("2") for r in rules) else None

        rules = await _until(rules_evaluated, "every alert rule to be evaluated", logs)
        expected = {r["alert"] for r in promql.alert_rules(DEPLOY / "prometheus" / "alerts.yml")}
        assert {r["name"] for r in rules} == expected
        assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
        firing = [r["name"] for r in rules if r["state"] == "firing"]
        assert "TrailsentryDown" not in firing and "TrailsentryAbsent" not in firing
