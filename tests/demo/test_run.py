"""`trailsentry demo` as a user runs it: a real subprocess with the embedded emulator, alerts on stdout."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest

from monitor.demo.scenarios import MISSION_DETECTORS
from tests.helpers import REPO

WAIT = 120.0  # generous: the emulator and the service share two cores with the rest of the suite

# The scenarios the mission names: each must produce its alert.
MISSION = {"root-console-login", "console-login-failure-burst", "access-key-created", "non-mfa-sensitive-call"}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(extra)
    return env


async def _start(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "demo", "--metrics-port", "0", *args, cwd=REPO, env=env or _env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


@pytest.mark.slow
async def test_demo_prints_every_mission_alert_and_stops_by_itself() -> None:
    process = await _start("--duration", "6", "--speed", "12", "--format", "jsonl")
    stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 0, stderr.decode()
    alerts = [orjson.loads(line) for line in stdout.splitlines() if line.strip()]
    detectors = {alert["detector"] for alert in alerts}
    assert detectors >= MISSION, (detectors, stderr.decode()[-2000:])
    assert detectors >= MISSION_DETECTORS  # every scenario the generator plays, not only the four
    # The attacker storyline (first played in the cycle's first minute) is one incident across its two identities.
    (incident,) = [alert for alert in alerts if alert["detector"] == "attack-sequence"]
    linked = {entry["identity"] for entry in incident["context"]["identities"]}
    assert any("user/dana" in identity for identity in linked), incident["context"]["identities"]
    assert any("user/ops-backup" in identity for identity in linked), incident["context"]["identities"]
    assert not any(alert.get("signal") for alert in alerts)  # signals never reach the demo's output sink
    assert all(alert["schema"] == 1 and alert["account"] in ("111122223333", "444455556666") for alert in alerts)
    # The traps (AWS's own denials, federated sign-ins) did not add alerts of their own principals.
    assert not any(alert["principal"].startswith("delivery.logs") for alert in alerts)
    assert "trailsentry demo: wrote" in stderr.decode()


async def _metrics_url(stream: asyncio.StreamReader) -> str:
    while True:
        line = (await stream.readline()).decode()
        assert line, "the demo ended without announcing its metrics server"
        if "trailsentry demo: metrics on " in line:
            return line.split(" on ", 1)[1].split("/metrics", 1)[0]


@pytest.mark.slow
async def test_ctrl_c_stops_the_demo_cleanly_and_it_serves_health_and_metrics() -> None:
    process = await _start("--speed", "12", "--format", "text")
    assert process.stdout is not None and process.stderr is not None
    base = await asyncio.wait_for(_metrics_url(process.stderr), WAIT)
    first = await asyncio.wait_for(process.stdout.readline(), WAIT)
    assert b"root-console-login" in first or b"console-login-without-mfa" in first, first
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as response:
            assert response.status == 200
        async with http.get(f"{base}/metrics") as response:
            assert response.status == 200
            assert "trailsentry_events_received_total" in await response.text()
        async with http.get(f"{base}/readyz") as response:
            assert response.status == 200, await response.text()  # an alert came through: the source is up
    process.send_signal(signal.SIGINT)
    _, stderr = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr


async def test_without_the_emulator_the_demo_says_how_to_install_it(tmp_path: Path) -> None:
    # A `moto` package that cannot be imported stands for an installation without the demo extra.
    fake = tmp_path / "moto"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('moto is not installed')\n")
    env = _env(PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]))
    process = await _start("--duration", "1", env=env)
    stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 2
    assert b"pip install 'trailsentry[demo]'" in stderr
    assert stdout == b""
