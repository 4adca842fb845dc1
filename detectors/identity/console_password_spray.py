"""Failed console sign-ins for many different users from one source address: password spraying."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import SIGNIN, console_login_failed, signin_user
from monitor.model import Detector, DistinctCount, Event, Hit, Severity, keys
from monitor.model import event as f

_GROUPING = "source IP alone: an organization trail sees one attacker address across all its accounts"


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    """Keyed by source address; the distinct value is "<account>:<user>".

    User names CloudTrail hid (HIDDEN_DUE_TO_SECURITY_REASONS) cannot be told apart: they never add to
    the distinct count (they are still counted in an open episode's event count).
    """
    if not event.sourceIPAddress or not console_login_failed(event):
        return None
    user = signin_user(event)
    target = None if user is None else f"{f.account(event)}:{user}"
    return Hit(key=event.sourceIPAddress, value=target, context={"grouped_by": _GROUPING})


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
    group_by=keys("source_ip"),
    state=DistinctCount(count=5, window_seconds=600, label="user_names"),
    episode_seconds=3600,
)
