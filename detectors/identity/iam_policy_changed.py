"""CIS CloudWatch.4: an IAM policy created, deleted, versioned, attached, detached or written inline.

Covers managed policies (create, delete, versions, default version) and the
attach/detach/put/delete calls on users, groups and roles. Changes AWS makes for
itself (service-linked roles) and refused calls are left out; a change a service made for someone
(`invokedBy` CloudFormation) is reported, naming the service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import context, human_change
from detectors._common import ACTOR
from monitor.model import Detector, Event, Hit, Severity

CALLS = (
    "CreatePolicy", "DeletePolicy", "CreatePolicyVersion", "DeletePolicyVersion", "SetDefaultPolicyVersion",
    "AttachUserPolicy", "DetachUserPolicy", "PutUserPolicy", "DeleteUserPolicy",
    "AttachGroupPolicy", "DetachGroupPolicy", "PutGroupPolicy", "DeleteGroupPolicy",
    "AttachRolePolicy", "DetachRolePolicy", "PutRolePolicy", "DeleteRolePolicy",
)
# Resource fields only: policyDocument is left out (it can be large and is another detector's concern).
_FIELDS = ("policyArn", "policyName", "versionId", "userName", "groupName", "roleName", "setAsDefault")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not human_change(event):
        return None
    return Hit(context=context(event, _FIELDS))


DETECTOR = Detector(
    id="iam-policy-changed",
    title="IAM policy changed",
    severity=Severity.MEDIUM,
    mitre=("T1098", "T1484"),
    runbook=(
        "Someone changed IAM permissions (CIS CloudWatch.4): a managed policy or version was created, deleted "
        "or made default, or a policy was attached, detached or written inline on a user, group or role. "
        "Check the call, the policy and the principal it touched (context) against a change ticket or the "
        "deployment pipeline, and read the new policy version or inline document. If unexpected: detach or "
        "delete the policy, restore the previous default version, and review what the caller did next. "
        "Changes AWS makes itself (service-linked roles, calls invoked by an AWS service such as "
        "CloudFormation) and refused calls are excluded."
    ),
    match=match,
    events=frozenset(("iam.amazonaws.com", name) for name in CALLS),
    group_by=ACTOR,
)
