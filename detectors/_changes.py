"""Helpers for the CIS AWS Foundations monitoring detectors (CloudWatch.1-14 and 4.15).

Not a detector: the registry skips modules whose name starts with `_`. Each CIS
detector reports a successful change made by a person (not by AWS itself),
grouped per actor and hour, with the changed resource in its context.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from detectors._common import actor_key, aws_made, call_name
from monitor.model import Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

# How far the security group walk descends and how many rule objects it visits: attacker-sized requests stay cheap.
_MAX_DEPTH = 8
_MAX_NODES = 400

WORLD_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
# Keys under which EC2 request parameters carry a CIDR, in the CloudTrail (camelCase) and the
# ModifySecurityGroupRules (PascalCase) shapes.
_CIDR_KEYS = ("cidrIp", "cidrIpv6", "CidrIp", "CidrIpv4", "CidrIpv6", "cidrBlock", "ipv6CidrBlock")
_ICMP = frozenset({"icmp", "icmpv6", "1", "58"})
_ALL_PROTOCOLS = frozenset({"-1", "all"})


def events(source: str, names: Iterable[str]) -> frozenset[tuple[str, str]]:
    return frozenset((source, name) for name in names)


def human_change(event: Event) -> bool:
    """A successful call by someone, that AWS did not make on its own behalf.

    A record without a userIdentity type (console captures, hand-made exports) names no one to ask about
    the change, so it is left out like the foundation's detectors leave it out.
    """
    return not event.get("errorCode") and bool(f.identity_type(event)) and not aws_made(event)


def group_key(event: Event) -> str:
    """One actor in one place: a burst of changes by the same person is one episode."""
    return actor_key(event)


def request(event: Event) -> dict[str, Any]:
    return f.section(event, "requestParameters")


def flat_request(event: Event) -> dict[str, Any]:
    """requestParameters with newer EC2 APIs' `XxxRequest` wrapper unwrapped and its PascalCase keys camelCased.

    CloudTrail records e.g. CreateNatGateway as {"CreateNatGatewayRequest": {"SubnetId": ...}}.
    """
    params = request(event)
    flat = dict(params)
    for key, value in params.items():
        if type(key) is str and key.endswith("Request") and type(value) is dict:
            for inner, item in value.items():
                if type(inner) is str and inner:
                    flat.setdefault(inner[0].lower() + inner[1:], item)
    return flat


def scalar(value: Any) -> str:
    """A short printable form of a scalar request value; "" for objects, lists and null."""
    if type(value) is str:
        return clip(value, 256)
    if type(value) in (bool, int, float):
        return str(value).lower() if type(value) is bool else str(value)
    return ""


def context(event: Event, keys: Iterable[str], obj: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The call plus the named request fields that are present as scalars."""
    params = flat_request(event) if obj is None else obj
    found = {"call": call_name(event), "region": clip(f.text(event, "awsRegion"), 64)}
    for key in keys:
        value = scalar(params.get(key))
        if value:
            found[key] = value
    return found


def change_hit(event: Event, fields: Iterable[str], high: frozenset[str] = frozenset(),
               high_title: str | None = None) -> Hit | None:
    """The common CIS verdict: a person's successful change, high when its event name is in `high`."""
    if not human_change(event):
        return None
    found = context(event, fields)
    if f.text(event, "eventName") in high:
        return Hit(severity=Severity.HIGH, title=high_title, context=found)
    return Hit(context=found)


def as_int(value: Any) -> int | None:
    """A port number from an int or a numeric string; None for anything else."""
    if type(value) is int:
        return value
    if type(value) is str and value.lstrip("-").isdigit() and len(value) < 8:
        return int(value)
    return None


def _walk(node: Any, inherited: dict[str, Any], depth: int, budget: list[int]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(cidr, nearest rule fields) for every CIDR in a request tree, bounded in depth and size."""
    if depth > _MAX_DEPTH or budget[0] <= 0:
        return
    budget[0] -= 1
    if type(node) is list:
        for item in node:
            yield from _walk(item, inherited, depth + 1, budget)
        return
    if type(node) is not dict:
        return
    rule = dict(inherited)
    for key in ("ipProtocol", "IpProtocol", "fromPort", "FromPort", "toPort", "ToPort"):
        if key in node:
            rule[key[0].lower() + key[1:]] = node[key]
    for key in _CIDR_KEYS:
        value = node.get(key)
        if type(value) is str:
            yield value.strip(), rule
    for value in node.values():
        if type(value) in (dict, list):
            yield from _walk(value, rule, depth + 1, budget)


def world_open_ports(obj: Any, allowed: frozenset[int]) -> list[str]:
    """Port ranges that a request opens to 0.0.0.0/0 or ::/0, other than the allowed ports.

    ICMP is not a port and is left out; "all protocols" or a missing range counts as every port.
    """
    found: list[str] = []
    for cidr, rule in _walk(obj, {}, 0, [_MAX_NODES]):
        if cidr not in WORLD_CIDRS:
            continue
        protocol = scalar(rule.get("ipProtocol")).lower()
        if protocol in _ICMP:
            continue
        low, high = as_int(rule.get("fromPort")), as_int(rule.get("toPort"))
        if protocol in _ALL_PROTOCOLS or low is None or high is None or low < 0 or high < 0:
            label = "all ports"
        elif high - low < 70000 and all(port in allowed for port in range(low, high + 1)):
            continue
        else:
            label = f"{protocol or 'tcp'}/{low}" if low == high else f"{protocol or 'tcp'}/{low}-{high}"
        label = clip(f"{label} from {cidr}", 80)
        if label not in found:
            found.append(label)
        if len(found) >= 5:
            break
    return found


def port_set(value: Any, default: Iterable[int]) -> frozenset[int]:
    """A configured list of ports; the default when the setting is not a list of port numbers."""
    if type(value) in (list, tuple, set, frozenset):
        ports = {as_int(v) for v in value}
        return frozenset(p for p in ports if p is not None)
    return frozenset(default)


# --- CloudTrail: which changes blind a trail -------------------------------------------------------------

CLOUDTRAIL = "cloudtrail.amazonaws.com"
# Calls that always stop or destroy recording (trails and CloudTrail Lake event data stores).
TRAIL_STOPS = frozenset({"StopLogging", "DeleteTrail", "StopEventDataStoreIngestion", "DeleteEventDataStore"})
# Calls that may or may not blind the trail, depending on their request.
TRAIL_UPDATES = frozenset({"UpdateTrail", "PutEventSelectors", "PutInsightSelectors"})
# UpdateTrail settings that, switched off, lose events or tamper evidence.
_UPDATE_FLAGS = ("isMultiRegionTrail", "includeGlobalServiceEvents", "enableLogFileValidation")


def _false(value: Any) -> bool:
    return value is False or (type(value) is str and value.strip().lower() == "false")


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if type(item) is dict] if type(value) is list else []


def trail_name(params: Mapping[str, Any]) -> str:
    return scalar(params.get("trailName")) or scalar(params.get("name"))


def _basic_selectors_blind(selectors: list[dict[str, Any]], keep_data: bool) -> list[str]:
    reasons: list[str] = []
    writes = False
    data = False
    excluded: list[str] = []
    for selector in selectors:
        # API defaults: includeManagementEvents true, readWriteType All.
        include = selector.get("includeManagementEvents", True)
        kind = selector.get("readWriteType", "All")
        if not _false(include) and kind in ("All", "WriteOnly"):
            writes = True
            sources = selector.get("excludeManagementEventSources")
            if type(sources) is list:
                excluded += [clip(s, 64) for s in sources if type(s) is str]
        if _dicts(selector.get("dataResources")):
            data = True
    if not writes:
        reasons.append("management write events no longer recorded")
    if excluded:
        reasons.append("management events excluded from " + ", ".join(excluded[:5]))
    if keep_data and not data:
        reasons.append("data events no longer recorded")
    return reasons


def _field_values(selector: dict[str, Any], field: str) -> tuple[list[str], list[str]]:
    """(equals, notEquals) values of one field of an advanced selector."""
    for fs in _dicts(selector.get("fieldSelectors")):
        if fs.get("field") == field:
            eq = [v for v in fs.get("equals") or [] if type(v) is str] if type(fs.get("equals")) is list else []
            ne = [v for v in fs.get("notEquals") or [] if type(v) is str] if type(fs.get("notEquals")) is list else []
            return eq, ne
    return [], []


def _advanced_selectors_blind(selectors: list[dict[str, Any]], keep_data: bool) -> list[str]:
    reasons: list[str] = []
    writes = False
    data = False
    for selector in selectors:
        category, _ = _field_values(selector, "eventCategory")
        if "Management" in category:
            read_only, _ = _field_values(selector, "readOnly")
            if read_only != ["true"]:
                writes = True
        elif "Data" in category:
            data = True
    if not writes:
        reasons.append("management write events no longer recorded")
    if keep_data and not data:
        reasons.append("data events no longer recorded")
    return reasons


def trail_blinded(name: str, params: Mapping[str, Any], data_trails: frozenset[str]) -> list[str] | None:
    """Why a trail change blinds monitoring; [] when it does not; None when the request cannot be read.

    `data_trails` names trails (name or ARN) whose data events must stay recorded: without the earlier
    selectors, dropping data events can only be told for trails configured as carrying them.
    """
    if name in TRAIL_STOPS:
        return ["recording stopped" if name.startswith("Stop") else "recording deleted"]
    trail = trail_name(params)
    keep_data = bool(trail) and (trail in data_trails or trail.rsplit("/", 1)[-1] in data_trails)
    if name == "PutEventSelectors":
        if type(params.get("advancedEventSelectors")) is list:
            return _advanced_selectors_blind(_dicts(params.get("advancedEventSelectors")), keep_data)
        if type(params.get("eventSelectors")) is list:
            return _basic_selectors_blind(_dicts(params.get("eventSelectors")), keep_data)
        return None
    if name == "PutInsightSelectors":
        selectors = params.get("insightSelectors")
        if type(selectors) is not list:
            return None
        return [] if _dicts(selectors) else ["Insights switched off"]
    if name == "UpdateTrail":
        reasons = [f"{flag} set to false" for flag in _UPDATE_FLAGS if _false(params.get(flag))]
        if "cloudWatchLogsLogGroupArn" in params and not scalar(params.get("cloudWatchLogsLogGroupArn")):
            reasons.append("CloudWatch Logs delivery removed")
        if "s3BucketName" in params and not scalar(params.get("s3BucketName")):
            reasons.append("S3 bucket removed")
        return reasons
    return []


def lifecycle_expires(params: Mapping[str, Any]) -> bool:
    """A PutBucketLifecycle request with an enabled rule that expires objects (current or noncurrent versions)."""
    config = params.get("LifecycleConfiguration")
    rules = config.get("Rule") if type(config) is dict else None
    for rule in [rules] if type(rules) is dict else _dicts(rules):
        if scalar(rule.get("Status")) == "Enabled" and (
                "Expiration" in rule or "NoncurrentVersionExpiration" in rule):
            return True
    return False


def trail_context(event: Event, params: Mapping[str, Any]) -> dict[str, str]:
    found = context(event, ("s3BucketName", "cloudWatchLogsLogGroupArn", "isMultiRegionTrail",
                            "includeGlobalServiceEvents", "enableLogFileValidation", "kmsKeyId", "eventDataStore"),
                    params)
    trail = trail_name(params)
    if trail:
        found["trail"] = trail
    return found


def data_trail_names(value: Any) -> frozenset[str]:
    if type(value) in (list, tuple, set, frozenset):
        return frozenset(v for v in value if type(v) is str)
    return frozenset()

