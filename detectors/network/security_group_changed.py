"""CIS CloudWatch.10: a security group created, deleted or its rules changed.

High when an ingress rule opens a port other than the allowed ones to the whole
internet (0.0.0.0/0 or ::/0); ICMP is not counted as a port. Revoke calls and
egress rules are never high (the default egress rule is already open to the world).
ModifySecurityGroupRules does not say whether a rule is ingress or egress, so a
world CIDR in it is treated as ingress.

Params:
- `world_open_allowed_ports` (list of ints, default [80, 443]): ports that may be opened to the world
  without raising the severity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import context, events, flat, human_change
from detectors._common import ACTOR
from detectors.network._open_ports import port_set, world_open_ports
from monitor.model import Detector, Event, Hit, Severity
from monitor.model.alert import clip

CALLS = (
    "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress", "CreateSecurityGroup", "DeleteSecurityGroup", "ModifySecurityGroupRules",
)
_OPENING = frozenset({"AuthorizeSecurityGroupIngress", "ModifySecurityGroupRules"})
_DEFAULT_PORTS = (80, 443)
_FIELDS = ("groupId", "groupName", "vpcId", "cidrIp", "ipProtocol", "fromPort", "toPort")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not human_change(event):
        return None
    request = event.request()
    found = context(event, _FIELDS, flat(request))
    if event.eventName in _OPENING:
        allowed = port_set(params.get("world_open_allowed_ports"), _DEFAULT_PORTS)
        opened = world_open_ports(request, allowed)
        if opened:
            found["open_to_world"] = clip(", ".join(opened), 300)
            return Hit(severity=Severity.HIGH, title="Security group opened to the internet", context=found)
    return Hit(context=found)


DETECTOR = Detector(
    id="security-group-changed",
    title="Security group changed",
    severity=Severity.MEDIUM,
    mitre=("T1562.007",),
    runbook=(
        "A security group was created, deleted or had rules added, removed or modified (CIS CloudWatch.10; "
        "context: group, and the ports opened to the world when high). A port such as SSH, RDP or a database "
        "opened to 0.0.0.0/0 or ::/0 exposes every instance in the group. Confirm with the group's owner; "
        "if unexpected, revoke the rule, check the group's instances and their logs for access from the "
        "internet since the change, and review the caller's other activity. Changes AWS makes itself "
        "(service-linked roles, load balancers and other services creating their groups, calls invoked by "
        "an AWS service), refused calls and dry runs are excluded."
    ),
    match=match,
    events=events("ec2.amazonaws.com", CALLS),
    group_by=ACTOR,
    params={"world_open_allowed_ports": list(_DEFAULT_PORTS)},
)
