"""The IAM practices detectors: policy-document parsing and hostile input."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from detectors import _iam_policy as p
from detectors.identity.overly_permissive_policy import DETECTOR as OVERLY_PERMISSIVE
from tests.helpers import typed

ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@pytest.mark.parametrize("value", [
    ADMIN, json.dumps(ADMIN), quote(json.dumps(ADMIN)), quote(json.dumps(ADMIN)).replace("%20", "+"),
    json.dumps(json.dumps(ADMIN)),
])
def test_every_recorded_form_of_a_document_parses(value: object) -> None:
    assert p.parse_document(value) == ADMIN


@pytest.mark.parametrize("value", [None, 5, [], "", "{", "%7B%22a", "[1, 2]", "null", '"x"', "[" * 5000 + "]" * 5000,
                                   "x" * 300_000])
def test_unreadable_documents_are_none(value: object) -> None:
    assert p.parse_document(value) is None


def test_wide_grants_reads_string_or_list_fields_and_ignores_deny() -> None:
    doc: dict[str, Any] = {"Statement": [
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": ["ec2:Describe*", "ec2:*"], "Resource": ["arn:aws:s3:::b", "*"]},
        {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::only-this"},
        {"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
    ]}
    grants = p.wide_grants(doc)
    assert [(g.actions, g.not_action, g.conditional) for g in grants] == [
        (("ec2:*",), False, False), (("iam:*",), True, True)]
    assert grants[1].full_admin and not grants[0].full_admin


@pytest.mark.parametrize("statement", [None, 1, "Allow", [], {"Effect": None}, {"Effect": "Allow", "Action": 3}])
def test_hostile_statements_never_raise(statement: object) -> None:
    assert p.wide_grants({"Statement": statement}) == []


def test_overly_permissive_policy_match_never_raises_on_wrong_types() -> None:
    requests: list[object] = [None, "x", [], {"policyDocument": 12}, {"policyDocument": {"Statement": "*"}}]
    for request in requests:
        assert OVERLY_PERMISSIVE.match(typed({"requestParameters": request, "userIdentity": 7}), {}) is None


def test_account_of_reads_arns_and_bare_ids() -> None:
    assert p.account_of("arn:aws:iam::444455556666:root") == "444455556666"
    assert p.account_of("444455556666") == "444455556666"
    assert p.account_of("arn:aws:iam::*:root") == ""
    assert p.account_of("*") == ""


GROUP = [
    "overly-permissive-policy", "admin-policy-attached", "role-trust-policy-changed", "oidc-provider-changed",
    "login-profile-changed", "mfa-device-deactivated", "password-policy-weakened", "security-service-disabled",
    "s3-bucket-made-public", "secrets-bulk-read", "expensive-instance-launched", "scanner-user-agent",
    "iam-user-created", "console-session-from-keys", "session-token-unusual-tool",
]
HOSTILE: list[object] = [None, 0, True, "x", [], [None], {"": None}, {"Statement": "*"}, "%7B", "[" * 3000]


def _detectors() -> dict[str, Any]:
    from monitor.rules.builtin import builtin_detectors
    return {d.id: d for d in builtin_detectors()}


def test_the_group_is_registered_and_indexed_by_event_name() -> None:
    found = _detectors()
    for detector_id in GROUP:
        detector = found[detector_id]
        assert not detector.all_events and detector.events, detector_id
    assert 30 <= len(found["scanner-user-agent"].events) <= 60


@pytest.mark.parametrize("detector_id", GROUP)
def test_match_never_raises_on_hostile_fields(detector_id: str) -> None:
    detector = _detectors()[detector_id]
    for source, name in sorted(detector.events):
        for value in HOSTILE:
            for field in ("requestParameters", "responseElements", "userIdentity", "userAgent", "errorCode"):
                event = {"eventSource": source, "eventName": name, "userAgent": "pacu", field: value}
                detector.match(typed(event), detector.params)
            nested = {"eventSource": source, "eventName": name, "userIdentity": {"type": "IAMUser", "userName": "a"},
                      "requestParameters": {key: value for key in (
                          "policyDocument", "bucketPolicy", "policyArn", "userName", "instanceType", "instancesSet",
                          "PublicAccessBlockConfiguration", "x-amz-acl", "enable", "status", "withDecryption",
                          "minimumPasswordLength", "serialNumber", "AccessControlPolicy", "assumeRolePolicyDocument",
                          "roleName", "path", "tags", "permissionsBoundary", "durationSeconds")}}
            detector.match(typed(nested), detector.params)


def test_trust_risks_name_each_danger() -> None:
    from detectors.identity.role_trust_policy_changed import risks
    doc = {"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:root", "444455556666"]}},
        {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/x"},
         "Condition": {"StringEquals": {"x:aud": "sts.amazonaws.com"}}},
        {"Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"},
         "Condition": {"StringLike": {"cognito-identity.amazonaws.com:sub": "abc"}}},
    ]}
    assert risks(doc, "111122223333", frozenset()) == [
        "account 444455556666", "federated arn:aws:iam::111122223333:oidc-provider/x without a sub condition"]
    assert risks(doc, "111122223333", frozenset({"444455556666"})) == [
        "federated arn:aws:iam::111122223333:oidc-provider/x without a sub condition"]


@pytest.mark.parametrize(("instance_type", "expensive"), [
    ("p5.48xlarge", True), ("g4dn.xlarge", True), ("trn1.32xlarge", True), ("inf2.xlarge", True),
    ("dl1.24xlarge", True),
    ("x2idn.16xlarge", True), ("u-12tb1.112xlarge", True), ("m7i.metal-24xl", True), ("c6i.32xlarge", True),
    ("m5.24xlarge", True), ("t3.micro", False), ("m5.16xlarge", False), ("c5.9xlarge", False), ("", False),
    ("m5.99999999999xlarge", False),
])
def test_expensive_instance_types(instance_type: str, expensive: bool) -> None:
    from detectors.compute.expensive_instance_launched import DETECTOR, is_expensive
    assert is_expensive(instance_type, DETECTOR.params) is expensive


def test_bucket_policy_restricting_conditions_are_case_insensitive() -> None:
    from detectors.data.s3_bucket_made_public import public_reason
    statement = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*",
                 "Condition": {"StringEquals": {"AWS:PrincipalOrgID": "o-abc"}}}
    assert public_reason("PutBucketPolicy", {"bucketPolicy": {"Statement": [statement]}}) is None
    statement["Condition"] = {"Bool": {"aws:SecureTransport": "true"}}
    assert public_reason("PutBucketPolicy", {"bucketPolicy": {"Statement": [statement]}}) is not None


def test_the_tools_table_names_the_issue_tools_with_their_kind() -> None:
    from detectors._tools import AUDIT, OFFENSIVE, TOOLS
    kinds = {entry.tool: entry.kind for entry in TOOLS}
    for tool in ("trufflehog", "pacu", "cloudfox", "endgame", "enumerate-iam", "weirdaal", "stratus-red-team"):
        assert kinds[tool] == OFFENSIVE, tool
    for tool in ("prowler", "scoutsuite", "cloudsplaining"):
        assert kinds[tool] == AUDIT, tool
    assert all(entry.pattern == entry.pattern.lower() and entry.kind in (OFFENSIVE, AUDIT) for entry in TOOLS)


@pytest.mark.parametrize(("user_agent", "params", "verdict"), [
    ("python-requests/2.31 pacu/1.5", {}, ("pacu", "high")),
    ("Boto3/1.34 APN_1826889", {}, ("prowler", "medium")),
    ("Boto3/1.34 APN_1826889 os/linux#6.5.0-kali3-amd64", {}, ("kali-linux", "high")),
    ("evil-enum/0.1", {"user_agents": ["Evil-Enum", 5, None]}, ("evil-enum", "high")),
    ("Boto3/1.34 APN_1826889", {"allowed_tools": ["PROWLER"]}, None),
    ("Boto3/1.34 APN_1826889", {"allowed_tools": "prowler"}, None),
    ("Boto3/1.34 pacu", {"user_agents": "not-a-list"}, ("pacu", "high")),
    ("alkaline-backup/1.0", {}, None),
])
def test_scanner_user_agent_verdicts(user_agent: str, params: dict[str, Any], verdict: tuple[str, str] | None) -> None:
    from detectors.identity.scanner_user_agent import DETECTOR
    event = typed({"eventSource": "iam.amazonaws.com", "eventName": "ListUsers", "userAgent": user_agent,
                   "sourceIPAddress": "203.0.113.10", "userIdentity": {"type": "IAMUser", "userName": "a"}})
    hit = DETECTOR.match(event, {**DETECTOR.params, **params})
    if verdict is None:
        assert hit is None
        return
    assert hit is not None and not isinstance(hit, list | tuple)
    assert (hit.context["tool"], (hit.severity or DETECTOR.severity).label) == verdict
