"""The IAM practices detectors: policy-document parsing and hostile input."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from detectors import _iam_policy as p
from detectors.overly_permissive_policy import DETECTOR as OVERLY_PERMISSIVE

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
        assert OVERLY_PERMISSIVE.match({"requestParameters": request, "userIdentity": 7}, {}) is None


def test_account_of_reads_arns_and_bare_ids() -> None:
    assert p.account_of("arn:aws:iam::444455556666:root") == "444455556666"
    assert p.account_of("444455556666") == "444455556666"
    assert p.account_of("arn:aws:iam::*:root") == ""
    assert p.account_of("*") == ""
