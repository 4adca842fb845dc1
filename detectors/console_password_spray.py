"""Failed console sign-ins for many different users from one source address: password spraying."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import SIGNIN, console_login_failed, signin_user
from monitor.model import Detector, DistinctCount, Event, Hit, Severity
from monitor.model import event as f

_GROUPING = "source IP alone: an organization trail sees one attacker address across all its accounts"


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not console_login_failed(event) or not f.text(event, "sourceIPAddress"):
        return None
    return Hit(context={"grouped_by": _GROUPING})


def group(event: Event) -> str | None:
    return f.text(event, "sourceIPAddress") or None


def target(event: Event) -> str | None:
    """The distinct value: "<account>:<user>".

    None for user names CloudTrail hid (HIDDEN_DUE_TO_SECURITY_REASONS): they
    cannot be told apart, so they never add to the distinct count (they are
    still counted in an open episode's event count).
    """
    user = signin_user(event)
    if user is None:
        return None
    return f"{f.account(event)}:{user}"


DETECTOR = Detector(
    id="console-password-spray",
    title="Console password spray from one address",
    severity=Severity.HIGH,
    mitre=("T1110.003",),
    runbook=(
        "One address is trying passwords against many console users. The alert lists the targeted "
        "account:user pairs. Look for any successful ConsoleLogin from the same address (a hit means a "
        "compromised user: reset its password, revoke its sessions, check what it did). Block the address "
        "at the edge, make sure every targeted IAM user has MFA, and check whether the user names were "
        "guessed or leaked (real names of real users suggest a leaked directory)."
    ),
    match=match,
    events=frozenset({SIGNIN}),
    # Keyed by source IP alone, across accounts: the same spray against several member accounts is one alert.
    group_by=group,
    distinct=DistinctCount(value=target, count=5, window_seconds=600, label="user_names"),
    episode_seconds=3600,
)
