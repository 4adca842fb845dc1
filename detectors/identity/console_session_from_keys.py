"""API credentials turned into a console session through the federation endpoint (GetSigninToken).

`https://signin.aws.amazon.com/federation?Action=getSigninToken` exchanges temporary credentials (from
GetFederationToken, AssumeRole or GetSessionToken) for a console sign-in link: an intruder holding only
stolen keys gets a browser session, whose console activity no longer looks like the key's own tool.

High; medium when the session belongs to an IAM Identity Center person (tools such as granted, Leapp or
aws-vault open the console this way for people who could sign in through the portal anyway). Only
successful exchanges count (`responseElements.GetSigninToken`, or no errorCode when it is absent).

Params: none (allowlist the tools' principals with suppressions).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import ACTOR, call_name, identified
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip
from monitor.model.detector import IDENTITY_CENTER_MARK


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode or not identified(event) or f.is_aws_own_activity(event):
        return None
    outcome = f.nested_text(event.response(), "GetSigninToken")
    if outcome and outcome != "Success":
        return None
    ident = event.userIdentity
    issuer = ident.sessionContext.sessionIssuer
    context: dict[str, Any] = {"call": call_name(event), "session_type": clip(ident.type, 32),
                               "issued_from": clip(issuer.arn or issuer.userName, 256),
                               "user_agent": clip(event.userAgent, 200)}
    if IDENTITY_CENTER_MARK in ident.arn:
        return Hit(severity=Severity.MEDIUM, title="Identity Center session opened in the console from API credentials",
                   context=context)
    return Hit(context=context)


DETECTOR = Detector(
    id="console-session-from-keys",
    title="Console session created from API credentials",
    severity=Severity.HIGH,
    mitre=("T1550.001", "T1078.004"),
    runbook=(
        "Temporary API credentials were exchanged for a console sign-in link (GetSigninToken on the federation "
        "endpoint): whoever holds the keys now has a browser session. Tools such as aws-vault, granted or "
        "Leapp do this for their users; an intruder with stolen keys does it to work in the console. Check the "
        "principal, the credentials' origin (issued_from: the user behind a GetFederationToken session or the "
        "role), the source IP and the user agent. If unexpected: revoke the role's sessions or deactivate the "
        "user's access key (and attach a deny with aws:TokenIssueTime for federation sessions), then review "
        "the console activity that followed from the same address."
    ),
    match=match,
    events=frozenset({("signin.amazonaws.com", "GetSigninToken")}),
    group_by=ACTOR,
    episode_seconds=3600,
)
