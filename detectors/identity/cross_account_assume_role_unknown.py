"""A role assumed (sts AssumeRole) by a caller from an account outside the configured list of known accounts.

The caller's account is `userIdentity.accountId` (in the role owner's log a cross-account caller shows up as
type AWSAccount with that id); the role's account comes from `requestParameters.roleArn`, else the
AWS::IAM::Role resource, else the recording account. Same-account assumptions, AWS services assuming
roles (type AWSService, `invokedBy`, service host names as source) and refused calls are left out. Only
AssumeRole: SAML and web identity federation are other detectors' business.

Params:
- `known_accounts` (list of 12-digit account ids: the organization's members and trusted partners). When it
  is empty the detector is quiet: it needs the list to know what is unknown.
- `sensitive_role_globs` (role-name globs, case-insensitive; default ["*Admin*", "OrganizationAccountAccessRole"]):
  assuming a matching role is high instead of medium.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import aws_made
from detectors._configured import (
    accounts,
    matches_any,
    param,
    role_arn_from_request,
    role_name_of,
    string_tuple,
)
from detectors._fields import account_of
from monitor.model import Detector, Event, Hit, Severity, keys
from monitor.model import event as f
from monitor.model.alert import clip

DEFAULT_SENSITIVE_ROLES = ["*Admin*", "OrganizationAccountAccessRole"]


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode or aws_made(event):
        return None
    known = param(params, "known_accounts", [])
    if not known:
        return None
    # An account is "" when it cannot be told.
    caller = account_of(event.userIdentity.accountId)
    request = event.request()
    role = role_arn_from_request(event, request)
    owner = account_of(role) or account_of(event.recipientAccountId)
    if not caller or not owner or caller == owner:
        return None
    if caller in accounts(known):
        return None
    name = role_name_of(role)
    sensitive = bool(name) and matches_any(name, string_tuple(param(params, "sensitive_role_globs",
                                                                    DEFAULT_SENSITIVE_ROLES)), fold=True)
    # Both copies of a cross-account call (caller's log and the role owner's log) fold into one episode.
    return Hit(severity=Severity.HIGH if sensitive else Severity.MEDIUM, key=f"{owner}|{caller}|{role}", context={
        "caller_account": caller, "role_account": owner, "role_arn": clip(role or "(unknown)", 256),
        "role_session_name": clip(f.nested_text(request, "roleSessionName"), 128),
        "external_id_given": bool(request.get("externalId")), "sensitive_role": sensitive,
    })


DETECTOR = Detector(
    id="cross-account-assume-role-unknown",
    title="Role assumed from an unknown account",
    severity=Severity.MEDIUM,
    mitre=("T1199", "T1078.004"),
    runbook=(
        "A principal of an account that is not in `known_accounts` assumed a role here (context: caller and "
        "role accounts, role, session name, whether an external id was given). Either a new partner or "
        "organization account that nobody added to the list, or a trust policy that lets an attacker's "
        "account in. Identify the caller account's owner. If unknown: remove that account from the role's "
        "trust policy (and require sts:ExternalId for third parties), revoke the role's active sessions and "
        "review what the session did. If known, add the account to `known_accounts`. Same-account "
        "assumptions, AWS services assuming roles and refused calls are excluded; high for roles matching "
        "`sensitive_role_globs`."
    ),
    match=match,
    events=frozenset({("sts.amazonaws.com", "AssumeRole")}),
    group_by=keys(),
    episode_seconds=3600,
    params={"known_accounts": [], "sensitive_role_globs": list(DEFAULT_SENSITIVE_ROLES)},
)
