"""Repeated failed console sign-ins for one user of one account: password guessing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import ROOT_USER, SIGNIN, UNKNOWN_USER, console_login_failed, signin_user
from monitor.model import Detector, Event, Hit, Severity, Threshold, keys
from monitor.model import event as f

_UNKNOWN_NOTE = (
    "CloudTrail hides user names that do not exist in the account (HIDDEN_DUE_TO_SECURITY_REASONS), so "
    "failures for unknown names cannot be told apart: all of them in this account count as one unknown user"
)


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    """Keyed by account plus the user the attempts were for (root, an IAM user, or the one unknown-user key)."""
    account = f.account(event)
    if not account or not console_login_failed(event):
        return None
    user = signin_user(event)
    if user is None:
        return Hit(title="Burst of failed console sign-ins for unknown user names", key=f"{account}|unknown",
                   context={"user": UNKNOWN_USER, "user_known": False, "note": _UNKNOWN_NOTE})
    if user == ROOT_USER and f.is_root(event):
        return Hit(title="Burst of failed root user console sign-ins", key=f"{account}|root",
                   context={"user": ROOT_USER, "user_known": True})
    return Hit(key=f"{account}|user:{user}", context={"user": user, "user_known": True})


DETECTOR = Detector(
    id="console-login-failure-burst",
    title="Burst of failed console sign-ins",
    severity=Severity.HIGH,
    mitre=("T1110.001",),
    runbook=(
        "Someone is guessing a console password. Check the source IPs and user agents of the failed sign-ins "
        "(event ids) and whether a successful sign-in for the same user followed. If the user is known, "
        "confirm with them that it was not a forgotten password; if not, reset the password, make sure MFA "
        "is enabled and required, and block the source addresses at the edge if they keep trying. Failures "
        "for unknown user names mean someone is guessing names too: look for a password-spray alert from the "
        "same address. For root, treat as an attack on the account: verify root MFA and the root e-mail inbox."
    ),
    match=match,
    events=frozenset({SIGNIN}),
    # Same account and user (not source IP): a distributed guess against one user is still one burst.
    group_by=keys(),
    state=Threshold(count=5, window_seconds=600),
    episode_seconds=3600,
)
