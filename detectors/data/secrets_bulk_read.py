"""A burst of secret reads by one principal: secrets, decrypted parameters or EC2 Windows passwords.

Counts the distinct secrets read (secret ids, parameter names or paths, instance ids) by successful
secretsmanager GetSecretValue / BatchGetSecretValue, ssm GetParameter, GetParameters and
GetParametersByPath with decryption, and ec2 GetPasswordData. Fires at 20 distinct secrets within 10
minutes per account and principal (engine settings `threshold` / `window_seconds` change it). An
application re-reading its own few secrets all day is not a bulk read, however often it reads them.

Params: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import aws_made, call_name
from monitor.model import Detector, DistinctCount, Event, Hit, Severity, keys
from monitor.model import event as f
from monitor.model.alert import clip

_SSM = "ssm.amazonaws.com"
_EVENTS = frozenset({
    ("secretsmanager.amazonaws.com", "GetSecretValue"), ("secretsmanager.amazonaws.com", "BatchGetSecretValue"),
    (_SSM, "GetParameter"), (_SSM, "GetParameters"), (_SSM, "GetParametersByPath"),
    ("ec2.amazonaws.com", "GetPasswordData"),
})


def _true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


# Where each call names what it read (a string or a list of strings).
_READ_FIELDS = ("secretId", "secretIdList", "name", "names", "path", "instanceId")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    """Keyed by account and principal; the distinct value is what the call read (`secret_read`)."""
    if event.errorCode or aws_made(event) or f.principal(event) == "unknown":
        return None  # refused, made by AWS, or by nobody the key could name
    request = event.request()
    if event.eventSource == _SSM and not _true(request.get("withDecryption")):
        return None  # plain parameters are configuration, not secrets
    # Which secrets were read is in the event ids; their names are not copied into the alert.
    return Hit(value=secret_read(request), context={"first_call": call_name(event)})


def secret_read(request: Mapping[str, Any]) -> str | None:
    """What one call read, as one value: a secret id, parameter name or path, an instance id, or a batch."""
    for field in _READ_FIELDS:
        value = request.get(field)
        if isinstance(value, str) and value:
            return clip(value, 256)
        if isinstance(value, list) and value:
            names = sorted(str(item)[:256] for item in value[:50])
            return clip(",".join(names), 256)
    return None


DETECTOR = Detector(
    id="secrets-bulk-read",
    title="Burst of secret reads",
    severity=Severity.MEDIUM,
    mitre=("T1555.006", "T1552"),
    runbook=(
        "One principal read many different secrets, decrypted SSM parameters or EC2 Windows passwords in a few "
        "minutes (secrets_read in the context): "
        "credential harvesting after a compromise looks like this. Check the principal, its source IP and user "
        "agent, and which secrets were read (event ids). Deployments and application start-ups also read "
        "secrets in bulk: compare with the principal's usual pattern. If unexpected: revoke the principal's "
        "credentials or sessions and rotate every secret it read. Reads by AWS services are excluded."
    ),
    match=match,
    events=_EVENTS,
    group_by=keys("account", "principal"),
    state=DistinctCount(count=20, window_seconds=600, label="secrets_read"),
    episode_seconds=3600,
)
