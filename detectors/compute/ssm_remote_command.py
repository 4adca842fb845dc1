"""SSM SendCommand or StartSession by a person, or one command sent to many instances at once.

- SendCommand / StartSession by a human principal (IAM user, root, or a role session whose role name
  matches `human_roles`): medium.
- SendCommand reaching `many_instances` or more instances (instance id list, or Targets: a tag,
  resource-group or wildcard target counts as many, its reach is unknown): high, whoever sent it.

Params: `human_roles` (role-name globs, default ["AWSReservedSSO_*"], SSO permission sets),
`many_instances` (default 10).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import changed_by_someone
from detectors._common import ACTOR, call_name
from detectors._fields import as_list, matches_any, param, positive_int, short_list, strings
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

SSM = "ssm.amazonaws.com"
_INSTANCE_TARGET_KEYS = frozenset({"instanceids", "instanceid"})


def is_human(event: Event, human_roles: Any) -> bool:
    """An IAM user or root, or a role session whose role name matches `human_roles` (SSO permission sets)."""
    kind = event.userIdentity.type
    if kind in f.HUMAN_IDENTITY_TYPES:
        return True
    role = f.user_name(event) if kind == "AssumedRole" else ""
    return bool(role) and matches_any(role, human_roles)


def _targets(req: dict[str, Any]) -> tuple[list[str], bool]:
    """(instance ids named, whether some target's reach is open-ended: tags, resource groups, "*")."""
    instances = strings(req.get("instanceIds"))
    open_ended = False
    for target in as_list(req.get("targets")):
        if type(target) is not dict:
            continue
        key = target.get("key") if type(target.get("key")) is str else target.get("Key")
        values = strings(target.get("values", target.get("Values")))
        if type(key) is str and key.lower() in _INSTANCE_TARGET_KEYS and "*" not in values:
            instances.extend(values)
        elif type(key) is str and values:
            open_ended = True
    return instances, open_ended


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not changed_by_someone(event):
        return None
    req = event.request()
    human = is_human(event, param(params, "human_roles", ["AWSReservedSSO_*"]))
    if event.eventName == "StartSession":
        if not human:
            return None
        return Hit(title="Interactive SSM session started by a person",
                   context={"call": call_name(event), "target": clip(f.nested_text(req, "target"), 128),
                            "document": clip(f.nested_text(req, "documentName"), 128)})
    instances, open_ended = _targets(req)
    many = positive_int(params.get("many_instances"), 10)
    context = {"call": call_name(event), "document": clip(f.nested_text(req, "documentName"), 128),
               "instance_count": len(instances), "instances": short_list(instances, limit=64),
               "tag_or_group_target": open_ended}
    if open_ended or len(instances) >= many:
        return Hit(severity=Severity.HIGH, title="SSM command sent to many instances at once", context=context)
    if human:
        return Hit(title="SSM command sent by a person", context=context)
    return None


DETECTOR = Detector(
    id="ssm-remote-command",
    title="Remote command through SSM",
    severity=Severity.MEDIUM,
    mitre=("T1651", "T1021.007"),
    runbook=(
        "Someone ran commands on instances through Systems Manager: a person using Run Command or Session "
        "Manager, or one command fanned out to many instances, the way an intruder with SSM rights runs code "
        "everywhere at once. Check the document and instances in the context, then the command's output and "
        "parameters in SSM's command history (CloudTrail hides the parameters). If unexpected: cancel the "
        "command (CancelCommand), terminate sessions (TerminateSession), revoke the caller's credentials and "
        "inspect the instances. Refused calls, AWS services and role sessions not listed in human_roles "
        "(automation) sending to fewer than many_instances instances are not reported."
    ),
    match=match,
    events=frozenset({(SSM, "SendCommand"), (SSM, "StartSession")}),
    group_by=ACTOR,
    params={"human_roles": ["AWSReservedSSO_*"], "many_instances": 10},
)
