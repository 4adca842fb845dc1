"""What the learners remember, normalised: who acts (person and principal keys), networks, tool families.

Not a detector: the registry skips modules whose name starts with `_`. Values are normalised before
they are remembered, so history stays small and an SDK upgrade or a DHCP lease is not "new":
source addresses by network (/24 for IPv4, /48 for IPv6) and user agents by tool family.

Each learner's `match` calls these on every event of the principals it follows, so they are cheap:
a few attribute reads, and normalisations memoised in bounded caches. Values longer than a memo
limit come from the event and may be hostile: they are worked out without being remembered, so
they cannot pin memory.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Final

from detectors._configured import address
from monitor.model import event as f
from monitor.model.detector import IDENTITY_CENTER, Hit
from monitor.model.event import Event

# Calls recorded in us-east-1 whatever region the caller works in: not a sign of a new region.
GLOBAL_SOURCES: Final = frozenset({
    "iam.amazonaws.com", "organizations.amazonaws.com", "cloudfront.amazonaws.com", "route53.amazonaws.com",
    "route53domains.amazonaws.com", "support.amazonaws.com", "health.amazonaws.com", "signin.amazonaws.com",
    "account.amazonaws.com", "billingconsole.amazonaws.com", "ce.amazonaws.com", "budgets.amazonaws.com",
    "globalaccelerator.amazonaws.com", "shield.amazonaws.com", "waf.amazonaws.com", "sso.amazonaws.com",
    "trustedadvisor.amazonaws.com", "notifications.amazonaws.com", "access-analyzer.amazonaws.com",
    "servicequotas.amazonaws.com", "tax.amazonaws.com", "billing.amazonaws.com", "freetier.amazonaws.com",
})

# The identity types a person can act as (a detector's `identity_types`): IAM users, root, and
# Identity Center (SSO) role sessions, which the engine tells apart from other AssumedRole sessions.
PERSON_IDENTITY_TYPES: Final = frozenset({"IAMUser", "Root", IDENTITY_CENTER})

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
# No address is longer than this (an IPv6 address with a zone is under 64 characters).
_MAX_ADDRESS_LENGTH = 64


# --- who acts ------------------------------------------------------------------------------------------

def is_person(event: Event) -> bool:
    """An IAM user, root, or an Identity Center (SSO) role session: a person's own activity."""
    ident = event.userIdentity
    kind = ident.type
    if kind == "AssumedRole":
        return _SSO_SESSION in ident.arn
    return kind == "IAMUser" or kind == "Root"


@f.per_event
def caller(event: Event) -> str | None:
    """The caller's ARN (else "account|principal"); None when AWS itself made the call.

    A person's key (an SSO session ARN names the person), and an IAM user's.
    """
    if f.is_aws_service_activity(event):
        return None
    arn = event.userIdentity.arn
    if arn:
        return arn  # it names the account too
    principal = f.principal(event)
    return None if principal == "unknown" else f"{f.account(event)}|{principal}"


def principal_key(event: Event) -> str | None:
    """The principal's ARN, an assumed-role session folded into its role (a workload is one key)."""
    found = caller(event)
    return None if found is None else fold_session(found)


def fold_session(caller_key: str) -> str:
    """`arn:aws:sts::<account>:assumed-role/<role>/<session>` as `arn:aws:iam::<account>:role/<role>`."""
    return _fold(caller_key) if len(caller_key) > _MEMO_MAX_LENGTH else _memo_fold(caller_key)


def _fold(caller_key: str) -> str:
    if ":assumed-role/" not in caller_key:
        return caller_key
    head, _, rest = caller_key.partition(":assumed-role/")
    role = rest.partition("/")[0]
    return f"{head.replace(':sts:', ':iam:')}:role/{role}"


_memo_fold = functools.lru_cache(maxsize=8192)(_fold)


# --- the verdict ----------------------------------------------------------------------------------------

def learned(key: str, value: str) -> Hit:
    """The Hit that has the engine learn `value` for `key`."""
    return Hit(key=key, value=value)


# --- what they use ---------------------------------------------------------------------------------------

def source_network(source_ip: str) -> str | None:
    """The caller's network (/24 or /48) of a sourceIPAddress; None for service names and garbage."""
    return None if len(source_ip) > _MAX_ADDRESS_LENGTH else _memo_network(source_ip)


@functools.lru_cache(maxsize=8192)
def _memo_network(source_ip: str) -> str | None:
    found = address(source_ip)
    if found is None:
        return None
    prefix = 24 if found.version == 4 else 48
    return str(ipaddress.ip_network(f"{found}/{prefix}", strict=False))


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
