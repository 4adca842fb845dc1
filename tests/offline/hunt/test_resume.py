"""A resumable hunt (`--state FILE`) killed with SIGKILL at any point, once or again and again, continues
where it stopped and gives exactly the alerts and totals of a hunt never stopped; and a hunt's alerts
reach sinks only when asked, marked historical."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.alerts.conftest import Receiver
from tests.helpers import REPO, alerts_of
from tests.offline.hunt.conftest import History

HUNT = ("--org", "--since", "2026-03-01", "--until", "2026-03-03", "--format", "jsonl", "--no-progress")


def hunt(history: History, *args: str, failpoints: str = "", spools: Path | None = None,
         ) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "TRAILSENTRY_FAILPOINTS"}
    if spools is not None:
        env["TMPDIR"] = str(spools)
    if failpoints:
        env["TRAILSENTRY_FAILPOINTS"] = failpoints
    return subprocess.run([sys.executable, "-m", "monitor", "scan", history.url(), *HUNT, *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def scanned(stderr: str) -> str:
    """The summary's totals line, without the time it took."""
    found = re.search(r"scanned (.*) in [\d.]+s", stderr)
    assert found, stderr
    return found[1]


def resumed_objects(stderr: str) -> int:
    found = re.search(r"resumed: ([\d,]+) object", stderr)
    return int(found[1].replace(",", "")) if found else 0


@pytest.fixture
def uninterrupted(history: History) -> subprocess.CompletedProcess[str]:
    done = hunt(history, "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert alerts_of(done.stdout.encode())
    return done


@pytest.mark.parametrize(("workers", "kills"), [
    ("1", ["mid_batch:100"]),
    ("2", ["before_save:3"]),
    ("1", ["after_save:6"]),
    # Killed again and again while resuming (a state lost on resume shows here).
    ("1", ["mid_batch:700", "after_save:2", "before_save:4", "mid_batch:90"]),
    ("2", ["mid_batch:700", "after_save:2", "before_save:4", "mid_batch:90"]),
])
def test_a_hunt_killed_anywhere_resumes_with_the_alerts_of_one_never_killed(
        history: History, uninterrupted: subprocess.CompletedProcess[str], tmp_path: Path, kills: list[str],
        workers: str) -> None:
    state = tmp_path / "hunt.state"
    spools = tmp_path / "tmp"
    spools.mkdir()
    for failpoint in kills:
        killed = hunt(history, "--state", str(state), "--workers", workers, failpoints=failpoint, spools=spools)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert list(spools.iterdir())  # a killed hunt leaves its downloads behind...
    final = hunt(history, "--state", str(state), "--workers", workers, spools=spools)
    assert final.returncode == 0, final.stderr
    assert list(spools.iterdir()) == []  # ...which the next hunt clears
    assert alerts_of(final.stdout.encode()) == alerts_of(uninterrupted.stdout.encode())
    assert scanned(final.stderr) == scanned(uninterrupted.stderr)
    assert resumed_objects(final.stderr) > 0  # it did continue, not start over
    # Progress is kept per account, region and day, not per object.
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT COUNT(*) FROM hunt_days").fetchone()[0] <= 2 * 2 * 2
    # Run again when done: nothing is read twice, the same result.
    again = hunt(history, "--state", str(state), "--workers", workers)
    assert alerts_of(again.stdout.encode()) == alerts_of(uninterrupted.stdout.encode())
    assert "S3 calls: 4 list, 0 get" in again.stderr  # discovery only: every day folder is complete


def test_a_state_file_of_another_hunt_is_refused(history: History, tmp_path: Path) -> None:
    state = tmp_path / "hunt.state"
    assert hunt(history, "--state", str(state), "--account", "1111*").returncode == 0
    other = hunt(history, "--state", str(state), "--account", "4444*")
    assert other.returncode == 2
    assert "it holds a hunt with other accounts" in other.stderr


def test_a_file_that_is_no_state_file_is_refused(history: History, tmp_path: Path) -> None:
    garbage = tmp_path / "hunt.state"
    garbage.write_bytes(b"this is not SQLite" * 100)
    refused = hunt(history, "--state", str(garbage))
    assert refused.returncode == 2
    assert f"error: --state {garbage}:" in refused.stderr and "Traceback" not in refused.stderr
    assert garbage.read_bytes() == b"this is not SQLite" * 100


async def test_alerts_reach_only_the_sinks_asked_for_marked_historical(history: History, tmp_path: Path) -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        config = tmp_path / "trailsentry.yaml"
        fast = {"rate_per_second": 0, "backoff_base_seconds": 0.05, "backoff_cap_seconds": 0.2}
        config.write_text(yaml.safe_dump({"sinks": [
            {"name": "oncall", "type": "slack", "webhook_url_env": "HUNT_TEST_SLACK", **fast},
            {"name": "siem", "type": "webhook", "url_env": "HUNT_TEST_SIEM", **fast},
            {"name": "pager", "type": "webhook", "url_env": "HUNT_TEST_PAGER", **fast},
        ]}))
        env = {**os.environ, "HUNT_TEST_SLACK": receiver.url("/slack"), "HUNT_TEST_SIEM": receiver.url("/siem"),
               "HUNT_TEST_PAGER": receiver.url("/pager")}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "scan", history.url(), *HUNT, "--config", str(config), "--sink", "oncall",
            "--sink", "siem", "--workers", "1", cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 300)
        assert process.returncode == 0, err.decode()
        alerts = alerts_of(out)
        by_path: dict[str, list[dict[str, object]]] = {}
        for request in receiver.requests:
            by_path.setdefault(request.path, []).append(request.json())
        assert "/pager" not in by_path
        assert sorted(str(body["id"]) for body in by_path["/siem"]) == sorted(str(a["id"]) for a in alerts)
        assert all(body["context"]["mode"] == "hunt" for body in by_path["/siem"])  # type: ignore[index]
        assert len(by_path["/slack"]) == len(alerts)
        assert all("[historical, found by a hunt]" in str(body["text"]) for body in by_path["/slack"])
        assert f"sink siem: {len(alerts)} alert message(s) sent" in err.decode()
    finally:
        await receiver.stop()
