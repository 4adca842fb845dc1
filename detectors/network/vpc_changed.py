"""CIS CloudWatch.14: a VPC created, deleted or its attributes modified; VPC peering created, accepted,
rejected or deleted; ClassicLink enabled, disabled, attached or detached.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import context, events, flat, human_change, scalar
from detectors._common import ACTOR
from monitor.model import Detector, Event, Hit, Severity
from monitor.model.alert import clip

CALLS = (
    "CreateVpc", "DeleteVpc", "ModifyVpcAttribute",
    "AcceptVpcPeeringConnection", "CreateVpcPeeringConnection", "DeleteVpcPeeringConnection",
    "RejectVpcPeeringConnection",
    "AttachClassicLinkVpc", "DetachClassicLinkVpc", "DisableVpcClassicLink", "EnableVpcClassicLink",
)
_FIELDS = ("vpcId", "cidrBlock", "vpcPeeringConnectionId", "peerVpcId", "peerOwnerId", "peerRegion", "instanceId")
# ModifyVpcAttribute carries one of these as {"value": bool}.
_ATTRIBUTES = ("enableDnsSupport", "enableDnsHostnames", "enableNetworkAddressUsageMetrics")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not human_change(event):
        return None
    request = event.request()
    found = context(event, _FIELDS, flat(request))
    for name in _ATTRIBUTES:
        setting = request.get(name)
        if type(setting) is dict:
            found["attribute"] = clip(f"{name}={scalar(setting.get('value')) or '?'}", 80)
            break
    return Hit(context=found)


DETECTOR = Detector(
    id="vpc-changed",
    title="VPC changed",
    severity=Severity.MEDIUM,
    mitre=("T1562.007", "T1599"),
    runbook=(
        "A VPC was created, deleted or had an attribute changed, a peering connection was requested, "
        "accepted, rejected or deleted, or ClassicLink changed (CIS CloudWatch.14; context: VPC, peer VPC and "
        "owner account, attribute). A peering with an account outside the organization joins its network to "
        "yours. Confirm with the network owner; if unexpected, delete the peering connection or restore the "
        "attribute, check route tables that point at the peering, and review the caller's other activity. "
        "Changes AWS makes itself (service-linked roles, calls invoked by an AWS service), refused calls and "
        "dry runs are excluded."
    ),
    match=match,
    events=events("ec2.amazonaws.com", CALLS),
    group_by=ACTOR,
)
