"""Refused attempts and secret reads counted by secret: refusal codes, the attempts table, hostile input,
several values from one event, and the CloudFormation and AWS-own rules."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from detectors._refusals import CAPACITY, PERMISSION, QUOTA, attempted, refusal
from detectors.data.secrets_bulk_read import MAX_READS_PER_CALL, secrets_read
from detectors.identity.sensitive_action_refused import ATTEMPTS
from monitor.decode import decode_bytes
from monitor.engine import Engine
from monitor.model import Alert, Severity
from monitor.rules.builtin import builtin_detectors
from tests.helpers import api_call, iam_user, latest, of, typed

REFUSED_DETECTORS = ("sensitive-action-refused", "secrets-bulk-read", "secrets-read-by-filter", "ec2-user-data-read")
ROLE = {"type": "AssumedRole", "principalId": "AROAEXAMPLEAPP:session", "accountId": "111122223333",
        "arn": "arn:aws:sts::111122223333:assumed-role/app-role/session", "accessKeyId": "ASIAEXAMPLEAPPROLE01",
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/app-role",
                                             "userName": "app-role", "accountId": "111122223333"}}}


def run(records: list[dict[str, Any]], *ids: str) -> list[Alert]:
    engine = Engine([d for d in builtin_detectors() if d.id in ids])
    result = engine.process(decode_bytes(b"\n".join(orjson.dumps(r) for r in records), "test.jsonl"))
    assert dict(engine.stats.detector_errors) == {}
    return [*result.alerts, *engine.flush()]


@pytest.mark.parametrize(("code", "launch", "kind"), [
    ("AccessDenied", False, PERMISSION), ("AccessDeniedException", False, PERMISSION),
    ("Client.UnauthorizedOperation", False, PERMISSION), ("UnauthorizedOperation", False, PERMISSION),
    ("UnauthorizedAccess", False, PERMISSION), ("Client.UnauthorizedAccess", False, PERMISSION),
    ("Client.VcpuLimitExceeded", True, QUOTA), ("VcpuLimitExceeded", True, QUOTA),
    ("Client.InstanceLimitExceeded", True, QUOTA), ("Server.InsufficientInstanceCapacity", True, CAPACITY),
    ("Client.VcpuLimitExceeded", False, None), ("Client.DryRunOperation", True, None),
    ("NoSuchEntity", False, None), ("ThrottlingException", False, None), ("", False, None), (None, False, None),
])
def test_which_errors_are_refusals(code: str | None, launch: bool, kind: str | None) -> None:
    assert refusal(code, launch=launch) == kind


def test_an_attempt_is_titled_as_one() -> None:
    assert attempted("S3 bucket made public") == "Attempted: S3 bucket made public (refused)"
    assert attempted("x", QUOTA) == "Attempted: x (refused for quota)"


def test_the_issue_s_attempts_are_in_the_table() -> None:
    for call in [("organizations.amazonaws.com", "LeaveOrganization"), ("cloudtrail.amazonaws.com", "StopLogging"),
                 ("cloudtrail.amazonaws.com", "DeleteTrail"), ("iam.amazonaws.com", "CreateAccessKey"),
                 ("s3.amazonaws.com", "PutBucketPolicy"), ("ec2.amazonaws.com", "RunInstances"),
                 ("guardduty.amazonaws.com", "DeleteDetector"), ("securityhub.amazonaws.com", "DisableSecurityHub")]:
        assert call in ATTEMPTS, call
    # An attempt is never reported above what the success is: medium at most.
    assert max(attempt.severity for attempt in ATTEMPTS.values()) == Severity.MEDIUM


HOSTILE: list[object] = [None, 0, True, "x", [], [None], {"": None}, {"Statement": "*"}, "%7B", "[" * 3000,
                         ["a"] * 5000]


@pytest.mark.parametrize("detector_id", REFUSED_DETECTORS)
def test_match_never_raises_on_hostile_fields(detector_id: str) -> None:
    detector = next(d for d in builtin_detectors() if d.id == detector_id)
    for source, name in sorted(detector.events):
        for code in ("AccessDenied", "Client.VcpuLimitExceeded", None):
            for value in HOSTILE:
                for field in ("requestParameters", "userIdentity", "errorMessage"):
                    detector.match(typed({"eventSource": source, "eventName": name, "errorCode": code,
                                          "userIdentity": {"type": "IAMUser", "userName": "a"}, field: value}),
                                   detector.params)
                request = {key: value for key in (
                    "name", "names", "secretId", "secretIdList", "filters", "Filters", "bucketPolicy", "policyArn",
                    "userName", "instanceType", "enable", "status", "withDecryption", "eventSelectors",
                    "PublicAccessBlockConfiguration", "attribute", "instanceId")}
                detector.match(typed({"eventSource": source, "eventName": name, "errorCode": code,
                                      "userIdentity": {"type": "IAMUser", "userName": "a"},
                                      "requestParameters": request}), detector.params)


def test_one_call_counts_at_most_a_bounded_number_of_secrets_each_once() -> None:
    names = [f"/p/{i}" for i in range(5000)]
    assert len(secrets_read({"names": names, "withDecryption": True})) == MAX_READS_PER_CALL
    assert secrets_read({"names": ["/a", "/a", 7, None, "", "/b"]}) == ["/a", "/b"]
    assert secrets_read({"secretIdList": []}) == []


def test_one_event_reading_41_secrets_is_one_listed_event_and_41_reads() -> None:
    call = api_call(ROLE, "ssm.amazonaws.com", "GetParameters", readOnly=True,
                    requestParameters={"names": [f"/prod/p{i}" for i in range(41)], "withDecryption": True})
    alerts = latest(run([call], "secrets-bulk-read"))
    (alert,) = alerts.values()
    assert alert.count == 41
    assert alert.event_ids == [call["eventID"]]
    assert alert.context["distinct_count"] == 20


def test_refused_reads_and_reads_count_together_in_one_burst() -> None:
    records = [api_call(iam_user("mallory"), "secretsmanager.amazonaws.com", "GetSecretValue", i * 10,
                        readOnly=True, requestParameters={"secretId": f"prod/s{i}"},
                        **({"errorCode": "AccessDeniedException", "errorMessage": "not authorized"} if i % 2 else {}))
               for i in range(20)]
    alerts = latest(run(records, "secrets-bulk-read"))
    assert len(alerts) == 1
    # The read completing the burst (the 20th, refused) titles it; the event ids show the others succeeded.
    assert next(iter(alerts.values())).title == "Attempted: burst of secret reads (refused)"


@pytest.mark.parametrize(("source", "name", "request_parameters", "code"), [
    ("cloudtrail.amazonaws.com", "StopLogging", {"name": "org-trail"}, "AccessDenied"),
    ("organizations.amazonaws.com", "LeaveOrganization", None, "AccessDeniedException"),
    ("iam.amazonaws.com", "CreateAccessKey", {"userName": "admin"}, "AccessDenied"),
    ("ec2.amazonaws.com", "RunInstances", {"instanceType": "p5.48xlarge"}, "Client.VcpuLimitExceeded"),
])
def test_a_refusal_through_cloudformation_alerts_and_aws_s_own_stays_quiet(
        source: str, name: str, request_parameters: Any, code: str) -> None:
    stack = {**ROLE, "invokedBy": "cloudformation.amazonaws.com"}
    through = api_call(stack, source, name, ip="cloudformation.amazonaws.com", errorCode=code,
                       errorMessage="not authorized", requestParameters=request_parameters)
    (alert,) = run([through], "sensitive-action-refused")
    assert alert.title.startswith("Attempted: ")
    assert alert.context["made_through"] == "cloudformation.amazonaws.com"
    own = api_call({"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"}, source, name,
                   ip="cloudformation.amazonaws.com", errorCode=code, requestParameters=request_parameters)
    linked = api_call({**ROLE, "arn": "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForConfig/s",
                       "sessionContext": {"sessionIssuer": {
                           "type": "Role", "userName": "AWSServiceRoleForConfig", "accountId": "111122223333",
                           "arn": "arn:aws:iam::111122223333:role/aws-service-role/config.amazonaws.com/"
                                  "AWSServiceRoleForConfig"}}},
                      source, name, errorCode=code, requestParameters=request_parameters)
    assert of(run([own, linked], "sensitive-action-refused"), "sensitive-action-refused") == []


def test_secret_names_are_read_in_either_casing() -> None:
    assert secrets_read({"SecretIdList": ["a", "b"]}) == ["a", "b"]
    assert secrets_read({"secretIdList": ["a"], "SecretIdList": ["b"]}) == ["a"]


def test_an_administrator_policy_attempt_is_medium_with_or_without_params() -> None:
    from detectors.identity.sensitive_action_refused import match
    attach = typed(api_call(iam_user("mallory"), "iam.amazonaws.com", "AttachUserPolicy", errorCode="AccessDenied",
                            requestParameters={"userName": "mallory",
                                               "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}))
    for params in ({}, {"admin_policy_arns": ["arn:aws:iam::aws:policy/Administrator*"]}):
        hit = match(attach, params)
        assert hit is not None and hit.severity == Severity.MEDIUM
    hit = match(attach, {"admin_policy_arns": ["arn:aws:iam::111122223333:policy/break-glass"]})
    assert hit is not None and hit.severity == Severity.LOW
