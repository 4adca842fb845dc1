"""Helpers for the detectors that learn what is usual per principal (first-seen, usual rate, sharing).

Not a detector: the registry skips modules whose name starts with `_`. Values are normalised before
they are remembered, so history stays small and an SDK upgrade or a DHCP lease is not "new":
source addresses by network (/24 for IPv4, /48 for IPv6) and user agents by tool family.
"""

from __future__ import annotations

import functools
import ipaddress
import re

from detectors._common import aws_made
from detectors._configured import address
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
HUMAN_ROLE_PREFIXES = ("AWSReservedSSO_",)

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


@functools.lru_cache(maxsize=8192)
def user_agent_family(user_agent: str) -> str | None:
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


@functools.lru_cache(maxsize=8192)
def source_network(source_ip: str) -> str | None:
    """The caller's network (/24 or /48) of a sourceIPAddress; None for service names and garbage."""
    found = address(source_ip)
    if found is None:
        return None
    prefix = 24 if found.version == 4 else 48
    return str(ipaddress.ip_network(f"{found}/{prefix}", strict=False))


def is_person(event: Event) -> bool:
    """An IAM user, root, or an Identity Center (SSO) role session: a person's own activity."""
    ident = f.identity(event)
    kind = ident.get("type")
    if kind == "IAMUser" or kind == "Root":
        return True
    if kind != "AssumedRole":
        return False
    arn = ident.get("arn")
    return type(arn) is str and any(f":assumed-role/{prefix}" in arn for prefix in HUMAN_ROLE_PREFIXES)


def person_key(event: Event) -> str | None:
    """Account and principal ARN (an SSO session ARN names the person); None for AWS's own calls."""
    if aws_made(event):
        return None
    principal = f.principal(event)
    account = f.account(event)
    return f"{account}|{principal}" if principal != "unknown" else None


def principal_key(event: Event) -> str | None:
    """Account and principal, with an assumed-role session folded into its role: a workload is one key."""
    if aws_made(event):
        return None
    principal = f.principal(event)
    if principal == "unknown":
        return None
    if ":assumed-role/" in principal:
        head, _, rest = principal.partition(":assumed-role/")
        role, _, _session = rest.partition("/")
        principal = f"{head.replace(':sts:', ':iam:')}:role/{role}"
    return f"{f.account(event)}|{principal}"
