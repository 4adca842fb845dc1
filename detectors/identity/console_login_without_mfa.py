"""A successful console sign-in by an IAM user or root that did not use MFA.

A sign-in federated through a SAML identity provider (`additionalEventData.SamlProviderArn`) never
counts, whatever identity type the record shows (root excepted: root cannot federate): `MFAUsed` only
says whether AWS asked for MFA, and the identity provider enforced its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import ACTOR, SIGNIN, console_login_outcome
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if console_login_outcome(event) != "Success":
        return None
    # Federated sign-ins (AssumedRole incl. IAM Identity Center, FederatedUser, SAMLUser, ...) carry no
    # MFA fields: their MFA happens at the identity provider. Only people with IAM passwords count here.
    kind = event.userIdentity.type
    if kind not in ("IAMUser", "Root"):
        return None
    extra = event.additional()
    if kind != "Root" and f.nested_text(extra, "SamlProviderArn"):
        return None  # federated through a SAML identity provider, which enforces its own MFA (root never is)
    if f.nested_text(extra, "MFAUsed") != "No":
        return None
    context = {"mfa_used": "No", "login_to": clip(f.nested_text(extra, "LoginTo"), 256)}
    if kind == "Root":
        return Hit(severity=Severity.HIGH, title="Root user signed in to the console without MFA", context=context)
    return Hit(severity=Severity.MEDIUM, context=context)


DETECTOR = Detector(
    id="console-login-without-mfa",
    title="Console sign-in without MFA",
    severity=Severity.MEDIUM,
    mitre=("T1078.004",),
    runbook=(
        "A password alone was enough to open the console. Confirm the sign-in with the user (source IP, user "
        "agent, time). Whether or not it was them, enable an MFA device for the user and enforce MFA with an "
        "IAM policy that denies everything without aws:MultiFactorAuthPresent; for root, register MFA at "
        "once. If the user does not recognise the sign-in: reset the password, revoke active sessions, and "
        "review what the session did."
    ),
    match=match,
    events=frozenset({SIGNIN}),
    # Repeated sign-ins of one user from one place within an hour are one alert.
    group_by=ACTOR,
    episode_seconds=3600,
)
