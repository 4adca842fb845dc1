"""Worker processes: `scan --workers 2` gives exactly the alerts (ids and whole JSON), totals and issues of
`--workers 1`, on corpora where order matters (windows, episodes, first sightings, duplicates)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import random
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.decode import DecodeLimits
from monitor.demo.builders import EXAMPLE_ACCOUNTS, EXAMPLE_START
from monitor.demo.objects import encode_records, write_example_corpus, write_s3_objects
from monitor.demo.scenarios import access_denied_burst, console_login_failure_burst, example_day
from monitor.engine import Engine
from monitor.model import InputIssue
from monitor.offline.scan import Scanner, expand_paths
from monitor.rules.builtin import builtin_detectors
from tests.helpers import REPO, wait_until

Outcome = tuple[list[bytes], dict[str, Any], list[InputIssue]]


def scan(paths: list[str], workers: int, limits: DecodeLimits | None = None) -> Outcome:
    issues: list[InputIssue] = []
    scanner = Scanner(Engine(builtin_detectors()), limits=limits, workers=workers, on_issue=issues.append)
    result = scanner.scan(paths)
    totals = result.totals
    summary = {"files": totals.files, "events": totals.events, "duplicates": totals.duplicates,
               "skipped": dict(totals.skipped), "issues": dict(totals.issues), "internal": totals.internal_errors}
    return [alert.to_json() for alert in result.alerts], summary, issues


def same_with_workers(paths: list[str], limits: DecodeLimits | None = None) -> Outcome:
    alone = scan(paths, 1, limits)
    assert alone[0], "a corpus that alerts"
    for workers in (2, 3):
        assert scan(paths, workers, limits) == alone, f"--workers {workers}"
    return alone


def test_the_demo_corpus(tmp_path: Path) -> None:
    write_example_corpus(tmp_path)
    alerts, totals, _ = same_with_workers(expand_paths([str(tmp_path)]))
    assert totals["skipped"].get("digest") and totals["skipped"].get("insight")
    assert len({orjson.loads(alert)["detector"] for alert in alerts}) >= 8


def test_one_json_lines_file_of_many_slices(tmp_path: Path) -> None:
    rng = random.Random(7)
    events = sorted(example_day(rng, background=4000), key=lambda e: str(e["eventTime"]))
    path = tmp_path / "export.jsonl"
    lines = [orjson.dumps(event) for event in events]
    lines[100:100] = [b"{not json", b""]  # line numbers must come out right from any slice
    path.write_bytes(b"\n".join(lines) + b"\n")
    _, totals, issues = same_with_workers([str(path)], DecodeLimits(slice_events=97))
    assert totals["events"] == len(events)
    assert [(issue.reason, issue.line) for issue in issues] == [("invalid_json", 101)]


def test_objects_delivered_twice_across_files(tmp_path: Path) -> None:
    rng = random.Random(11)
    first = tmp_path / "first"
    written = write_s3_objects(first, example_day(rng, background=1500), rng)
    again = tmp_path / "redelivered"
    for path in written[::3]:  # a third of the objects arrive twice (SQS redelivery, a re-run)
        copy = again / path.relative_to(first)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, copy)
    for index, path in enumerate(written[1::5]):  # and some records twice inside another object
        records = orjson.loads(gzip.decompress(path.read_bytes()))["Records"]
        (again / f"partial-{index}.json").write_bytes(orjson.dumps({"Records": records[: len(records) // 2]}))
    _, totals, _ = same_with_workers(expand_paths([str(first), str(again)]))
    assert totals["duplicates"] > 0


def test_bursts_spanning_files_and_accounts(tmp_path: Path) -> None:
    rng = random.Random(3)
    at = EXAMPLE_START + 3600
    events: list[dict[str, Any]] = []
    for account in EXAMPLE_ACCOUNTS:
        events += access_denied_burst(rng, at, account, denials=40)
        events += console_login_failure_burst(rng, at + 30, account, failures=12)
    events.sort(key=lambda e: str(e["eventTime"]))
    # Every file holds a few events of each burst, of both accounts: no file holds a whole burst.
    paths = []
    for index in range(0, len(events), 7):
        path = tmp_path / f"part-{index:04d}.json.gz"
        path.write_bytes(encode_records(events[index:index + 7]))
        paths.append(str(path))
    alerts, _, _ = same_with_workers(paths)
    detectors = {(orjson.loads(alert)["detector"], orjson.loads(alert)["account"]) for alert in alerts}
    for account in EXAMPLE_ACCOUNTS:
        assert ("access-denied-burst", account) in detectors
        assert ("console-login-failure-burst", account) in detectors


def test_events_set_aside_inside_objects(tmp_path: Path) -> None:
    # Insight events and records over the record limit inside ordinary objects are set aside by detection,
    # in the workers: what reaches the state and the totals is the same.
    rng = random.Random(5)
    burst = access_denied_burst(rng, EXAMPLE_START, EXAMPLE_ACCOUNTS[0], denials=30)
    insight = {**burst[0], "eventID": "insight-1", "eventType": "AwsCloudTrailInsight", "eventCategory": "Insight"}
    oversized = {**burst[1], "eventID": "oversized-1", "requestParameters": {"blob": "x" * 20_000}}
    paths = []
    for index in range(0, len(burst), 10):
        path = tmp_path / f"part-{index:03d}.json.gz"
        path.write_bytes(encode_records([insight, *burst[index:index + 10], oversized]))
        paths.append(str(path))
    _, totals, issues = same_with_workers(paths, DecodeLimits(max_record_bytes=8192))
    assert totals["events"] == len(burst) and totals["skipped"] == {"insight": 3}
    assert [issue.reason for issue in issues] == ["too_large"] * 3


@pytest.mark.parametrize("workers", [1, 2])
def test_a_file_that_cannot_be_read_is_an_issue_with_any_number_of_workers(tmp_path: Path, workers: int) -> None:
    good = tmp_path / "good.json.gz"
    good.write_bytes(encode_records(access_denied_burst(random.Random(1), EXAMPLE_START, EXAMPLE_ACCOUNTS[0])))
    gone = tmp_path / "gone.json.gz"
    gone.write_bytes(b"")
    paths = [str(good), str(gone)]
    gone.unlink()  # listed, then deleted before it was read
    alerts, totals, issues = scan(paths, workers)
    assert alerts and totals["internal"] == 0
    assert [(Path(issue.origin).name, issue.reason) for issue in issues] == [("gone.json.gz", "unreadable")]


_PARENT = """
import os, signal, sys
from monitor.decode import DecodeLimits
from monitor.engine import Engine
from monitor.rules.builtin import builtin_detectors
from monitor.workers import DetectionPool
pool = DetectionPool(Engine(builtin_detectors()).detection, DecodeLimits(), 2)
print(" ".join(str(process.pid) for process in pool._processes), flush=True)
if sys.argv[1] == "at-once":  # killed before its workers may even have run: they must still notice
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()  # until killed
"""


def _gone(pid: int) -> bool:
    """Exited (a zombie waiting for its new parent to reap it counts as exited)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            return any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("when", ["at-once", "later"])
async def test_workers_exit_when_their_parent_is_killed(when: str) -> None:
    # An OOM kill or `kill -9` of the service must not leave detection workers running for ever.
    parent = await asyncio.create_subprocess_exec(sys.executable, "-c", _PARENT, when, cwd=REPO,
                                                  stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert parent.stdout is not None
    pids = [int(pid) for pid in (await asyncio.wait_for(parent.stdout.readline(), 60)).split()]
    try:
        assert len(pids) == 2
        if when == "later":
            assert not any(_gone(pid) for pid in pids)
            parent.kill()
        # Not `parent.wait()` first: it also waits for the pipes, which a lingering worker holds open.
        await wait_until(lambda: all(_gone(pid) for pid in pids), "the orphaned workers to exit", within=30)
        await parent.wait()
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
