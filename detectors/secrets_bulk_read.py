"""A burst of secret reads by one principal: secrets, decrypted parameters or EC2 Windows passwords.

Counts successful secretsmanager GetSecretValue / BatchGetSecretValue, ssm GetParameter, GetParameters
and GetParametersByPath with decryption, and ec2 GetPasswordData. Threshold: 20 within 10 minutes per
account and principal (engine settings `threshold` / `window_seconds` change it).

Params: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import aws_made, call_name
from monitor.model import Detector, Event, Hit, Severity, Threshold
from monitor.model import event as f

_SSM = "ssm.amazonaws.com"
_EVENTS = frozenset({
    ("secretsmanager.amazonaws.com", "GetSecretValue"), ("secretsmanager.amazonaws.com", "BatchGetSecretValue"),
    (_SSM, "GetParameter"), (_SSM, "GetParameters"), (_SSM, "GetParametersByPath"),
    ("ec2.amazonaws.com", "GetPasswordData"),
})


def _true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.get("errorCode") or aws_made(event):
        return None
    if f.text(event, "eventSource") == _SSM and not _true(f.section(event, "requestParameters").get("withDecryption")):
        return None  # plain parameters are configuration, not secrets
    # Which secrets were read is in the event ids; their names are not copied into the alert.
    return Hit(context={"first_call": call_name(event)})


def group(event: Event) -> str | None:
    who = f.principal(event)
    return None if who == "unknown" else f"{f.account(event)}|{who}"


DETECTOR = Detector(
    id="secrets-bulk-read",
    title="Burst of secret reads",
    severity=Severity.MEDIUM,
    mitre=("T1555.006", "T1552"),
    runbook=(
        "One principal read many secrets, decrypted SSM parameters or EC2 Windows passwords in a few minutes: "
        "credential harvesting after a compromise looks like this. Check the principal, its source IP and user "
        "agent, and which secrets were read (event ids). Deployments and application start-ups also read "
        "secrets in bulk: compare with the principal's usual pattern. If unexpected: revoke the principal's "
        "credentials or sessions and rotate every secret it read. Reads by AWS services are excluded."
    ),
    match=match,
    events=_EVENTS,
    group_by=group,
    threshold=Threshold(count=20, window_seconds=600),
    episode_seconds=3600,
)
