"""Suppressions through the real CLI: counted not alerted, expired ones warned about and inert, typos refused."""

from __future__ import annotations

import random
from pathlib import Path

from monitor.demo.objects import encode_records
from monitor.demo.scenarios import access_denied_burst
from tests.helpers import alerts_of, trailsentry, write

ACCOUNT = "111122223333"
AT = 1_780_000_000.0


def _burst(tmp_path: Path) -> tuple[Path, str]:
    events = access_denied_burst(random.Random(5), AT, ACCOUNT)
    source_ip = str(events[0]["sourceIPAddress"])
    return write(tmp_path / "burst.json.gz", encode_records(events)), source_ip


def _config(tmp_path: Path, detector: str, source_ip: str, expires: str) -> Path:
    text = (f"suppressions:\n  - name: pentest\n    detectors: [{detector}]\n    source_cidr: {source_ip}/32\n"
            f"    reason: approved penetration test\n    expires: {expires}\n")
    return write(tmp_path / "config.yaml", text.encode())


def test_a_matching_suppression_drops_the_alert_and_the_summary_counts_it(tmp_path: Path) -> None:
    data, source_ip = _burst(tmp_path)
    unsuppressed = trailsentry("scan", "--format", "jsonl", str(data))
    assert "access-denied-burst" in {a["detector"] for a in alerts_of(unsuppressed.stdout)}
    config = _config(tmp_path, "access-denied-burst", source_ip, "2099-01-01")
    result = trailsentry("scan", "--format", "jsonl", "--config", str(config), str(data))
    assert result.returncode == 0, result.stderr
    assert "access-denied-burst" not in {a["detector"] for a in alerts_of(result.stdout)}
    assert b"suppressed by config (access-denied-burst): 25" in result.stderr


def test_an_expired_suppression_is_warned_about_and_no_longer_applies(tmp_path: Path) -> None:
    data, source_ip = _burst(tmp_path)
    config = _config(tmp_path, "access-denied-burst", source_ip, "2020-01-01")
    result = trailsentry("scan", "--format", "jsonl", "--config", str(config), str(data))
    assert result.returncode == 0, result.stderr
    assert b"suppression pentest expired" in result.stderr
    assert b"approved penetration test" in result.stderr
    assert "access-denied-burst" in {a["detector"] for a in alerts_of(result.stdout)}


def test_a_suppression_naming_no_detector_is_a_config_error(tmp_path: Path) -> None:
    data, source_ip = _burst(tmp_path)
    config = _config(tmp_path, "acess-denied-burst", source_ip, "2099-01-01")
    for command in (["scan", "--config", str(config), str(data)], ["config", "validate", str(config)]):
        result = trailsentry(*command)
        assert result.returncode == 2, command
        assert b"'acess-denied-burst' matches no known detector" in result.stderr
