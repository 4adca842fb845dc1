"""Many AccessDenied / UnauthorizedOperation errors by one principal: probing its permissions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import aws_made, call_name
from monitor.model import Detector, Event, Hit, Severity, Threshold, keys
from monitor.model import event as f
from monitor.model.alert import clip


def is_denied(code: str) -> bool:
    """AccessDenied, AccessDeniedException, Client.UnauthorizedOperation, UnauthorizedOperation, ..."""
    return code.startswith("AccessDenied") or code.endswith("UnauthorizedOperation")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    # The engine hands over failed calls only (errors_only).
    code = event.errorCode or ""
    if not is_denied(code):
        return None
    who = f.principal(event)
    if who == "unknown":
        return None  # no identity, nobody to attribute the errors to
    if aws_made(event):
        return None  # log delivery, service-linked roles, AWS Internal: never a person probing
    return Hit(key=f"{f.account(event)}|{who}", context={
        "error_code": clip(code, 128),
        "call": call_name(event),
        "error_message": clip(event.errorMessage or "", 300),
    })


DETECTOR = Detector(
    id="access-denied-burst",
    title="Burst of access-denied errors",
    severity=Severity.MEDIUM,
    mitre=("T1580", "T1526"),
    runbook=(
        "A principal hit many permission errors in a few minutes: a misconfigured deployment, or stolen "
        "credentials being used to find out what they can do. Look at which calls were denied (event ids, "
        "context) and where from: enumeration tools try many services in a row, a broken job repeats one "
        "call. If the source IP or user agent is not where this principal normally runs, treat the "
        "credentials as compromised: deactivate the access key or revoke the role's sessions, and look for "
        "the calls that succeeded from the same address."
    ),
    match=match,
    all_events=True,
    errors_only=True,
    group_by=keys(),
    state=Threshold(count=20, window_seconds=600),
    episode_seconds=3600,
)
