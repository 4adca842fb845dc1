"""An administrator-level managed policy attached to an IAM user, group or role.

Params:
- `admin_policy_arns` (list of ARN globs): the policies judged administrator-level; default AWS's
  AdministratorAccess and IAMFullAccess. Add account policies that overly-permissive-policy reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from detectors._common import ACTOR, aws_own, call_name, targets
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

DEFAULT_ADMIN_POLICIES = (
    "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws:iam::aws:policy/IAMFullAccess",
)
_TARGETS = {"AttachUserPolicy": "userName", "AttachGroupPolicy": "groupName", "AttachRolePolicy": "roleName"}
_TARGET_KINDS = {"userName": "user", "groupName": "group", "roleName": "role"}


def _patterns(params: Mapping[str, Any]) -> list[str]:
    value = params.get("admin_policy_arns", DEFAULT_ADMIN_POLICIES)
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, str)]
    return list(DEFAULT_ADMIN_POLICIES)


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode or aws_own(event):
        return None
    request = event.request()
    arn = f.nested_text(request, "policyArn").strip()
    if not arn or not any(fnmatchcase(arn, pattern) for pattern in _patterns(params)):
        return None
    name = event.eventName
    target_key = _TARGETS.get(name, "")
    target = f.nested_text(request, target_key) if target_key else ""
    context = {"call": call_name(event), "policy_arn": clip(arn, 256), target_key or "target": clip(target, 256),
               **targets(("policy", arn), (_TARGET_KINDS.get(target_key, "target"), target))}
    if name == "AttachUserPolicy":
        # Users hold long-term credentials: an admin user is the classic persistence step.
        return Hit(severity=Severity.CRITICAL, title="Administrator policy attached to an IAM user", context=context)
    return Hit(context=context)


DETECTOR = Detector(
    id="admin-policy-attached",
    title="Administrator policy attached",
    severity=Severity.HIGH,
    mitre=("T1098", "T1098.003"),
    runbook=(
        "AdministratorAccess, IAMFullAccess or another policy configured as administrator-level was attached to "
        "a user (critical), group or role (high). Check who attached it, to what (context), and whether a change "
        "ticket explains it. If not expected: detach the policy, look at what the holder did since (new access "
        "keys, users, roles, trust changes) and at how the caller got the right to attach policies. Service-linked "
        "roles' own attachments are excluded; one a service such as CloudFormation made for someone names the "
        "service (made_through)."
    ),
    match=match,
    events=frozenset(("iam.amazonaws.com", name) for name in _TARGETS),
    group_by=ACTOR,
    episode_seconds=3600,
    params={"admin_policy_arns": list(DEFAULT_ADMIN_POLICIES)},
)
