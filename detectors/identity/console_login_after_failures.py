"""A successful console sign-in right after repeated failures for the same user: a guessed password.

`console-login-failure-burst` says someone is guessing; this says they may have got in. Failures are
remembered per account and user; a success fires when at least `failures` (default 3) failures preceded
it within one hour, or for the root user at least `root_failures` (default 1): root has one password per
account and almost never mistypes it in earnest. Sign-ins for user names CloudTrail hides cannot be tied to
a user and are left out; SSO and SAML sign-ins (no IAM password) are not ConsoleLogin failures of an IAM user.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import ROOT_USER, SIGNIN, console_login_failed, console_login_outcome, signin_user
from monitor.model import Detector, Event, Hit, Preceded, Severity, keys
from monitor.model import event as f

FAILURES = 3
ROOT_FAILURES = 1


def _at_least_one(value: Any, default: int) -> int:
    return value if type(value) is int and value >= 1 else default


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    """Keyed by account plus user; a failure is a prior, a success the trigger."""
    account = f.account(event)
    if not account:
        return None
    outcome = console_login_outcome(event)
    failed = console_login_failed(event, outcome)
    if not failed and (outcome != "Success" or event.errorCode):
        return None
    user = signin_user(event)
    if user is None:
        return None  # a hidden user name cannot be tied to anyone
    key = f"{account}|{user}"
    if failed:
        return Hit(key=key, prior=True)  # only remembered, toward a later success
    mfa = f.nested_text(event.additional(), "MFAUsed")
    if user == ROOT_USER:
        return Hit(severity=Severity.CRITICAL, title="Root console sign-in succeeded after failed attempts",
                   key=key, context={"user": ROOT_USER, "mfa_used": mfa},
                   priors_needed=_at_least_one(params.get("root_failures"), ROOT_FAILURES))
    return Hit(key=key, context={"user": user, "mfa_used": mfa},
               priors_needed=_at_least_one(params.get("failures"), FAILURES))


DETECTOR = Detector(
    id="console-login-after-failures",
    title="Console sign-in succeeded after repeated failures",
    severity=Severity.HIGH,
    mitre=("T1110.001", "T1078.004"),
    runbook=(
        "A user signed in to the console right after failed attempts (three, or one for root, by default): the "
        "password may have been guessed. Compare the source IPs and user agents of the failures and of the "
        "success (event ids): the same unfamiliar address for both is the worst case. Ask the user whether they "
        "mistyped their password; if not, or if they cannot be reached, disable the console password "
        "(DeleteLoginProfile), revoke active sessions, and review what the session did after the sign-in. Check "
        "that MFA is enforced (mfa_used). Failures for hidden (non-existent) user names are not tied to any user "
        "and are excluded."
    ),
    match=match,
    events=frozenset({SIGNIN}),
    group_by=keys(),
    # Each success names how many failures it needs (params failures / root_failures); 3 is the default.
    state=Preceded(count=FAILURES, window_seconds=3600, label="failures_before"),
    episode_seconds=3600,
    params={"failures": FAILURES, "root_failures": ROOT_FAILURES},
)
