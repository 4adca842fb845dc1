"""CIS CloudWatch.13: a route table or route created, replaced or deleted, or a subnet (dis)associated."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import change_hit, events
from detectors._common import ACTOR
from monitor.model import Detector, Event, Hit, Severity

CALLS = (
    "CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation",
    "DeleteRouteTable", "DeleteRoute", "DisassociateRouteTable", "AssociateRouteTable",
)
_FIELDS = ("routeTableId", "vpcId", "subnetId", "associationId", "destinationCidrBlock", "destinationIpv6CidrBlock",
           "gatewayId", "natGatewayId", "instanceId", "networkInterfaceId", "vpcPeeringConnectionId",
           "transitGatewayId")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    return change_hit(event, _FIELDS)


DETECTOR = Detector(
    id="route-table-changed",
    title="Route table changed",
    severity=Severity.MEDIUM,
    mitre=("T1562.007", "T1599"),
    runbook=(
        "A route or route table changed, or a subnet's route table association changed (CIS CloudWatch.13; "
        "context: table, destination, target). A default route (0.0.0.0/0) pointed at an internet gateway, "
        "an instance or a peering connection can expose a private subnet or redirect its traffic through a "
        "host the caller controls. Confirm with the network owner; if unexpected, restore the route, and "
        "review the caller's other activity. Changes AWS makes itself (service-linked roles, calls invoked "
        "by an AWS service), refused calls and dry runs are excluded."
    ),
    match=match,
    events=events("ec2.amazonaws.com", CALLS),
    group_by=ACTOR,
)
