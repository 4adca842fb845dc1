"""A person (IAM user, root, or a role configured as human) acting from a source IP outside the allowed CIDRs.

Indexed, not run on every event: a person's location matters most where access is granted or credentials
are minted, so this watches console sign-ins, GetSessionToken, and the sensitive writes of
`non-mfa-sensitive-call` (`SENSITIVE_CALLS`: IAM users, roles, policies, keys and providers, STS
federation, KMS, CloudTrail, Organizations, S3 public access, GuardDuty, Config, Security Hub, Access
Analyzer), plus a few IAM writes of its own (`EXTRA_CALLS`). Reads from elsewhere are not seen; extend the
calls per deployment with `extra_events`.

Successful calls only (a refused call or failed sign-in granted nothing; other detectors count failures).
A `sourceIPAddress` that is not an address (a service host name, "AWS Internal") never fires, and AWS's
own activity is excluded. Calls through a VPC endpoint or Direct Connect carry private addresses: list
those networks too if people work from them.

Params:
- `allowed_cidrs` (list of IPv4/IPv6 CIDRs or addresses: offices, VPN egress). Empty (the default): quiet.
- `human_roles` (globs on the role name or role ARN; default ["AWSReservedSSO_*"], SSO permission sets):
  role sessions that are people.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from detectors._common import ACTOR, aws_made, call_name, console_login_outcome
from detectors._configured import address, human_role, inside, networks, param, string_tuple
from detectors.identity.non_mfa_sensitive_call import SENSITIVE_CALLS
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

# Beyond SENSITIVE_CALLS: where a person gets in or mints credentials, and IAM writes that list leaves out.
EXTRA_CALLS: Final[Mapping[str, tuple[str, ...]]] = {
    "signin.amazonaws.com": ("ConsoleLogin",),
    "sts.amazonaws.com": ("GetSessionToken",),
    "iam.amazonaws.com": (
        "CreateVirtualMFADevice", "EnableMFADevice", "ResyncMFADevice", "ChangePassword", "CreateInstanceProfile",
        "DeleteInstanceProfile", "CreatePolicyVersion", "AttachRolePolicy", "TagRole", "TagUser",
        "CreateServiceLinkedRole", "DeleteServiceLinkedRole", "UpdateRoleDescription",
    ),
}

_SIGNIN = "signin.amazonaws.com"
DEFAULT_HUMAN_ROLES = ["AWSReservedSSO_*"]


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode:
        return None
    nets = networks(string_tuple(param(params, "allowed_cidrs", [])))
    if not nets:
        return None
    found = address(event.sourceIPAddress)
    if found is None or inside(found, nets):
        return None
    kind = event.userIdentity.type
    human_roles = string_tuple(param(params, "human_roles", DEFAULT_HUMAN_ROLES))
    if kind not in f.HUMAN_IDENTITY_TYPES and not human_role(event, human_roles):
        return None
    if aws_made(event):
        return None
    if event.eventSource == _SIGNIN and console_login_outcome(event) != "Success":
        return None
    return Hit(severity=Severity.HIGH if kind == "Root" else None,
               context={"first_call": call_name(event), "identity_type": kind or "unknown",
                        "user_agent": clip(event.userAgent, 200)})


DETECTOR = Detector(
    id="source-ip-outside-allowlist",
    title="Person acting from outside the allowed networks",
    severity=Severity.MEDIUM,
    mitre=("T1078", "T1078.004"),
    runbook=(
        "An IAM user, root or a human role session (`human_roles`, SSO permission sets by default) signed in, "
        "minted credentials or made a sensitive change from a source IP outside `allowed_cidrs` (context: the "
        "first call, identity type). Check the IP (VPN off? travel? a new office range?) with the person. If "
        "it is not theirs: reset the password or deactivate the access key, revoke role sessions, and review "
        "everything the principal did from that address. Enforce the allowlist with an aws:SourceIp condition "
        "for IAM users. Only sign-ins and sensitive calls are watched; refused calls, non-address sources "
        "(AWS services, AWS Internal) and AWS's own activity are excluded. High for root."
    ),
    match=match,
    inert=lambda params: not string_tuple(params.get("allowed_cidrs")),  # quiet until allowed_cidrs is set
    events=frozenset((source, name) for calls in (SENSITIVE_CALLS, EXTRA_CALLS)
                     for source, names in calls.items() for name in names),
    group_by=ACTOR,
    episode_seconds=3600,
    params={"allowed_cidrs": [], "human_roles": list(DEFAULT_HUMAN_ROLES)},
)
