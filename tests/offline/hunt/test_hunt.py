"""`trailsentry scan s3://...` against moto's S3 over real HTTP: the alerts of a scan of the same files,
read by listing only the day folders asked for, with filters, concurrency, throttling and dry runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from tests.helpers import alerts_of
from tests.offline.hunt.conftest import History

ACCOUNTS = ("111122223333", "444455556666")
DAY = "--since", "2026-03-01", "--until", "2026-03-03"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["scan", "--format", "jsonl", "--no-progress", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def without_mode(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for alert in alerts:
        assert alert["context"].pop("mode") == "hunt", alert["id"]
    return alerts


def local_scan(capsys: pytest.CaptureFixture[str], *paths: Path, args: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    code, out, _ = run(capsys, "--workers", "1", *args, *map(str, paths))
    assert code == 0
    return alerts_of(out.encode())


def test_a_hunt_gives_the_alerts_of_a_scan_of_the_same_files(history: History,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    expected = local_scan(capsys, history.logs)
    assert len(expected) > 5
    code, out, err = run(capsys, history.url(), "--org", *DAY, "--workers", "1")
    assert code == 0, err
    assert without_mode(alerts_of(out.encode())) == expected
    assert "hunt: s3://org-trail-history/trails/main" in err
    assert "4 account/region folder(s)" in err


def test_an_organization_trail_is_read_only_with_org(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, history.url(), *DAY)
    assert code == 0
    assert alerts_of(out.encode()) == []
    assert "o-a1b2c3d4e5 (add --org to read them)" in err
