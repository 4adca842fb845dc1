"""CIS CloudWatch.7: a KMS key disabled or scheduled for deletion.

Data encrypted under a deleted key is lost for good, and a disabled key stops
every service that depends on it. Refused calls and changes AWS makes itself
are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import context, events, human_change, scalar
from detectors._common import ACTOR
from monitor.model import Detector, Event, Hit, Severity

_FIELDS = ("keyId", "pendingWindowInDays")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not human_change(event):
        return None
    found = context(event, _FIELDS)
    response = event.response()
    for key in ("keyId", "deletionDate", "keyState"):
        value = scalar(response.get(key))
        if value:
            found[f"response_{key}"] = value
    return Hit(context=found)


DETECTOR = Detector(
    id="kms-key-disabled-or-deleted",
    title="KMS key disabled or scheduled for deletion",
    severity=Severity.MEDIUM,
    mitre=("T1485", "T1486"),
    runbook=(
        "A customer managed KMS key was disabled or scheduled for deletion (CIS CloudWatch.7; context: key "
        "and deletion date). Find what the key protects (aliases, grants, CloudTrail, S3, EBS, RDS, Secrets "
        "Manager) and confirm with its owner. If unexpected: cancel the deletion (CancelKeyDeletion) and "
        "re-enable the key (EnableKey) before the waiting period ends, then revoke the caller's credentials. "
        "Changes AWS makes itself (service-linked roles, calls invoked by an AWS service) and refused calls "
        "are excluded."
    ),
    match=match,
    events=events("kms.amazonaws.com", ("DisableKey", "ScheduleKeyDeletion")),
    group_by=ACTOR,
)
