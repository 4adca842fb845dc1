"""A policy document that allows "*" or "<service>:*" on every resource, created or put inline.

Covers CreatePolicy, CreatePolicyVersion and Put{User,Role,Group}Policy. The
document in requestParameters.policyDocument is parsed whether URL-encoded,
plain JSON or already an object; an unreadable document is no verdict (None).
An Allow with NotAction on "*" counts as full access; Deny statements never
count. Statements with a Condition still count, and the context says so.

Params: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import ACTOR, aws_own, call_name
from detectors._iam_policy import parse_document, wide_grants
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

_CALLS = ("CreatePolicy", "CreatePolicyVersion", "PutUserPolicy", "PutRolePolicy", "PutGroupPolicy")
# Where each call names what it changed.
_TARGET_KEYS = ("policyArn", "policyName", "userName", "roleName", "groupName")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode or aws_own(event):
        return None
    request = event.request()
    grants = wide_grants(parse_document(request.get("policyDocument")))
    if not grants:
        return None
    actions = sorted({a for g in grants for a in g.actions})
    full = any(g.full_admin for g in grants)
    unconditional_full = any(g.full_admin and not g.conditional for g in grants)
    context: dict[str, Any] = {"call": call_name(event)}
    for key in _TARGET_KEYS:
        value = f.nested_text(request, key)
        if value:
            context[key] = clip(value, 256)
    context["actions"] = clip(", ".join(actions) or "*", 300)
    context["not_action"] = any(g.not_action for g in grants)
    context["conditional"] = all(g.conditional for g in grants)
    if unconditional_full:
        return Hit(severity=Severity.CRITICAL, title="Policy grants full access on every resource", context=context)
    title = "Policy grants full access under a condition" if full else "Policy grants a whole service on every resource"
    return Hit(context=context, title=title)


DETECTOR = Detector(
    id="overly-permissive-policy",
    title="Overly permissive IAM policy",
    severity=Severity.HIGH,
    mitre=("T1098", "T1098.003"),
    runbook=(
        "A policy was created or put inline that allows every action (\"*\" or NotAction) or every action of "
        "a service (\"s3:*\") on every resource. Critical when it grants full access with no condition. Check "
        "who made it (principal, source IP), which user, role or group holds it (context) and whether a change "
        "ticket explains it. If not expected: detach or delete the policy (or set the previous version as "
        "default), review what the holders did since, and replace it with least-privilege actions and "
        "resources. AWS's own activity is excluded; a change a service such as CloudFormation made for someone "
        "names the service (made_through)."
    ),
    match=match,
    events=frozenset(("iam.amazonaws.com", name) for name in _CALLS),
    group_by=ACTOR,
    episode_seconds=3600,
)
