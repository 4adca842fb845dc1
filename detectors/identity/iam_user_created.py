"""A new IAM user: long-term credentials an intruder can keep after the session that made them is gone.

Medium for a user created by a person or a pipeline; high when root created it (nobody should work as
root), or when a workload did: an EC2 instance's role session (session named after the instance, or
credentials delivered by the instance metadata service) creating users is a stolen instance credential
making itself a way back in. Calls made through a service (CloudFormation) are evaluated like any other
and name the service; refused calls are left to the refused-attempt detectors.

Params: none (allowlist provisioning pipelines with suppressions).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from detectors._changes import changed_by_someone
from detectors._common import ACTOR, call_name
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

_INSTANCE_SESSION: Final = re.compile(r"i-[0-9a-f]{8,17}")


def workload_session(event: Event) -> bool:
    """An EC2 instance's role session: named after the instance, or delivered by the metadata service."""
    ident = event.userIdentity
    if ident.type != "AssumedRole":
        return False
    if ident.sessionContext.ec2RoleDelivery:
        return True
    session = ident.principalId.rpartition(":")[2]
    return _INSTANCE_SESSION.fullmatch(session[:32]) is not None


def _tags(request: dict[str, Any]) -> list[str]:
    tags = request.get("tags")
    keys = [f.nested_text(tag, "key") for tag in tags if type(tag) is dict] if type(tags) is list else []
    return [clip(key, 64) for key in keys[:10] if key]


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not changed_by_someone(event):
        return None
    request = event.request()
    context: dict[str, Any] = {"call": call_name(event), "user": clip(f.nested_text(request, "userName"), 128)}
    path = f.nested_text(request, "path")
    if path and path != "/":
        context["path"] = clip(path, 128)
    boundary = f.nested_text(request, "permissionsBoundary")
    if boundary:
        context["permissions_boundary"] = clip(boundary, 256)
    tags = _tags(request)
    if tags:
        context["tag_keys"] = tags
    if f.is_root(event):
        return Hit(severity=Severity.HIGH, title="IAM user created by root", context=context)
    if workload_session(event):
        context["created_by_instance"] = clip(event.userIdentity.principalId.rpartition(":")[2], 32)
        return Hit(severity=Severity.HIGH, title="IAM user created by an EC2 instance's credentials",
                   context=context)
    return Hit(context=context)


DETECTOR = Detector(
    id="iam-user-created",
    title="IAM user created",
    severity=Severity.MEDIUM,
    mitre=("T1136.003", "T1098"),
    runbook=(
        "A new IAM user was created (context: its name, path, permissions boundary, tag keys). Users carry "
        "long-term passwords and access keys that outlive any session, which is why intruders create them to "
        "keep access. High when root made it, or an EC2 instance's role credentials did (a workload has no "
        "reason to create users: treat the instance's credentials as stolen). Check with the caller or the "
        "pipeline that owns user provisioning. If unexpected: delete the user's access keys and login "
        "profile, detach its policies, delete it, and review what the caller did before and after. "
        "Refused calls and AWS's own activity are not reported; calls through CloudFormation are, naming it."
    ),
    match=match,
    events=frozenset({("iam.amazonaws.com", "CreateUser")}),
    group_by=ACTOR,
    episode_seconds=3600,
)
