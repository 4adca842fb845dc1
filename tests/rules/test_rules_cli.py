"""Custom and Sigma rules through the real command line entry (`monitor.cli.main`) on temporary files."""

from __future__ import annotations

import asyncio
import gzip
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from monitor.app import App
from monitor.cli import main
from monitor.config import parse_config
from tests.helpers import REPO, Keep, cloudtrail_event, iam_user

RULE: dict[str, Any] = {
    "id": "tagged-user-created",
    "title": "IAM user created with a contractor tag",
    "severity": "high",
    "mitre": ["T1136.003"],
    "runbook": "Ask the caller who the contractor is; delete the user if nobody knows.",
    "events": ["iam.amazonaws.com:CreateUser"],
    "condition": {"all": [
        {"field": "requestParameters.tags.key", "equals": "contractor", "case_insensitive": True},
        {"field": "errorCode", "exists": False},
    ]},
    "group_by": ["userIdentity.arn"],
    "context_fields": ["requestParameters.userName"],
}


def create_user(name: str, tag: str, seconds: float = 0, **fields: Any) -> dict[str, Any]:
    return cloudtrail_event("CreateUser", "iam.amazonaws.com", seconds, iam_user("admin"),
                            requestParameters={"userName": name, "tags": [{"key": tag, "value": "yes"}]}, **fields)


SAMPLES = [
    {"name": "a contractor user", "events": [create_user("bob", "Contractor")], "expect": {"alerts": 1,
                                                                                          "severity": "high"}},
    {"name": "a staff user (near miss)", "events": [create_user("carol", "team")], "expect": {"alerts": 0}},
]


def setup(tmp_path: Path, rules: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> Path:
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "rules" / "team.yaml").write_text(yaml.safe_dump({"rules": rules}))
    config = tmp_path / "trailsentry.yaml"
    config.write_text(yaml.safe_dump({"rules": {"custom": ["rules"]}, **(extra or {})}))
    return config


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_detectors_list_shows_custom_rules_with_their_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = setup(tmp_path, [RULE])
    code, out, _ = cli(capsys, "detectors", "list", "--config", str(config))
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    assert rows["tagged-user-created"][1:4] == ["high", "custom", "T1136.003"]
    assert rows["root-console-login"][2] == "builtin"
    code, out, _ = cli(capsys, "detectors", "list", "--config", str(config), "--format", "json")
    catalog = {entry["id"]: entry for entry in orjson.loads(out)}
    entry = catalog["tagged-user-created"]
    assert entry["kind"] == "custom" and entry["file"] == str(tmp_path / "rules" / "team.yaml")
    assert entry["events"] == ["iam.amazonaws.com:CreateUser"] and entry["episode_seconds"] == 3600
    assert catalog["root-console-login"]["kind"] == "builtin" and catalog["root-console-login"]["file"] is None


def test_detectors_list_shows_sigma_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          caplog: pytest.LogCaptureFixture) -> None:
    sigma = tmp_path / "sigma"
    sigma.mkdir()
    (sigma / "stop.yml").write_text(
        "title: Trail Logging Stopped\nlogsource: {product: aws, service: cloudtrail}\n"
        "detection:\n  sel: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging}\n  condition: sel\n"
        "level: high\ntags: [attack.t1562.008]\n")
    (sigma / "windows.yml").write_text(
        "title: Some Windows Rule\nlogsource: {product: windows}\n"
        "detection:\n  sel: {Image: x}\n  condition: sel\nlevel: low\ntags: [attack.t1059]\n")
    config = tmp_path / "trailsentry.yaml"
    config.write_text("rules:\n  sigma: [sigma]\n")
    with caplog.at_level(logging.WARNING, logger="trailsentry.rules"):
        code, out, _ = cli(capsys, "detectors", "list", "--config", str(config), "--format", "json")
    assert code == 0  # a Sigma rule that cannot load is reported, not fatal
    sigma_rules = [entry for entry in orjson.loads(out) if entry["kind"] == "sigma"]
    assert len(sigma_rules) == 1 and sigma_rules[0]["events"] == ["cloudtrail.amazonaws.com:StopLogging"]
    assert any("Some Windows Rule" in r.getMessage() for r in caplog.records)


def test_detectors_test_runs_samples_inside_rule_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = setup(tmp_path, [{**RULE, "samples": SAMPLES}])
    code, out, _ = cli(capsys, "detectors", "test", "--config", str(config), "--detector", "tagged-user-created")
    assert code == 0, out
    assert out.strip().splitlines()[-1] == "2 passed, 0 failed"


def test_detectors_test_reports_a_failing_rule_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wrong = [{**SAMPLES[0], "expect": {"alerts": 1, "severity": "critical"}},
             {**SAMPLES[1], "expect": {"alerts": 1}}]
    config = setup(tmp_path, [{**RULE, "samples": wrong}])
    code, out, _ = cli(capsys, "detectors", "test", "--config", str(config), "--detector", "tagged-user-created")
    assert code == 1
    assert "FAIL tagged-user-created: a contractor user: expected severity critical, got high" in out
    assert "FAIL tagged-user-created: a staff user (near miss): expected 1 alert(s), got 0" in out
    assert out.strip().splitlines()[-1] == "0 passed, 2 failed"


def test_detectors_test_runs_the_example_rules(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "trailsentry.yaml"
    config.write_text(f"rules:\n  custom: [{REPO / 'deploy' / 'rules' / 'example.rules.yaml'}]\n")
    ids = ["access-key-created-for-other-user", "s3-object-deletion-burst", "console-login-from-unexpected-network"]
    code, out, _ = cli(capsys, "detectors", "test", "--config", str(config), *[f"--detector={i}" for i in ids])
    assert code == 0, out
    assert out.strip().splitlines()[-1] == "6 passed, 0 failed"


def test_config_validate_fails_and_prints_every_rule_problem(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = [{**RULE, "severity": "urgent"},
           {**RULE, "id": "second-rule", "condition": {"field": "sourceIPAddress", "cidr": "10.0.0.0/40"},
            "threshold": {"count": 3, "window_seconds": 60}, "group_by": None}]
    config = setup(tmp_path, [{k: v for k, v in r.items() if v is not None} for r in bad])
    code, out, err = cli(capsys, "config", "validate", str(config))
    assert code == 2 and "valid" not in out
    file = tmp_path / "rules" / "team.yaml"
    lines = err.splitlines()
    assert f"config error: custom rule: {file}: rule 'tagged-user-created': severity: unknown severity 'urgent' " \
           "(expected one of info, low, medium, high, critical)" in lines
    assert any(line.startswith(f"config error: custom rule: {file}: rule 'second-rule': condition.cidr: bad CIDR")
               for line in lines)
    assert f"config error: custom rule: {file}: rule 'second-rule': threshold: needs group_by " \
           "(what to count per)" in lines
    # the same refusal stops a scan before it reads anything
    code, out, err = cli(capsys, "scan", "--config", str(config), str(tmp_path / "rules"))
    assert code == 2 and out == "" and "rule 'second-rule'" in err


def test_config_validate_accepts_good_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = setup(tmp_path, [RULE])
    code, out, _ = cli(capsys, "config", "validate", str(config))
    assert code == 0 and out.strip() == f"{config}: valid"


def test_settings_for_a_rule_id_that_is_not_loaded_are_an_error(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = setup(tmp_path, [RULE], {"detectors": {"tagged-user-creatd": {"enabled": False}}})
    code, _, err = cli(capsys, "config", "validate", str(config))
    assert code == 2 and "tagged-user-creatd" in err


def scan(capsys: pytest.CaptureFixture[str], config: Path, logs: Path) -> tuple[int, list[dict[str, Any]]]:
    code, out, _ = cli(capsys, "scan", "--format", "jsonl", "--no-progress", "--config", str(config), str(logs))
    return code, [orjson.loads(line) for line in out.splitlines() if line.strip()]


def test_scan_end_to_end_with_a_custom_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = setup(tmp_path, [RULE])
    records = [create_user("bob", "contractor", 0), create_user("dave", "CONTRACTOR", 60),
               create_user("erin", "contractor", 120, errorCode="AccessDenied"), create_user("carol", "team", 180)]
    logs = tmp_path / "logs" / "111122223333_CloudTrail_us-east-1_20260301T1200Z_x.json.gz"
    logs.parent.mkdir()
    logs.write_bytes(gzip.compress(orjson.dumps({"Records": records})))
    code, alerts = scan(capsys, config, logs.parent)
    assert code == 0
    [alert] = [a for a in alerts if a["detector"] == "tagged-user-created"]
    assert alert["severity"] == "high" and alert["count"] == 2 and alert["mitre"] == ["T1136.003"]
    assert alert["principal"] == "arn:aws:iam::111122223333:user/admin"
    assert alert["runbook"] == RULE["runbook"] and alert["context"] == {"requestParameters.userName": "bob"}
    assert len(alert["event_ids"]) == 2

    # the rule is tuned like a built-in: severity override, then disabled
    tuned = setup(tmp_path, [RULE], {"detectors": {"tagged-user-created": {"severity": "critical"}}})
    _, alerts = scan(capsys, tuned, logs.parent)
    assert [a["severity"] for a in alerts if a["detector"] == "tagged-user-created"] == ["critical"]
    off = setup(tmp_path, [RULE], {"detectors": {"tagged-user-created": {"enabled": False}}})
    _, alerts = scan(capsys, off, logs.parent)
    assert not [a for a in alerts if a["detector"] == "tagged-user-created"]


def test_scan_can_select_a_custom_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = setup(tmp_path, [RULE])
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "events.jsonl").write_bytes(orjson.dumps(create_user("bob", "contractor")) + b"\n")
    code, out, _ = cli(capsys, "scan", "--format", "jsonl", "--no-progress", "--config", str(config),
                       "--detector", "tagged-user-created", str(logs))
    assert code == 0
    assert [orjson.loads(line)["detector"] for line in out.splitlines()] == ["tagged-user-created"]


def test_run_refuses_to_start_with_a_bad_custom_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = setup(tmp_path, [{**RULE, "condition": {"field": "userAgent", "regex": "(["}}],
                   {"sources": [{"kind": "directory", "name": "inbox", "path": str(tmp_path / "inbox")}],
                    "checkpoint": {"path": str(tmp_path / "state.sqlite")}})
    code, _, err = cli(capsys, "run", "--config", str(config))
    assert code == 2 and "rule 'tagged-user-created': condition.regex: bad regex '(['" in err
    assert not (tmp_path / "state.sqlite").exists()  # refused before anything was created


async def test_the_live_service_runs_custom_rules(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "team.yaml").write_text(yaml.safe_dump({"rules": [RULE]}))
    config = parse_config({
        "sources": [{"kind": "directory", "name": "inbox", "path": str(inbox), "interval_seconds": 0.05,
                     "settle_seconds": 0}],
        "rules": {"custom": [str(tmp_path / "rules")]},
        "service": {"checkpoint_seconds": 3600},
    })
    recorder = Keep()
    app = App(config, recorder=recorder, checkpoint_path=tmp_path / "state.sqlite")
    running = asyncio.create_task(app.run(handle_signals=False))
    (inbox / "a.json.gz").write_bytes(gzip.compress(orjson.dumps({"Records": [create_user("bob", "contractor")]})))
    await recorder.wait_for("tagged-user-created")
    app.request_stop("test")
    assert await asyncio.wait_for(running, 60) == 0
    alert = next(a for a in recorder.recorded if a.detector == "tagged-user-created")
    assert alert.context == {"requestParameters.userName": "bob"} and alert.severity.label == "high"
