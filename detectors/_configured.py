"""Helpers for the detectors driven by deployment-specific params (allowlists of subjects, accounts, regions, CIDRs).

Not a detector: the registry skips modules whose name starts with `_`. Params come from config and may hold
anything (a string where a list belongs, numbers, nulls), so every normaliser keeps only the well-formed
members and ignores the rest instead of raising. Normalised forms are hashable tuples, so the expensive
parsing (CIDRs, ARNs) is cached once per configured value rather than redone for every event.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from monitor.model import event as f
from monitor.model.event import Event

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_ACCOUNT_ID = re.compile(r"^\d{12}$")
# A params list longer than this is a config mistake, not an allowlist; the rest is ignored.
_MAX_ITEMS = 10_000


def string_tuple(value: Any) -> tuple[str, ...]:
    """A string-or-list param as a tuple of its non-empty strings (anything else is ignored)."""
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(item for item in list(value)[:_MAX_ITEMS] if isinstance(item, str) and item.strip())
    return ()


def param(params: Mapping[str, Any], name: str, default: Any) -> Any:
    value = params.get(name, default)
    return default if value is None else value


def matches_any(value: str, patterns: tuple[str, ...], *, fold: bool = False) -> bool:
    """`value` matches one of the fnmatch-style globs; `fold` compares case-insensitively."""
    if fold:
        value = value.lower()
        return any(fnmatchcase(value, pattern.lower()) for pattern in patterns)
    return any(fnmatchcase(value, pattern) for pattern in patterns)


@functools.lru_cache(maxsize=32)
def networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    """Parsed CIDRs (IPv4 and IPv6; a bare address is a /32 or /128); malformed entries are dropped."""
    parsed: list[Network] = []
    for cidr in cidrs:
        try:
            parsed.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            continue
    return tuple(parsed)


# Memo keys are attacker-controlled strings: longer ones are never remembered (nor valid here anyway).
MAX_ADDRESS_CHARS = 64


def address(value: str) -> Address | None:
    """The IP address in a sourceIPAddress, or None for service host names, "AWS Internal" and garbage."""
    if not value or len(value) > MAX_ADDRESS_CHARS or not (value[0].isdigit() or ":" in value):
        return None
    return _address(value)


@functools.lru_cache(maxsize=8192)
def _address(value: str) -> Address | None:
    try:
        found = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped  # ::ffff:203.0.113.5 is the IPv4 caller
    return found


def inside(found: Address, nets: tuple[Network, ...]) -> bool:
    return any(found.version == net.version and found in net for net in nets)


def address_in(value: str, cidrs: tuple[str, ...]) -> bool:
    """The sourceIPAddress `value` is an address inside one of `cidrs` (memoised: a fleet has few addresses)."""
    return len(value) <= MAX_ADDRESS_CHARS and _address_in(value, cidrs)


@functools.lru_cache(maxsize=8192)
def _address_in(value: str, cidrs: tuple[str, ...]) -> bool:
    found = address(value)
    return found is not None and inside(found, networks(cidrs))


def accounts(value: Any) -> frozenset[str]:
    """A list param of account ids, keeping only 12-digit ids (numbers are accepted when they fit)."""
    items = value if isinstance(value, list | tuple | set | frozenset) else [value]
    # Only hashable scalars reach the cache; a dict or list inside the param is ignored like any bad entry.
    return _account_set(tuple(item for item in list(items)[:_MAX_ITEMS] if isinstance(item, str | int)))


@functools.lru_cache(maxsize=32)
def _account_set(items: tuple[str | int, ...]) -> frozenset[str]:
    kept: set[str] = set()
    for item in items:
        if isinstance(item, int) and not isinstance(item, bool):
            item = f"{item:012d}"
        if isinstance(item, str) and _ACCOUNT_ID.match(item.strip()):
            kept.add(item.strip())
    return frozenset(kept)


def role_arn_from_request(event: Event, request: dict[str, Any]) -> str:
    """The role an Assume* call asked for: `request` (its requestParameters).roleArn, else the AWS::IAM::Role
    resource (the resources are decoded only when the request names no role)."""
    arn = f.nested_text(request, "roleArn")
    if arn:
        return arn
    for resource in event.resource_list()[:50]:
        if type(resource) is dict and resource.get("type") == "AWS::IAM::Role":
            found = f.nested_text(resource, "ARN") or f.nested_text(resource, "arn")
            if found:
                return found
    return ""


def role_name_of(arn: str) -> str:
    """The role name in a role ARN (the last path segment), or ""."""
    if ":role/" not in arn:
        return ""
    return arn.rsplit("/", 1)[-1]


def session_issuer_arn(event: Event) -> str:
    """For a role session, the role's own ARN (arn:aws:iam::<acct>:role/<path/name>), else ""."""
    return event.userIdentity.sessionContext.sessionIssuer.arn


def human_role(event: Event, role_globs: tuple[str, ...]) -> bool:
    """A role session whose role name or role ARN matches one of `role_globs` (people behind SSO roles)."""
    if not role_globs or event.userIdentity.type != "AssumedRole":
        return False
    arn = session_issuer_arn(event)
    name = f.user_name(event) or role_name_of(arn)
    return (bool(name) and matches_any(name, role_globs)) or (bool(arn) and matches_any(arn, role_globs))
