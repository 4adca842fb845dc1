"""The dashboard and the alert rules: every query parses and names only metrics trailsentry exposes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from monitor.metrics.collector import Telemetry
from tests.deploy import promql
from tests.deploy.tools import DEPLOY, require_tool

DASHBOARD = DEPLOY / "grafana" / "trailsentry.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERT_TESTS = DEPLOY / "prometheus" / "alerts_test.yml"
# Series Prometheus itself adds to every target.
PROMETHEUS_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})


def _all_queries() -> list[promql.Query]:
    board = promql.dashboard(DASHBOARD)
    return [*promql.dashboard_queries(board), *promql.variable_queries(board), *promql.rule_queries(ALERTS)]


def _promtool_check_rules(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)


def test_metric_name_extraction_understands_promql() -> None:
    expr = ('histogram_quantile(0.9, sum by (source, le) (rate(trailsentry_ingest_lag_seconds_bucket'
            '{instance=~"$instance", source="a b"}[5m]))) > 1e3 and on (instance) up offset 5m '
            '/ ignoring(x) group_left(y) sum(foo:bar) without (z)')
    assert promql.metric_names(expr) == {"trailsentry_ingest_lag_seconds_bucket", "up", "foo:bar"}


def test_every_query_names_an_exposed_metric() -> None:
    exposed = Telemetry().metric_names() | PROMETHEUS_SERIES
    unknown = {}
    used = set()
    for query in _all_queries():
        names = promql.metric_names(query.expr)
        assert names, f"{query.where}: no metric found in {query.expr!r}"
        used |= names
        missing = names - exposed
        if missing:
            unknown[query.where] = sorted(missing)
    assert not unknown, f"queries name metrics monitor/metrics/catalogue.py does not expose: {unknown}"
    # The dashboard and the rules cover the main families.
    for family in ("trailsentry_events_received_total", "trailsentry_ingest_lag_seconds_bucket",
                   "trailsentry_alerts_created_total", "trailsentry_alerts_sent_total", "trailsentry_outbox_depth",
                   "trailsentry_alerts_dead_lettered_total", "trailsentry_aws_api_throttles_total",
                   "trailsentry_ready", "trailsentry_state_store_up", "trailsentry_state_round_trips_total",
                   "trailsentry_state_round_trip_seconds_bucket", "trailsentry_state_conflicts_total",
                   "trailsentry_lease_held"):
        assert family in used, family


def test_dashboard_and_rule_queries_parse(tmp_path: Path) -> None:
    rules = tmp_path / "queries.yml"
    queries = _all_queries()
    rules.write_text(promql.as_recording_rules(queries), encoding="utf-8")
    result = _promtool_check_rules(rules)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(queries)} rules found" in result.stdout


def test_the_parse_check_rejects_bad_promql(tmp_path: Path) -> None:
    rules = tmp_path / "bad.yml"
    rules.write_text(promql.as_recording_rules([promql.Query("bad", "sum by (source (rate(x[5m]))")]),
                     encoding="utf-8")
    result = _promtool_check_rules(rules)
    assert result.returncode != 0
    assert "parse error" in (result.stdout + result.stderr)


def test_grafana_variables_are_all_substituted() -> None:
    for query in promql.dashboard_queries(promql.dashboard(DASHBOARD)):
        assert "$" not in promql.substitute(query.expr), query.where
    with pytest.raises(KeyError):
        promql.substitute("rate(x[$unknown_variable])")


def test_alert_rules_file_is_valid() -> None:
    result = _promtool_check_rules(ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rule_unit_tests_pass() -> None:
    result = subprocess.run([require_tool("promtool"), "test", "rules", str(ALERT_TESTS)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_runbook_and_is_shown_firing_in_the_unit_tests() -> None:
    rules = promql.alert_rules(ALERTS)
    names = {rule["alert"] for rule in rules}
    # What the monitor must watch in itself.
    for required in ("TrailsentryDown", "TrailsentryIngestStalled", "TrailsentryIngestLagHigh",
                     "TrailsentryAlertDeliveryFailing", "TrailsentryOutboxBacklog", "TrailsentryAlertsDeadLettered",
                     "TrailsentryDetectorErrors", "TrailsentryReplicasDisagreeOnReadiness",
                     "TrailsentryStateStoreDown", "TrailsentryStateStoreSlow", "TrailsentryStateConflictsHigh",
                     "TrailsentryNoDeliveryLeaseHolder"):
        assert required in names
    for rule in rules:
        annotations = rule.get("annotations", {})
        assert len(annotations.get("runbook", "")) > 40, f"{rule['alert']}: runbook annotation"
        assert annotations.get("summary"), rule["alert"]
        assert rule.get("labels", {}).get("severity") in ("critical", "warning"), rule["alert"]
    tests = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))
    firing = {case["alertname"] for test in tests["tests"] for case in test.get("alert_rule_test", [])
              if case.get("exp_alerts")}
    quiet = {case["alertname"] for test in tests["tests"] for case in test.get("alert_rule_test", [])
             if not case.get("exp_alerts")}
    assert names <= firing, f"alerts never shown firing: {sorted(names - firing)}"
    assert names <= quiet, f"alerts never shown staying quiet: {sorted(names - quiet)}"


def test_dashboard_structure() -> None:
    board = promql.dashboard(DASHBOARD)
    assert board["schemaVersion"] >= 39
    assert board["uid"] == "trailsentry"
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == ["Ingest", "Detections", "Delivery", "Health", "Replicas"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["type"] == "query"
    panels = [p for p in promql.panels(board) if p["type"] != "row"]
    titles = {p["title"] for p in panels}
    for wanted in ("Events per second by source", "Ingest and delivery lag (p90) by source",
                   "Objects per second by source", "SQS messages per second", "Alerts by detector and severity",
                   "Top detectors", "Alerts sent and failed by sink", "Outbox depth and oldest pending age",
                   "Dead letters", "Errors", "AWS API throttles and errors", "Ready by replica",
                   "State store up by replica", "Lease holders", "Events per second by replica",
                   "Commit conflicts per second", "State store round trips per second by operation",
                   "State store round-trip latency (p50, p99) by operation"):
        assert wanted in titles, wanted
    ids = [p["id"] for p in promql.panels(board)]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert 'instance=~"$instance"' in target["expr"], f"{panel['title']}: honours the instance variable"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area


def test_replica_panels_show_each_replica_by_instance() -> None:
    """Per-replica panels group by `instance`, the label of the dashboard's variable (every scrape has it;
    `pod` only where the Prometheus Operator adds it)."""
    board = promql.dashboard(DASHBOARD)
    [row] = [p for p in board["panels"] if p["type"] == "row" and p["title"] == "Replicas"]
    below = [p for p in board["panels"] if p["type"] != "row" and p["gridPos"]["y"] > row["gridPos"]["y"]]
    by_title = {p["title"]: p for p in below}
    for title in ("Ready by replica", "State store up by replica", "Lease holders", "Events per second by replica",
                  "Commit conflicts per second"):
        expr = by_title[title]["targets"][0]["expr"]
        assert "instance) (" in expr or "instance, backend) (" in expr, f"{title}: one series per replica"
        assert "{{instance}}" in by_title[title]["targets"][0]["legendFormat"], title
    latency = [t["expr"] for t in by_title["State store round-trip latency (p50, p99) by operation"]["targets"]]
    assert [e.split(",")[0] for e in latency] == ["histogram_quantile(0.99", "histogram_quantile(0.5"]
    assert all("by (operation, le)" in e for e in latency)
    assert "by (operation)" in by_title["State store round trips per second by operation"]["targets"][0]["expr"]
