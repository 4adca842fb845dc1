"""Helpers for the detectors that learn what is usual per principal (first-seen, usual rate, sharing).

Not a detector: the registry skips modules whose name starts with `_`. Values are normalised before
they are remembered, so history stays small and an SDK upgrade or a DHCP lease is not "new":
source addresses by network (/24 for IPv4, /48 for IPv6) and user agents by tool family.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any

from detectors._configured import address
from detectors._instance import instance_place
from monitor.model import event as f
from monitor.model.event import Event

# Calls recorded in us-east-1 whatever region the caller works in: not a sign of a new region.
GLOBAL_SOURCES = frozenset({
    "iam.amazonaws.com", "organizations.amazonaws.com", "cloudfront.amazonaws.com", "route53.amazonaws.com",
    "route53domains.amazonaws.com", "support.amazonaws.com", "health.amazonaws.com", "signin.amazonaws.com",
    "account.amazonaws.com", "billingconsole.amazonaws.com", "ce.amazonaws.com", "budgets.amazonaws.com",
    "globalaccelerator.amazonaws.com", "shield.amazonaws.com", "waf.amazonaws.com", "sso.amazonaws.com",
    "trustedadvisor.amazonaws.com", "notifications.amazonaws.com", "access-analyzer.amazonaws.com",
    "servicequotas.amazonaws.com", "tax.amazonaws.com", "billing.amazonaws.com", "freetier.amazonaws.com",
})

# Roles people use (IAM Identity Center permission sets); their session name names the person.
_SSO_SESSION = ":assumed-role/AWSReservedSSO_"

# Tool families by a marker in the user agent, first match wins (order matters: the console and
# Terraform embed SDK markers too). An empty family is the console calling for the user.
_FAMILIES = (
    ("aws-internal", ""), ("console.amazonaws.com", ""), ("s3console", ""),
    ("terraform", "terraform"), ("pulumi", "pulumi"), ("cloudformation", "cloudformation"),
    ("aws-cdk", "aws-cdk"), ("aws-cli", "aws-cli"), ("boto3", "boto3"), ("botocore", "botocore"),
    ("aws-sdk-go", "aws-sdk-go"), ("aws-sdk-java", "aws-sdk-java"), ("aws-sdk-js", "aws-sdk-js"),
    ("aws-sdk-nodejs", "aws-sdk-js"), ("aws-sdk-dotnet", "aws-sdk-dotnet"), ("aws-sdk-ruby", "aws-sdk-ruby"),
    ("aws-sdk-php", "aws-sdk-php"), ("aws-sdk-rust", "aws-sdk-rust"), ("aws-sdk-cpp", "aws-sdk-cpp"),
    ("aws-powershell", "aws-powershell"),
)
_PLATFORMS = (("windows", "windows"), ("iphone", "ios"), ("ipad", "ios"), ("android", "android"),
              ("mac os", "macos"), ("macintosh", "macos"), ("cros", "chromeos"), ("linux", "linux"))
_PRODUCT = re.compile(r"[A-Za-z0-9._+-]{1,64}")


# Values longer than this are worked out without being remembered: hostile ones cannot pin memory.
_MEMO_MAX_LENGTH = 1024


def user_agent_family(user_agent: str) -> str | None:
    """The tool behind a user agent (see `_family`), remembered for the usual few distinct agents."""
    return _family(user_agent) if len(user_agent) > _MEMO_MAX_LENGTH else _memo_family(user_agent)


def _family(user_agent: str) -> str | None:
    """The tool behind a user agent ("aws-cli", "boto3", "browser/windows", "curl"), None when there is none.

    Versions are dropped on purpose: an upgrade of the CLI is not a new tool.
    """
    text = user_agent.strip().lstrip("[").lower()
    if not text or text.startswith("aws internal") or text.endswith(".amazonaws.com"):
        return None
    for marker, family in _FAMILIES:
        if marker in text:
            return family or None  # "": the console calling for the user, not a tool they chose
    if text.startswith("mozilla/"):
        platform = next((name for marker, name in _PLATFORMS if marker in text), "other")
        return f"browser/{platform}"
    product = _PRODUCT.match(text)
    return product.group(0) if product else "other"


_memo_family = functools.lru_cache(maxsize=8192)(_family)


def source_network(source_ip: str) -> str | None:
    """The caller's network (/24 or /48) of a sourceIPAddress; None for service names and garbage."""
    return None if len(source_ip) > 64 else _memo_network(source_ip)


@functools.lru_cache(maxsize=8192)
def _memo_network(source_ip: str) -> str | None:
    found = address(source_ip)
    if found is None:
        return None
    prefix = 24 if found.version == 4 else 48
    return str(ipaddress.ip_network(f"{found}/{prefix}", strict=False))


def is_person(event: Event) -> bool:
    """An IAM user, root, or an Identity Center (SSO) role session: a person's own activity."""
    ident = event.get("userIdentity")
    return type(ident) is dict and _is_person_identity(ident)


def _is_person_identity(ident: dict[str, Any]) -> bool:
    kind = ident.get("type")
    if kind == "IAMUser" or kind == "Root":
        return True
    if kind != "AssumedRole":
        return False
    arn = ident.get("arn")
    return type(arn) is str and _SSO_SESSION in arn


def _caller(event: Event, ident: dict[str, Any]) -> str | None:
    """The caller's ARN (else "account|principal") when it is not AWS itself (`aws_made`, inlined: per event)."""
    if event.get("eventType") == "AwsServiceEvent" or ident.get("invokedBy") or ident.get("type") == "AWSService":
        return None
    source_ip = event.get("sourceIPAddress")
    if type(source_ip) is str and (source_ip.startswith("AWS Internal") or source_ip.endswith(".amazonaws.com")):
        return None
    arn = ident.get("arn")
    if type(arn) is str and arn:
        if ":assumed-role/AWSServiceRoleFor" in arn or ":role/aws-service-role/" in arn:
            return None
        return arn  # it names the account too
    principal = f.principal(event)
    if principal == "unknown":
        return None
    account = event.get("recipientAccountId")
    if type(account) is not str or not account:
        account = f.nested_text(ident, "accountId")
    return f"{account}|{principal}"


def person_key(event: Event) -> str | None:
    """The principal's ARN (an SSO session ARN names the person); None for AWS's own calls."""
    ident = event.get("userIdentity")
    return _caller(event, ident) if type(ident) is dict else None


def principal_key(event: Event) -> str | None:
    """The principal's ARN, an assumed-role session folded into its role (a workload is one key)."""
    ident = event.get("userIdentity")
    if type(ident) is not dict:
        return None
    caller = _caller(event, ident)
    return None if caller is None else _fold_session(caller)


def _fold_session(caller: str) -> str:
    return _fold(caller) if len(caller) > _MEMO_MAX_LENGTH else _memo_fold(caller)


def _fold(caller: str) -> str:
    if ":assumed-role/" not in caller:
        return caller
    head, _, rest = caller.partition(":assumed-role/")
    role = rest.partition("/")[0]
    return f"{head.replace(':sts:', ':iam:')}:role/{role}"


_memo_fold = functools.lru_cache(maxsize=8192)(_fold)


# The fast path of the first-seen detectors (FirstSeen.profile): one call per event computes the
# keys and values of all four; the engine shares it. Row layout:
PERSON, NETWORK, TOOL, PRINCIPAL, REGION, SESSION, PLACE, USER_NETWORKS, USER_TOOLS = range(9)


def profile(event: Event) -> tuple[str | None, ...] | None:
    """(person key, network, tool, principal key, region, instance session, place, IAM user's networks key,
    IAM user's tools key) of one event; None when no learner wants it.

    Must agree with `is_person`/`person_key`/`source_network`/`user_agent_family` and the region
    detector's match/`principal_key`: tests compare both paths on every sample. It runs on every
    event, so the person test, which most events stop at, is inlined.
    """
    ident = event.get("userIdentity")
    if type(ident) is not dict:
        return None
    kind = ident.get("type")
    instance: tuple[str, str] | None = None
    if kind == "IAMUser" or kind == "Root":
        person = True
    elif kind == "AssumedRole":
        arn = ident.get("arn")
        person = type(arn) is str and _SSO_SESSION in arn
        principal_id = ident.get("principalId")
        if not person and type(principal_id) is str and ":i-" in principal_id:  # cheap test before the call
            instance = instance_place(event, ident)
    else:
        person = False
    changing = event.get("readOnly") is not True
    if not person and not changing:
        # The common case: a workload reading.
        return None if instance is None else (None, None, None, None, None, instance[0], instance[1], None, None)
    session, place = instance if instance is not None else (None, None)
    caller = _caller(event, ident)
    if caller is None:
        return None if instance is None else (None, None, None, None, None, session, place, None, None)
    if person:
        source_ip = event.get("sourceIPAddress")
        network = _memo_network(source_ip) if type(source_ip) is str and len(source_ip) <= 64 else None
        user_agent = event.get("userAgent")
        if type(user_agent) is not str:
            tool = None
        else:
            tool = _memo_family(user_agent) if len(user_agent) <= _MEMO_MAX_LENGTH else _family(user_agent)
        # One IAM user is one person: its networks and tools are also counted (iam-user-shared).
        user_networks, user_tools = (caller + "|networks", caller + "|tools") if kind == "IAMUser" else (None, None)
        if not changing:
            return (caller, network, tool, None, None, None, None, user_networks, user_tools)
    else:
        network = tool = user_networks = user_tools = None
    source = event.get("eventSource")
    where = event.get("awsRegion")
    if type(source) is not str or source in GLOBAL_SOURCES or type(where) is not str or not where:
        return (caller if person else None, network, tool, None, None, session, place, user_networks, user_tools)
    principal = _memo_fold(caller) if len(caller) <= _MEMO_MAX_LENGTH else _fold(caller)
    return (caller if person else None, network, tool, principal, where[:32], session, place, user_networks,
            user_tools)
