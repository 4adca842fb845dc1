"""Which ports a security group request opens to the whole internet (security-group-changed).

Not a detector: the registry skips modules whose name starts with `_`. The request is attacker-controlled
JSON of any shape and size: the walk is bounded in depth and in the number of rule objects it visits.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from detectors._changes import scalar
from monitor.model.alert import clip

_MAX_DEPTH = 8
_MAX_NODES = 400

WORLD_CIDRS = frozenset({"0.0.0.0/0", "::/0"})
# Keys under which EC2 request parameters carry a CIDR, in the CloudTrail (camelCase) and the
# ModifySecurityGroupRules (PascalCase) shapes.
_CIDR_KEYS = ("cidrIp", "cidrIpv6", "CidrIp", "CidrIpv4", "CidrIpv6", "cidrBlock", "ipv6CidrBlock")
_ICMP = frozenset({"icmp", "icmpv6", "1", "58"})
_ALL_PROTOCOLS = frozenset({"-1", "all"})


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
    """Port ranges that a request opens to 0.0.0.0/0 or ::/0, other than the allowed ports (at most 5).

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
