"""Reporting a change someone made: who counts, and which request fields describe the change.

Not a detector: the registry skips modules whose name starts with `_`. The CIS AWS Foundations
monitoring detectors (CloudWatch.1-14 and 4.15) and the attack-path detectors report a successful
change made by someone (not by AWS itself), grouped per actor and hour (`_common.ACTOR`), with the
changed resource in the alert context. Request values are attacker-controlled JSON of any shape:
only scalars are copied into the context, clipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from detectors._common import aws_own, call_name, identified
from monitor.model import Event, Hit, Severity
from monitor.model.alert import TARGETS, clip, target

# Request fields that name what a change acted on, and the kind of target each names ("user:bob").
# `context` lists them under context["targets"], so an alert folding several changes names every one.
TARGET_FIELDS = {
    "userName": "user", "roleName": "role", "groupName": "group", "policyArn": "policy", "policyName": "policy",
    "bucketName": "bucket", "s3BucketName": "bucket", "trailName": "trail", "keyId": "key", "secretId": "secret",
    "instanceId": "instance", "functionName": "function", "accountId": "account", "vpcId": "vpc",
    "groupId": "security-group", "routeTableId": "route-table", "networkAclId": "network-acl",
    "internetGatewayId": "gateway", "egressOnlyInternetGatewayId": "gateway", "natGatewayId": "gateway",
    "vpnGatewayId": "gateway", "customerGatewayId": "gateway", "vpcPeeringConnectionId": "peering",
    "configurationRecorderName": "recorder", "deliveryChannelName": "delivery-channel",
    "eventDataStore": "event-data-store",
}


def events(source: str, names: Iterable[str]) -> frozenset[tuple[str, str]]:
    return frozenset((source, name) for name in names)


def human_change(event: Event) -> bool:
    """A successful call by a caller of a known identity type, that AWS did not make on its own behalf.

    The CIS detectors' rule: a record without a userIdentity type (console captures, hand-made exports)
    names no one to ask about the change, so it is left out.
    """
    return not event.errorCode and bool(event.userIdentity.type) and not aws_own(event)


def changed_by_someone(event: Event) -> bool:
    """A successful call by an identified caller, that AWS did not make on its own behalf.

    The attack-path detectors' rule: any userIdentity will do; records without one (stripped exports)
    name nobody to ask or contain.
    """
    return not event.errorCode and identified(event) and not aws_own(event)


def flat(request: Mapping[str, Any]) -> dict[str, Any]:
    """requestParameters with newer EC2 APIs' `XxxRequest` wrapper unwrapped and its PascalCase keys camelCased.

    CloudTrail records e.g. CreateNatGateway as {"CreateNatGatewayRequest": {"SubnetId": ...}}.
    """
    found = dict(request)
    for key, value in request.items():
        if type(key) is str and key.endswith("Request") and type(value) is dict:
            for inner, item in value.items():
                if type(inner) is str and inner:
                    found.setdefault(inner[0].lower() + inner[1:], item)
    return found


def scalar(value: Any) -> str:
    """A short printable form of a scalar request value; "" for objects, lists and null."""
    if type(value) is str:
        return clip(value, 256)
    if type(value) is bool:
        return str(value).lower()
    if type(value) in (int, float):
        return str(value)
    return ""


def context(event: Event, keys: Iterable[str], values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The call and region plus the named fields present as scalars in `values` (default: the flat request),
    and under "targets" those of them that name what was changed (`TARGET_FIELDS`)."""
    values = flat(event.request()) if values is None else values
    found: dict[str, Any] = {"call": call_name(event), "region": clip(event.awsRegion, 64)}
    named: list[str] = []
    for key in keys:
        value = scalar(values.get(key))
        if value:
            found[key] = value
            kind = TARGET_FIELDS.get(key)
            if kind is not None:
                named.append(target(kind, value))
    if named:
        found[TARGETS] = named
    return found


def request_targets(event: Event) -> list[str]:
    """What the request names among `TARGET_FIELDS` ("user:bob", "trail:org-trail"), for detectors whose
    context does not copy those fields."""
    values = flat(event.request())
    named = [target(kind, scalar(values.get(key))) for key, kind in TARGET_FIELDS.items()]
    if event.eventSource == "cloudtrail.amazonaws.com":  # StopLogging, DeleteTrail: the trail is `name`
        named.append(target("trail", scalar(values.get("name"))))
    return [entry for entry in named if entry]


def change_hit(event: Event, fields: Iterable[str], high: frozenset[str] = frozenset(),
               high_title: str | None = None) -> Hit | None:
    """The common CIS verdict: a person's successful change, high when its event name is in `high`."""
    if not human_change(event):
        return None
    found = context(event, fields)
    if event.eventName in high:
        return Hit(severity=Severity.HIGH, title=high_title, context=found)
    return Hit(context=found)
