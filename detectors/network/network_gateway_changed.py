"""CIS CloudWatch.12: a customer, internet, egress-only, NAT, VPN or transit gateway created, deleted,
attached or detached.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import change_hit, events
from detectors._common import ACTOR
from monitor.model import Detector, Event, Hit, Severity

CALLS = (
    "CreateCustomerGateway", "DeleteCustomerGateway",
    "CreateInternetGateway", "DeleteInternetGateway", "AttachInternetGateway", "DetachInternetGateway",
    "CreateEgressOnlyInternetGateway", "DeleteEgressOnlyInternetGateway",
    "CreateNatGateway", "DeleteNatGateway",
    "CreateVpnGateway", "DeleteVpnGateway", "AttachVpnGateway", "DetachVpnGateway",
    "CreateTransitGateway", "DeleteTransitGateway",
    "CreateTransitGatewayVpcAttachment", "DeleteTransitGatewayVpcAttachment",
    "AcceptTransitGatewayVpcAttachment", "RejectTransitGatewayVpcAttachment",
)
_FIELDS = ("internetGatewayId", "egressOnlyInternetGatewayId", "natGatewayId", "vpnGatewayId", "customerGatewayId",
           "transitGatewayId", "transitGatewayAttachmentId", "vpcId", "subnetId", "ipAddress", "bgpAsn",
           "connectivityType")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    return change_hit(event, _FIELDS)


DETECTOR = Detector(
    id="network-gateway-changed",
    title="Network gateway changed",
    severity=Severity.MEDIUM,
    mitre=("T1562.007", "T1599"),
    runbook=(
        "A network gateway was created, deleted, attached or detached (CIS CloudWatch.12; context: gateway, "
        "VPC, subnet, peer address). An internet gateway attached to a private VPC, or a customer/VPN/transit "
        "gateway nobody planned, opens a new path in or out of the network. Confirm with the network owner; "
        "if unexpected, detach or delete the gateway, check route tables that point at it (route-table-changed), "
        "and review the caller's other activity. Changes AWS makes itself (service-linked roles, calls invoked "
        "by an AWS service), refused calls and dry runs are excluded."
    ),
    match=match,
    events=events("ec2.amazonaws.com", CALLS),
    group_by=ACTOR,
)
