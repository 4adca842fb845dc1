"""A role's trust policy replaced (UpdateAssumeRolePolicy), or a role created trusting outsiders (CreateRole).

UpdateAssumeRolePolicy: medium for any change; high when the new trust lets anyone in ("Principal": "*" or
{"AWS": "*"}), an account other than the role's own or the known ones, or a federated provider
(OIDC/SAML) with no condition on a `:sub` key.

CreateRole: only a new role whose initial trust (`assumeRolePolicyDocument`) carries one of those risks
is reported, high: creating roles that trust services or the account itself is routine.

Params:
- `known_accounts` (list of 12-digit account ids): accounts trusted on purpose (organization accounts,
  CI accounts); default none besides the role's own account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors import _iam_policy as pol
from detectors._common import ACTOR, aws_own, call_name
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip


def _known(params: Mapping[str, Any]) -> frozenset[str]:
    value = params.get("known_accounts", ())
    items = [value] if isinstance(value, str) else value if isinstance(value, (list, tuple)) else ()
    return frozenset(str(item).strip() for item in items if isinstance(item, (str, int)))


def risks(document: dict[str, Any] | None, own_account: str, known: frozenset[str]) -> list[str]:
    """Why the trust is dangerous: "anyone", "account 444455556666", "federated X without sub condition"."""
    found: list[str] = []
    for statement in pol.statements(document):
        if not pol.is_allow(statement):
            continue
        if pol.allows_everyone(statement):
            found.append("any principal" + (" (with a condition)" if pol.condition_keys(statement) else ""))
            continue
        values = pol.principal_values(statement)
        for principal in values.get("AWS", []):
            acct = pol.account_of(principal)
            if acct and acct != own_account and acct not in known:
                found.append(f"account {acct}")
        federated = values.get("Federated", [])
        if federated and not any(key.endswith(":sub") for key in pol.condition_keys(statement)):
            found.extend(f"federated {clip(provider, 200)} without a sub condition" for provider in federated)
    return found


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode or aws_own(event):
        return None
    request = event.request()
    created = event.eventName == "CreateRole"
    context: dict[str, Any] = {"call": call_name(event), "role": clip(f.nested_text(request, "roleName"), 256)}
    document = pol.parse_document(request.get("assumeRolePolicyDocument" if created else "policyDocument"))
    if document is None:
        if created:
            return None  # nothing to judge; an ordinary new role is not reported
        context["policy"] = "unreadable"
        return Hit(context=context)
    found = risks(document, f.account(event), _known(params))
    if not found:
        return None if created else Hit(context=context)
    context["risk"] = clip("; ".join(dict.fromkeys(found)), 400)
    title = ("Role created trusting an outside or unrestricted principal" if created
             else "Role trust opened to an outside or unrestricted principal")
    return Hit(severity=Severity.HIGH, title=title, context=context)


DETECTOR = Detector(
    id="role-trust-policy-changed",
    title="Role trust policy changed",
    severity=Severity.MEDIUM,
    mitre=("T1098", "T1484.002"),
    runbook=(
        "A role's trust policy was replaced: this decides who can assume the role. High when it now trusts any "
        "principal, an account that is neither the role's own nor in known_accounts, or an OIDC/SAML provider "
        "without a condition on the token subject (any repository or user of that provider could assume it). "
        "Check the role (context), the new principals and who made the change. If not expected: restore the "
        "previous trust policy, revoke the role's active sessions (AWSRevokeOlderSessions) and review "
        "AssumeRole calls on it since. A new role (CreateRole) is reported only when its first trust policy "
        "carries one of those risks: if unexpected, delete it. AWS's own activity is excluded; calls made "
        "through CloudFormation are reported, naming it."
    ),
    match=match,
    events=frozenset({("iam.amazonaws.com", "UpdateAssumeRolePolicy"), ("iam.amazonaws.com", "CreateRole")}),
    group_by=ACTOR,
    episode_seconds=3600,
    params={"known_accounts": []},
)
