"""`trailsentry scan`, `detectors` and `config` as a user runs them: real processes, real files."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.helpers import alerts_of, cloudtrail_event, root, signin, trailsentry, write

ALERT_KEYS = {
    "schema", "id", "detector", "title", "severity", "account", "account_alias", "region", "principal",
    "source_ip", "user_agent", "event_source", "event_name", "event_time", "last_event_time", "event_ids",
    "count", "mitre", "runbook", "tactics", "context",
}


def root_login(seconds: float, account: str = "111122223333") -> dict[str, Any]:
    return signin(root(account), seconds, "Success", ip="203.0.113.10")


@pytest.fixture
def mixed_corpus(tmp_path: Path) -> Path:
    """Every readable format with one root login each, plus one broken file of each kind."""
    base = tmp_path / "logs"
    accounts = ["111111111111", "222222222222", "333333333333", "444444444444"]
    write(base / "AWSLogs/111111111111/CloudTrail/us-east-1/2026/03/01/"
                 "111111111111_CloudTrail_us-east-1_20260301T1200Z_abc.json.gz",
          gzip.compress(orjson.dumps({"Records": [root_login(0, accounts[0]),
                                                  cloudtrail_event("ListUsers", "iam.amazonaws.com", 1)]})))
    write(base / "lines.jsonl", orjson.dumps(root_login(10, accounts[1])) + b"\n")
    write(base / "array.json", orjson.dumps([root_login(20, accounts[2])]))
    write(base / "export.log", b"2026-03-01T12:00:30.000Z " + orjson.dumps(root_login(30, accounts[3])) + b"\n")
    write(base / "AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2026/03/01/digest.json.gz",
          gzip.compress(orjson.dumps({"digestStartTime": "2026-03-01T11:00:00Z", "logFiles": []})))
    insight = {**cloudtrail_event("PutObject", "s3.amazonaws.com", 5), "eventType": "AwsCloudTrailInsight"}
    write(base / "insight.json", orjson.dumps({"Records": [insight]}))
    # Broken inputs: each must give one warning and stop nothing.
    good = gzip.compress(orjson.dumps({"Records": [root_login(40)] * 30}))
    write(base / "broken/truncated.json.gz", good[: len(good) // 2])
    write(base / "broken/invalid.json", b'{"Records": [{"eventName": ')
    write(base / "broken/bomb.json.gz", gzip.compress(b"[" + b" " * 3_000_000 + b"]"))
    listing = cloudtrail_event("ListUsers", "iam.amazonaws.com", 3)
    write(base / "broken/not-objects.json", orjson.dumps({"Records": [1, listing]}))
    write(base / "broken/bad-time.jsonl", orjson.dumps(cloudtrail_event("ListUsers", "iam.amazonaws.com",
                                                                     eventTime="...")) + b"\n")
    return base


def test_scan_mixed_formats_and_corrupt_files(mixed_corpus: Path) -> None:
    result = trailsentry("scan", "--format", "jsonl", "--detector", "root-console-login",
                         "--max-decompressed-bytes", "1000000", str(mixed_corpus))
    assert result.returncode == 0, result.stderr.decode()
    alerts = alerts_of(result.stdout)
    assert sorted(a["account"] for a in alerts) == ["111111111111", "222222222222", "333333333333",
                                                     "444444444444"]
    assert all(set(a) == ALERT_KEYS and a["severity"] == "critical" and a["schema"] == 1 for a in alerts)
    stderr = result.stderr.decode()
    warnings = [line for line in stderr.splitlines() if line.startswith("warning: ")]
    broken_names = ["truncated.json.gz", "invalid.json", "bomb.json.gz", "not-objects.json", "bad-time.jsonl"]
    for name in broken_names:
        assert sum(name in line for line in warnings) >= 1, f"no warning names {name}: {warnings}"
    named = [name for line in warnings for name in broken_names if name in line]
    assert sorted(named) == sorted(broken_names) and len(warnings) == len(broken_names)  # one per bad file
    assert "bad-time.jsonl:1: eventTime '...'" in stderr
    assert "skipped (digest): 1" in stderr and "skipped (insight): 1" in stderr
    assert "alerts: 4" in stderr and "too_large: 1" in stderr


def test_strict_turns_warnings_into_exit_1(mixed_corpus: Path) -> None:
    result = trailsentry("scan", "--strict", "--format", "jsonl", str(mixed_corpus / "broken"))
    assert result.returncode == 1


def test_strict_clean_input_exits_0(tmp_path: Path) -> None:
    path = write(tmp_path / "ok.json", orjson.dumps({"Records": [root_login(0)]}))
    assert trailsentry("scan", "--strict", str(path)).returncode == 0


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = trailsentry("scan", str(tmp_path / "nope"))
    assert result.returncode == 2 and b"no such file" in result.stderr


def test_no_arguments_is_a_usage_error() -> None:
    assert trailsentry("scan").returncode == 2


def test_stdin_and_default_jsonl_when_piped() -> None:
    result = trailsentry("scan", "--detector", "root-console-login", "-", stdin=orjson.dumps(root_login(0)) + b"\n")
    assert result.returncode == 0
    [alert] = alerts_of(result.stdout)
    assert alert["detector"] == "root-console-login" and alert["principal"] == "arn:aws:iam::111122223333:root"


def test_table_format(tmp_path: Path) -> None:
    path = write(tmp_path / "ok.json", orjson.dumps([root_login(0)]))
    result = trailsentry("scan", "--format", "table", "--detector", "root-console-login", str(path))
    lines = result.stdout.decode().splitlines()
    assert lines[0].startswith("SEVERITY") and "root-console-login" in lines[1] and "critical" in lines[1]


def test_files_are_scanned_in_event_time_order_across_regions(tmp_path: Path) -> None:
    """A burst split across two regions' files still forms one episode when read in time order."""
    failures = [signin(root(), 60 * i, "Failure", ip="203.0.113.10") for i in range(4)]
    success = signin(root(), 300, "Success", ip="203.0.113.10")
    prefix = "AWSLogs/111122223333/CloudTrail"
    write(tmp_path / f"{prefix}/eu-west-1/2026/03/01/111122223333_CloudTrail_eu-west-1_20260301T1205Z_b.json.gz",
          gzip.compress(orjson.dumps({"Records": [success]})))
    write(tmp_path / f"{prefix}/us-east-1/2026/03/01/111122223333_CloudTrail_us-east-1_20260301T1200Z_a.json.gz",
          gzip.compress(orjson.dumps({"Records": failures})))
    result = trailsentry("scan", "--format", "jsonl", "--detector", "root-console-login", str(tmp_path))
    [alert] = alerts_of(result.stdout)
    assert alert["count"] == 5 and alert["severity"] == "critical"
    assert alert["event_time"] == "2026-03-01T12:00:00Z" and alert["last_event_time"] == "2026-03-01T12:05:00Z"


def test_detectors_list_json() -> None:
    result = trailsentry("detectors", "list", "--format", "json")
    catalog = {d["id"]: d for d in orjson.loads(result.stdout)}
    entry = catalog["root-console-login"]
    assert entry["events"] == ["signin.amazonaws.com:ConsoleLogin"] and entry["mitre"] == ["T1078.004"]
    assert entry["runbook"]


def test_detectors_test_passes() -> None:
    result = trailsentry("detectors", "test")
    assert result.returncode == 0, result.stdout.decode()
    assert b" 0 failed" in result.stdout


def test_config_validate_reports_every_error_with_its_path(tmp_path: Path) -> None:
    config = write(tmp_path / "bad.yaml", b"""
engine:
  lateness_seconds: soon
  dedupe_capacity: 0
detectors:
  console-login-failure-burst:
    threshold: many
    colour: red
  root-console-login:
    severity: apocalyptic
accounts:
  "12": short
surprise: 1
""")
    result = trailsentry("config", "validate", str(config))
    assert result.returncode == 2
    stderr = result.stderr.decode()
    for expected in (
        "engine.lateness_seconds: must be an integer",
        "engine.dedupe_capacity: must be >= 1",
        "detectors.console-login-failure-burst.threshold: must be an integer",
        "detectors.console-login-failure-burst.colour: unknown key",
        "detectors.root-console-login.severity: unknown severity",
        "accounts.12: account ids are 12 digits",
        "surprise: unknown key",
    ):
        assert expected in stderr, stderr


def test_config_validate_warns_about_the_old_repeat_window_name(tmp_path: Path) -> None:
    config = tmp_path / "old.yaml"
    config.write_text("alerting:\n  suppression: {window_seconds: 60}\n")
    result = trailsentry("config", "validate", str(config))
    assert result.returncode == 0, result.stderr
    assert b"config warning: alerting.suppression: renamed to alerting.repeat_window" in result.stderr
    scanned = trailsentry("scan", "--config", str(config), "-", stdin=b"")
    assert scanned.returncode == 0
    assert b"alerting.suppression: renamed to alerting.repeat_window" in scanned.stderr  # logged as a warning


def test_config_unknown_detector_is_an_error(tmp_path: Path) -> None:
    config = write(tmp_path / "c.yaml", b"detectors:\n  no-such-detector:\n    enabled: false\n")
    result = trailsentry("config", "validate", str(config))
    assert result.returncode == 2 and b"no-such-detector" in result.stderr


def test_config_example_is_valid(tmp_path: Path) -> None:
    example = trailsentry("config", "example").stdout
    path = write(tmp_path / "example.yaml", example)
    result = trailsentry("config", "validate", str(path))
    assert result.returncode == 0, result.stderr.decode()


def test_insight_files_are_skipped_by_their_path(tmp_path: Path) -> None:
    path = write(tmp_path / "AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2026/03/01/x.json.gz",
                 gzip.compress(orjson.dumps({"Records": [root_login(0)]})))
    result = trailsentry("scan", "--format", "jsonl", str(path))
    assert result.returncode == 0 and alerts_of(result.stdout) == []
    assert b"skipped (insight): 1" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file and folder; permissions cannot be tested")
def test_unreadable_file_argument_is_a_usage_error_and_unlistable_folder_a_warning(tmp_path: Path) -> None:
    secret = write(tmp_path / "locked.json", orjson.dumps([root_login(0)]))
    secret.chmod(0)
    assert trailsentry("scan", str(secret)).returncode == 2
    folder = tmp_path / "logs"
    write(folder / "ok.json", orjson.dumps([root_login(0)]))
    locked = folder / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        result = trailsentry("scan", "--strict", str(folder))
    finally:
        locked.chmod(0o700)
    assert result.returncode == 1 and b"cannot list folder" in result.stderr


def test_yaml_errors_give_the_position_without_quoting_the_line(tmp_path: Path) -> None:
    config = write(tmp_path / "broken.yaml", b'sinks:\n  - headers: {Authorization: "Bearer sk-LIVE-123", X: [}\n')
    result = trailsentry("config", "validate", str(config))
    assert result.returncode == 2
    assert b"not valid YAML at line 2" in result.stderr and b"sk-LIVE-123" not in result.stderr


def test_a_reader_that_goes_away_is_not_an_error() -> None:
    # 300 alerts of ~1.5 KB each: far more than a pipe buffer, so writing hits the closed pipe.
    logins = b"".join(orjson.dumps(root_login(i, account=f"{100000000000 + i}")) + b"\n" for i in range(300))
    process = subprocess.Popen([sys.executable, "-m", "monitor", "scan", "--format", "jsonl", "-"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    process.stdin.write(logins)
    process.stdin.close()
    assert orjson.loads(process.stdout.readline())["detector"]
    process.stdout.close()  # like `| head -1`
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 0
    assert b"Traceback" not in stderr


def test_scan_does_not_load_the_delivery_clients() -> None:
    # `scan` delivers nothing; importing aiohttp and botocore would add a third of a second to every run.
    probe = ("import sys, monitor.cli; "
             "print(sorted(m for m in ('aiohttp', 'botocore', 'aiobotocore') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=60, check=True)
    assert result.stdout.decode().strip() == "[]"


def test_an_internal_error_exits_3_and_the_other_files_keep_their_alerts(tmp_path: Path) -> None:
    accounts = ["111111111111", "222222222222", "333333333333"]
    for index, account in enumerate(accounts):
        write(tmp_path / f"{index}.jsonl", orjson.dumps(root_login(index * 10, account)) + b"\n")
    # The second batch applied raises inside the engine, the way a bug would.
    environment = {**os.environ, "TRAILSENTRY_FAILPOINTS": "mid_batch:2:error"}
    result = subprocess.run([sys.executable, "-m", "monitor", "scan", "--workers", "1", "--format", "jsonl",
                             "--detector", "root-console-login", str(tmp_path)],
                            capture_output=True, timeout=120, check=False, env=environment)
    stderr = result.stderr.decode()
    assert result.returncode == 3, stderr
    failed = [line for line in stderr.splitlines() if "internal error on" in line]
    assert len(failed) == 1 and "failpoint mid_batch" in failed[0]
    failed_file = next(f"{index}.jsonl" for index in range(3) if f"{index}.jsonl" in failed[0])
    alerted = sorted(alert["account"] for alert in alerts_of(result.stdout))
    assert alerted == sorted(account for index, account in enumerate(accounts) if f"{index}.jsonl" != failed_file)
    assert "Please report this" in stderr
