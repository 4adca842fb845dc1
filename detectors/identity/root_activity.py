"""Any API call made with the account's root user, except the ones AWS makes on its behalf."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import ACTOR, aws_own, call_name
from monitor.model import Detector, Event, Hit, Severity
from monitor.model.alert import clip


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    # The engine hands over root's calls only (identity_types).
    if event.eventName == "ConsoleLogin" and event.eventSource == "signin.amazonaws.com":
        return None  # root-console-login's
    if aws_own(event):
        return None  # AwsServiceEvent, a service principal; root acting through a service still counts
    error = event.errorCode or ""
    return Hit(context={"first_call": call_name(event), "outcome": clip(error, 128) if error else "success"})


DETECTOR = Detector(
    id="root-activity",
    title="Root user API activity",
    severity=Severity.HIGH,
    mitre=("T1078.004",),
    runbook=(
        "The root user should be locked away and used only for the few tasks that need it. Ask the account "
        "owner whether this was a planned break-glass or root-only task (closing the account, changing the "
        "support plan, restoring a locked bucket policy). Look at the calls in the alert's event ids, the "
        "source IP and user agent: an SDK or CLI user agent means root access keys exist and are in use. "
        "If unexpected: delete any root access keys, reset the root password, re-register root MFA, revert "
        "what root changed, and search the same source IP for activity by other principals."
    ),
    match=match,
    all_events=True,
    identity_types=frozenset({"Root"}),
    # One root session from one place within an hour is one alert (count, first/last time, event ids).
    group_by=ACTOR,
    episode_seconds=3600,
)
