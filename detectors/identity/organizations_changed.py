"""CIS 4.15: an AWS Organizations change (accounts, organizational units, policies, handshakes).

High for the calls that take an account out of the organization's guardrails
and organization trail or remove every policy of a type: LeaveOrganization,
RemoveAccountFromOrganization, DeleteOrganization, DisablePolicyType.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import context as change_context
from detectors._changes import human_change
from detectors._common import ACTOR
from monitor.model import Detector, Event, Hit, Severity

CALLS = (
    "AcceptHandshake", "AttachPolicy", "CreateAccount", "CreateOrganizationalUnit", "CreatePolicy",
    "DeclineHandshake", "DeleteOrganization", "DeleteOrganizationalUnit", "DeletePolicy", "DetachPolicy",
    "DisablePolicyType", "EnablePolicyType", "InviteAccountToOrganization", "LeaveOrganization", "MoveAccount",
    "RemoveAccountFromOrganization", "UpdatePolicy", "UpdateOrganizationalUnit",
)
_HIGH = frozenset({"LeaveOrganization", "RemoveAccountFromOrganization", "DeleteOrganization", "DisablePolicyType"})
# No e-mail addresses (CreateAccount, invitations): personal data the alert does not need.
_FIELDS = ("accountId", "accountName", "policyId", "policyType", "type", "name", "targetId", "rootId",
           "organizationalUnitId", "parentId", "sourceParentId", "destinationParentId", "handshakeId")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not human_change(event):
        return None
    context = change_context(event, _FIELDS)
    if event.eventName in _HIGH:
        return Hit(severity=Severity.HIGH, title="Account left the organization or its guardrails were removed",
                   context=context)
    return Hit(context=context)


DETECTOR = Detector(
    id="organizations-changed",
    title="AWS Organizations changed",
    severity=Severity.MEDIUM,
    mitre=("T1484.002", "T1666"),
    runbook=(
        "The organization changed (CIS 4.15; context: account, policy, target, OU): an account created, "
        "invited, moved or removed, an OU or a service control policy created, changed, attached or detached, "
        "or a policy type enabled or disabled. High: an account left or was removed, the organization was "
        "deleted, or a policy type was disabled, which drops SCP guardrails and the organization trail for "
        "those accounts. Confirm with the organization's administrators; if unexpected, re-attach the policy "
        "or re-invite the account, and review the caller's other activity in the management account. Changes "
        "AWS makes itself (the Organizations service-linked role, calls invoked by an AWS service such as "
        "Control Tower) and refused calls are excluded."
    ),
    match=match,
    events=frozenset(("organizations.amazonaws.com", name) for name in CALLS),
    group_by=ACTOR,
)
