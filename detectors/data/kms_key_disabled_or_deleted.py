"""CIS CloudWatch.7: a KMS key disabled or scheduled for deletion.

Data encrypted under a deleted key is lost for good, and a disabled key stops
every service that depends on it. Refused calls and changes AWS makes itself
are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors import _cis
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f

_FIELDS = ("keyId", "pendingWindowInDays")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not _cis.human_change(event):
        return None
    found = _cis.context(event, _FIELDS)
    response = f.section(event, "responseElements")
    for key in ("keyId", "deletionDate", "keyState"):
        value = _cis.scalar(response.get(key))
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
    events=_cis.events("kms.amazonaws.com", ("DisableKey", "ScheduleKeyDeletion")),
    group_by=_cis.group_key,
)
