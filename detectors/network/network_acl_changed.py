"""CIS CloudWatch.11: a network ACL created, deleted, its entries changed or its subnet association replaced.

Always medium: NACLs are stateless, so entries allowing 0.0.0.0/0 (return traffic on
ephemeral ports, the default NACL's allow-all) are routine and would make a
"world-open" severity noisy; the entry is in the context for triage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import change_hit, events
from detectors._common import ACTOR
from monitor.model import Detector, Event, Hit, Severity

CALLS = (
    "CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl", "DeleteNetworkAclEntry",
    "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation",
)
_FIELDS = ("networkAclId", "vpcId", "ruleNumber", "egress", "ruleAction", "aclProtocol", "protocol", "cidrBlock",
           "ipv6CidrBlock", "associationId")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    return change_hit(event, _FIELDS)


DETECTOR = Detector(
    id="network-acl-changed",
    title="Network ACL changed",
    severity=Severity.MEDIUM,
    mitre=("T1562.007",),
    runbook=(
        "A network ACL or one of its entries was created, deleted or replaced, or a subnet moved to another "
        "ACL (CIS CloudWatch.11; context: ACL, rule number, direction, action, CIDR). Check the change "
        "against the network baseline: a new allow rule for a wide CIDR ahead of a deny, or a subnet moved "
        "to a permissive ACL, opens the subnet. If unexpected, restore the entry or association and review "
        "the caller's other activity. Changes AWS makes itself (service-linked roles, calls invoked by an "
        "AWS service), refused calls and dry runs are excluded."
    ),
    match=match,
    events=events("ec2.amazonaws.com", CALLS),
    group_by=ACTOR,
)
