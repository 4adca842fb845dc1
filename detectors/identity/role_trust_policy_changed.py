"""A role's trust policy (who may assume it) replaced with UpdateAssumeRolePolicy.

Medium for any change; high when the new trust lets anyone in ("Principal": "*" or {"AWS": "*"}), an
account other than the role's own or the known ones, or a federated provider (OIDC/SAML) with no
condition on a `:sub` key. CreateRole's initial trust is out of scope.

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
    context: dict[str, Any] = {"call": call_name(event), "role": clip(f.nested_text(request, "roleName"), 256)}
    document = pol.parse_document(request.get("policyDocument"))
    if document is None:
        context["policy"] = "unreadable"
        return Hit(context=context)
    found = risks(document, f.account(event), _known(params))
    if not found:
        return Hit(context=context)
    context["risk"] = clip("; ".join(dict.fromkeys(found)), 400)
    return Hit(severity=Severity.HIGH, title="Role trust opened to an outside or unrestricted principal",
               context=context)


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
        "AssumeRole calls on it since. Changes made by AWS services are excluded."
    ),
    match=match,
    events=frozenset({("iam.amazonaws.com", "UpdateAssumeRolePolicy")}),
    group_by=ACTOR,
    episode_seconds=3600,
    params={"known_accounts": []},
)
