"""Routing rules: severity, detector globs, account ids and aliases, tags; per-sink minimum severity."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from monitor.alerts.router import Router
from monitor.model.severity import Severity
from tests.alerts.conftest import make_alert, settings_from

CONFIG = {
    "sinks": [
        {"name": "pager", "type": "file", "path": "pager.jsonl"},
        {"name": "oncall", "type": "file", "path": "oncall.jsonl", "min_severity": "medium"},
        {"name": "lowfile", "type": "file", "path": "low.jsonl"},
    ],
    "routes": [
        {"min_severity": "critical", "sinks": ["pager", "oncall"]},
        {"detectors": ["iam-*", "root-console-login"], "accounts": ["prod"], "sinks": ["oncall"]},
        {"tags": ["T1562*"], "sinks": ["oncall"]},
        {"max_severity": "low", "sinks": ["lowfile"]},
    ],
}


def router() -> Router:
    settings = settings_from(CONFIG)
    return Router(settings.sinks, settings.routes)


@pytest.mark.parametrize(("fields", "expected"), [
    ({"severity": Severity.CRITICAL}, ["pager", "oncall"]),
    ({"severity": Severity.LOW}, ["lowfile"]),
    ({"severity": Severity.HIGH}, []),
    ({"severity": Severity.HIGH, "account_alias": "prod"}, ["oncall"]),
    ({"severity": Severity.HIGH, "account": "prod"}, ["oncall"]),
    ({"severity": Severity.HIGH, "detector": "iam-user-created", "account_alias": "prod"}, ["oncall"]),
    ({"severity": Severity.HIGH, "detector": "s3-public", "account_alias": "prod"}, []),
    ({"severity": Severity.MEDIUM, "mitre": ("T1562.008",)}, ["oncall"]),
    ({"severity": Severity.MEDIUM, "context": {"tags": ["T1562"]}}, ["oncall"]),
    # A matching rule still respects the sink's minimum severity.
    ({"severity": Severity.LOW, "mitre": ("T1562.008",)}, ["lowfile"]),
])
def test_rules(fields: dict[str, object], expected: list[str]) -> None:
    assert router().route(make_alert(**fields)) == expected  # type: ignore[arg-type]


def test_without_rules_every_sink_above_its_minimum() -> None:
    settings = settings_from({"sinks": [{"name": "a", "type": "console"},
                                        {"name": "b", "type": "file", "path": "b", "min_severity": "critical"}]})
    assert Router(settings.sinks, settings.routes).route(make_alert(severity=Severity.HIGH)) == ["a"]


async def test_routed_alerts_land_in_their_files(tmp_path: Path, running, monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "low.jsonl").write_text('{"earlier": true}\n')
    alerting = running(settings_from(CONFIG), tmp_path / "o.sqlite")
    await alerting.start()
    await alerting.record([
        make_alert("crit", severity=Severity.CRITICAL),
        make_alert("low", severity=Severity.LOW, principal="arn:aws:iam::111122223333:user/l"),
        make_alert("nowhere", severity=Severity.HIGH, principal="arn:aws:iam::111122223333:user/n"),
    ])
    stats = await alerting.wait_for(lambda s: s.outbox_depth == 0 and s.sinks["lowfile"].sent == 1)
    assert stats.unrouted == 1
    assert any("nowhere" in r.getMessage() and "no route" in r.getMessage() for r in caplog.records)

    def ids(name: str) -> list[str]:
        lines = (tmp_path / name).read_text().splitlines()
        return [orjson.loads(line).get("id", "earlier") for line in lines]

    assert ids("pager.jsonl") == ["crit"]
    assert ids("oncall.jsonl") == ["crit"]
    assert ids("low.jsonl") == ["earlier", "low"]  # appended, never truncated
