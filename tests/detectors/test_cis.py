"""The CIS monitoring detectors: contract, their shared rules (detectors/_changes.py, logging/_trails.py,
network/_open_ports.py), hostile input."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from detectors.logging._trails import CLOUDTRAIL, trail_blinded
from detectors.network._open_ports import world_open_ports
from monitor.engine import Engine, EngineSettings
from monitor.model import Alert, Detector
from monitor.model.event import event_from_record
from monitor.rules.builtin import builtin_detectors

CIS_IDS = (
    "iam-policy-changed", "cloudtrail-logging-stopped", "cloudtrail-config-changed", "kms-key-disabled-or-deleted",
    "s3-bucket-policy-changed", "config-recorder-changed", "security-group-changed", "network-acl-changed",
    "network-gateway-changed", "route-table-changed", "vpc-changed", "organizations-changed",
)
BY_ID = {d.id: d for d in builtin_detectors()}
ACCOUNT = "111122223333"
_ids = itertools.count(1)


def event(source: str, name: str, params: Any, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.09", "eventTime": "2026-03-02T10:00:00Z", "eventSource": source, "eventName": name,
        "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.23", "userAgent": "aws-cli/2.15.30",
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/alice", "accountId": ACCOUNT,
                         "userName": "alice", "accessKeyId": "AKIAIOSFODNN7EXAMPLE"},
        "requestParameters": params, "responseElements": None, "eventID": f"e-{next(_ids)}",
        "eventType": "AwsApiCall", "recipientAccountId": ACCOUNT,
    }
    record.update(extra)
    return record


def run(detector_ids: tuple[str, ...], events: list[dict[str, Any]]) -> tuple[Engine, list[Alert]]:
    engine = Engine([BY_ID[i] for i in detector_ids], EngineSettings())
    alerts: dict[str, Alert] = {}
    for alert in [*engine.process_records(events, "test_cis").alerts, *engine.flush()]:
        alerts[alert.id] = alert
    return engine, list(alerts.values())


@pytest.mark.parametrize("detector_id", CIS_IDS)
def test_detector_is_indexed_and_grouped(detector_id: str) -> None:
    detector: Detector = BY_ID[detector_id]
    assert not detector.all_events and detector.events
    assert detector.group_by is not None and detector.episode_seconds == 3600


# PutEventSelectors and friends: exactly one of the two CloudTrail detectors speaks for every request.
_SELECTOR_REQUESTS: list[Any] = [
    None, "x", {}, {"eventSelectors": []}, {"eventSelectors": "All"},
    {"trailName": "t", "eventSelectors": [{"readWriteType": "All"}]},
    {"trailName": "t", "eventSelectors": [{"readWriteType": "ReadOnly"}]},
    {"trailName": "t", "eventSelectors": [{"readWriteType": "WriteOnly", "includeManagementEvents": "FALSE"}]},
    {"trailName": "t", "eventSelectors": [{"readWriteType": "ReadOnly"}, {"readWriteType": "WriteOnly"}]},
    {"trailName": "t", "advancedEventSelectors": []},
    *({"trailName": "t", "advancedEventSelectors": [{"fieldSelectors": [{"field": "eventCategory", "equals": [kind]}]}]}
      for kind in ("Management", "Data")),
]


@pytest.mark.parametrize("request_parameters", _SELECTOR_REQUESTS)
@pytest.mark.parametrize("data_trails", [[], ["t"]])
def test_trail_change_goes_to_exactly_one_cloudtrail_detector(request_parameters: Any, data_trails: list[str]) -> None:
    detectors = [BY_ID["cloudtrail-logging-stopped"], BY_ID["cloudtrail-config-changed"]]
    params = {"data_event_trails": data_trails}
    record = event_from_record(event(CLOUDTRAIL, "PutEventSelectors", request_parameters))
    verdicts = [d.id for d in detectors if d.match(record, params) is not None]
    assert len(verdicts) == 1, verdicts


def test_blinding_reasons_name_what_was_lost() -> None:
    lost = trail_blinded("UpdateTrail", {"name": "t", "isMultiRegionTrail": "false",
                                         "cloudWatchLogsLogGroupArn": ""}, frozenset())
    assert lost == ["isMultiRegionTrail set to false", "CloudWatch Logs delivery removed"]
    selectors = {"trailName": "arn:aws:cloudtrail:us-east-1:1:trail/t", "eventSelectors": [{"readWriteType": "All"}]}
    assert trail_blinded("PutEventSelectors", selectors, frozenset({"t"})) == ["data events no longer recorded"]
    assert trail_blinded("PutEventSelectors", selectors, frozenset()) == []


def test_world_open_ports_reads_both_request_shapes() -> None:
    legacy = {"ipPermissions": {"items": [
        {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}},
        {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}},
        {"ipProtocol": "udp", "fromPort": 53, "toPort": 53, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}},
    ]}}
    assert world_open_ports(legacy, frozenset({80, 443})) == ["tcp/22 from 0.0.0.0/0"]
    modify = {"ModifySecurityGroupRulesRequest": {"SecurityGroupRule": {"SecurityGroupRule": {
        "IpProtocol": "-1", "FromPort": -1, "ToPort": -1, "CidrIpv6": "::/0"}}}}
    assert world_open_ports(modify, frozenset({80, 443})) == ["all ports from ::/0"]


def test_world_open_ports_is_bounded_on_hostile_nesting() -> None:
    deep: Any = {"cidrIp": "0.0.0.0/0"}
    for _ in range(5000):
        deep = {"items": [deep]}
    assert world_open_ports(deep, frozenset()) == []  # deeper than the walk goes, and no RecursionError
    wide = {"items": [{"ipProtocol": "tcp", "fromPort": p, "toPort": p, "cidrIp": "0.0.0.0/0"} for p in range(10000)]}
    assert len(world_open_ports(wide, frozenset())) == 5


def test_security_group_alert_says_which_ports_are_open() -> None:
    request = {"groupId": "sg-0a1b2c3d4e5f67890", "ipPermissions": {"items": [
        {"ipProtocol": "tcp", "fromPort": 3389, "toPort": 3389, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}
    _, alerts = run(("security-group-changed",), [event("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", request)])
    assert [(a.severity.label, a.context.get("open_to_world"), a.context.get("groupId")) for a in alerts] == [
        ("high", "tcp/3389 from 0.0.0.0/0", "sg-0a1b2c3d4e5f67890")]


def test_wrapped_ec2_request_fields_reach_the_context() -> None:
    request = {"CreateNatGatewayRequest": {"SubnetId": "subnet-0a1b", "AllocationId": "eipalloc-1"}}
    _, alerts = run(("network-gateway-changed",), [event("ec2.amazonaws.com", "CreateNatGateway", request)])
    assert alerts[0].context["subnetId"] == "subnet-0a1b"
    assert alerts[0].context["call"] == "ec2:CreateNatGateway"


def test_context_leaves_out_documents_and_email() -> None:
    policy = event("iam.amazonaws.com", "PutUserPolicy", {"userName": "bob", "policyName": "p",
                                                          "policyDocument": "%7B%22Statement%22%3A%5B%5D%7D"})
    account = event("organizations.amazonaws.com", "CreateAccount",
                    {"accountName": "sandbox", "email": "owner@example.com"})
    _, alerts = run(("iam-policy-changed", "organizations-changed"), [policy, account])
    text = repr([a.context for a in alerts])
    assert len(alerts) == 2 and "bob" in text and "sandbox" in text
    assert "Statement" not in text and "owner@example.com" not in text


_HOSTILE: list[Any] = [
    None, "x", 7, [None], {"a": None}, {"groupId": {"x": 1}, "ipPermissions": [1, "2", None]},
    {"eventSelectors": [{"includeManagementEvents": [], "readWriteType": None, "dataResources": {"a": 1}}]},
    {"advancedEventSelectors": [{"fieldSelectors": {"field": 1}}, None]},
    {"CreateNatGatewayRequest": {"1": 2, "": 3, "SubnetId": ["x"]}},
    {"enableDnsSupport": {"value": None}, "configurationRecorder": [1], "deliveryChannel": {"name": {"x": 1}}},
    # Events come from JSON now: keys are strings, and a lone surrogate makes the record undecodable.
    {"keyId": "k" * 100_000, "bucketName": "\u0000\u202e\U0010ffff"},
]


@pytest.mark.parametrize("detector_id", CIS_IDS)
def test_hostile_requests_never_raise_and_fields_stay_clipped(detector_id: str) -> None:
    detector = BY_ID[detector_id]
    calls = itertools.product(sorted(detector.events), _HOSTILE)
    events = [event(source, name, params) for (source, name), params in calls]
    engine, alerts = run((detector_id,), events)
    assert engine.stats.detector_errors.get(detector_id, 0) == 0
    assert len(alerts) == 1  # one actor: every successful change folds into one episode
    assert all(len(str(v)) <= 300 for a in alerts for v in a.context.values())
