"""A console sign-in by the account's root user."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.model import Detector, Event, Hit, Severity, keys
from monitor.model import event as f


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not f.is_root(event):
        return None
    outcome = f.nested_text(event.response(), "ConsoleLogin")
    mfa_used = f.nested_text(event.additional(), "MFAUsed")
    context = {"outcome": outcome or "unknown", "mfa_used": mfa_used or "unknown"}
    if outcome == "Success":
        # After a failure in the same episode the alert is updated, not repeated, and says so.
        return Hit(severity=Severity.CRITICAL, title="Root user signed in to the console", context=context,
                   escalation_title="Root console sign-in failed, then succeeded {after} later")
    return Hit(severity=Severity.HIGH, title="Failed root user console sign-in", context=context)


DETECTOR = Detector(
    id="root-console-login",
    title="Root user console sign-in",
    severity=Severity.HIGH,
    mitre=("T1078.004",),
    runbook=(
        "Root should almost never sign in. Confirm with the account owner that this sign-in was planned "
        "(break-glass procedure, billing or account-closure task). Check the source IP and user agent, and "
        "whether MFA was used. If unexpected: reset the root password, rotate or remove root MFA devices "
        "and access keys, review everything root did since (see root-activity alerts), and notify the "
        "account owner. Repeated failures mean someone is guessing the root password."
    ),
    match=match,
    events=frozenset({("signin.amazonaws.com", "ConsoleLogin")}),
    # Retries from one place within an hour are one episode; a success escalates it at once.
    group_by=keys("account", "source_ip"),
)
