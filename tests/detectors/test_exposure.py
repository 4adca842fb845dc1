"""resource-made-public and defense-evasion beyond their samples: the policy rules, hostile input, and one
alert per call across the catalog (no call reported by both a new detector and an older one)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from detectors._fields import member
from detectors._resource_policy import bucket_policy_open, open_statements
from monitor.decode import decode_bytes
from monitor.engine import Engine
from monitor.model import Alert, Detector
from monitor.rules.builtin import builtin_detectors
from tests.helpers import api_call, iam_user, latest

NEW = ("resource-made-public", "defense-evasion")
CATALOG = builtin_detectors()
DETECTORS = [d for d in CATALOG if d.id in NEW]


def run(detectors: list[Detector], events: list[dict[str, Any]]) -> tuple[Engine, list[Alert]]:
    engine = Engine(detectors)
    result = engine.process_records(events, "test")
    return engine, [*result.alerts, *engine.flush()]


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow_all(condition: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": "*", **extra}
    if condition is not None:
        statement["Condition"] = condition
    return statement


def test_restricting_conditions() -> None:
    assert open_statements(doc(allow_all()))
    assert not open_statements(doc(allow_all({"StringEquals": {"aws:SourceAccount": "111122223333"}})))
    assert not open_statements(doc(allow_all({"StringEquals": {"AWS:SourceOwner": "111122223333"}})))
    assert not open_statements(doc(allow_all({"StringEquals": {"kms:CallerAccount": "111122223333"}})))
    assert not open_statements(doc(allow_all({"IpAddress": {"aws:SourceIp": ["198.51.100.0/24"]}})))
    # Conditions that let anyone through.
    assert open_statements(doc(allow_all({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}})))
    assert open_statements(doc(allow_all({"StringLike": {"aws:PrincipalOrgID": "*"}})))
    assert open_statements(doc(allow_all({"StringEqualsIfExists": {"aws:SourceArn": "arn:aws:s3:::b"}})))
    assert open_statements(doc(allow_all({"Null": {"aws:SourceArn": "false"}})))
    assert open_statements(doc(allow_all({"Bool": {"aws:SecureTransport": "true"}})))
    # Deny never opens; NotPrincipal with Allow grants everyone but the one named.
    assert not open_statements(doc(allow_all(Effect="Deny")))
    not_principal = {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "*"}
    assert open_statements(doc(not_principal))


def test_bucket_policy_conditions_that_restrict_nothing_do_not_hide_it() -> None:
    """A condition on every address, IfExists or Null restricts nothing: the bucket is still public."""
    assert bucket_policy_open(doc(allow_all()))
    assert bucket_policy_open(doc(allow_all({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}})))
    assert bucket_policy_open(doc(allow_all({"StringEqualsIfExists": {"aws:SourceAccount": "111122223333"}})))
    assert not bucket_policy_open(doc(allow_all({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}})))
    # Keys of other services' policies do not restrict a bucket policy.
    assert bucket_policy_open(doc(allow_all({"StringEquals": {"kms:CallerAccount": "111122223333"}})))
    assert not bucket_policy_open(None)


def test_member_reads_any_casing() -> None:
    assert member({"Workflow": 1}, "workflow") == 1 and member({"workflow": 2}, "Workflow") == 2
    assert member([1], "x") is None and member({"a": 1}, "b") is None


HOSTILE: list[Any] = [None, "", "*", 7, 1.5, True, [], [None, 1, "x"], {"Policy": None},
                      {"attributes": {"Policy": {"Statement": "x"}}, "policy": ["*"], "accessPolicies": 5},
                      {"policy": "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%22*%22"},
                      {"features": [None, {"name": 5, "status": ["DISABLED"]}], "dataSources": {"s3Logs": [1]}},
                      {"actions": {"findingFieldsUpdate": None}, "workflow": "SUPPRESSED", "loggingConfig": []},
                      {"CreateTrafficMirrorSessionRequest": "x", "ModifyEbsDefaultKmsKeyIdRequest": {"KmsKeyId": 5}}]


def nested(levels: int, key: str) -> Any:
    value: Any = {"status": "SUPPRESSED"}
    for _ in range(levels):
        value = {key: [value]}
    return value


@pytest.mark.parametrize("detector", DETECTORS, ids=[d.id for d in DETECTORS])
def test_hostile_fields_never_raise(detector: Detector) -> None:
    events: list[dict[str, Any]] = []
    for n, (source, name) in enumerate(sorted(detector.events)):
        for value in [*HOSTILE, nested(100, "actions"), nested(100, "Statement"), "x" * 300_000]:
            for field in ("requestParameters", "responseElements", "userIdentity"):
                event = api_call(iam_user("mallory"), source, name, n)
                event[field] = value
                events.append(event)
    engine = Engine([detector])
    engine.process(decode_bytes(orjson.dumps({"Records": events}), "test"))
    engine.flush()
    assert engine.stats.events_processed == len(events)
    assert dict(engine.stats.detector_errors) == {}


def test_huge_policy_is_clipped_in_the_alert() -> None:
    actions = [f"sqs:{'A' * 200}{n}" for n in range(200)]  # 41 KB: within what parsing reads
    policy = json.dumps(doc(allow_all(Action=actions, Sid="S" * 5000)))
    event = api_call(iam_user("mallory"), "sqs.amazonaws.com", "SetQueueAttributes", 1,
                     requestParameters={"queueUrl": "q" * 5000, "attributes": {"Policy": policy}})
    _, alerts = run(DETECTORS, [event])
    assert len(alerts) == 1
    context = alerts[0].context
    assert len(context["actions"]) == 10 and all(len(a) <= 128 for a in context["actions"])
    assert len(context["resource"]) <= 512 and len(context["statement"]) <= 128


def one_alert_per_call_events() -> list[tuple[dict[str, Any], str]]:
    """Calls that two detectors could both claim, and the one that reports each."""
    user = iam_user("mallory")
    lam = "lambda.amazonaws.com"
    gd = "guardduty.amazonaws.com"
    return [
        (api_call(user, lam, "AddPermission20150331v2", 1, requestParameters={
            "functionName": "f", "statementId": "s", "action": "lambda:InvokeFunctionUrl", "principal": "*",
            "functionUrlAuthType": "NONE"}), "lambda-backdoor"),
        (api_call(user, lam, "CreateFunctionUrlConfig20211031", 2, requestParameters={
            "functionName": "f", "authType": "NONE"}), "resource-made-public"),
        (api_call(user, gd, "UpdateDetector", 3, requestParameters={
            "detectorId": "d", "enable": False, "features": [{"name": "S3_DATA_EVENTS", "status": "DISABLED"}]}),
         "security-service-disabled"),
        (api_call(user, gd, "UpdateDetector", 4, requestParameters={
            "detectorId": "d", "features": [{"name": "S3_DATA_EVENTS", "status": "DISABLED"}]}), "defense-evasion"),
        (api_call(user, "bedrock.amazonaws.com", "DeleteModelInvocationLoggingConfiguration", 5, requestParameters={}),
         "logging-deleted"),
        (api_call(user, "bedrock.amazonaws.com", "PutModelInvocationLoggingConfiguration", 6, requestParameters={
            "loggingConfig": {"textDataDeliveryEnabled": False}}), "defense-evasion"),
        (api_call(user, "s3.amazonaws.com", "PutBucketPolicy", 7, requestParameters={
            "bucketName": "b", "bucketPolicy": doc(allow_all(Action="s3:GetObject"))}), "s3-bucket-made-public"),
    ]


# Detectors about the caller rather than the call (MFA, address, new region...) may speak too.
_ABOUT_THE_CALLER = frozenset({"non-mfa-sensitive-call", "new-region-for-principal", "new-source-ip-for-principal",
                               "new-user-agent-for-principal", "s3-bucket-policy-changed"})


@pytest.mark.parametrize("index", range(len(one_alert_per_call_events())))
def test_each_call_is_reported_by_one_detector(index: int) -> None:
    event, owner = one_alert_per_call_events()[index]
    _, alerts = run(CATALOG, [event])
    fired = {a.detector for a in latest(alerts).values()} - _ABOUT_THE_CALLER
    assert fired == {owner}
