"""A burst of secret reads by one principal: secrets, decrypted parameters or EC2 Windows passwords.

Counts the distinct secrets read (secret ids, parameter names or paths, instance ids) by secretsmanager
GetSecretValue / BatchGetSecretValue, ssm GetParameter, GetParameters and GetParametersByPath with
decryption, and ec2 GetPasswordData. A call naming several (GetParameters `names`, BatchGetSecretValue
`secretIdList`) counts each of them: one Hit per secret. Reads refused for permission count too (an
attacker with weak stolen credentials is refused most of them); the alert is titled as an attempt when
the read that completed the burst was refused. Fires at 20 distinct secrets within 10 minutes per
account and principal (engine settings `threshold` / `window_seconds` change it). An application
re-reading its own few secrets all day is not a bulk read, however often it reads them. A
BatchGetSecretValue selecting secrets by `filters` names none: `secrets-read-by-filter` reports it.

Params: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import aws_made, call_name
from detectors._refusals import attempted, permission_refused
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


# Where each call names what it read (a string or a list of strings); CloudTrail writes camelCase.
_READ_FIELDS = ("secretId", "secretIdList", "name", "names", "path", "instanceId")
# A hostile record may list thousands of names: one call counts at most this many secrets.
MAX_READS_PER_CALL = 100


def match(event: Event, params: Mapping[str, Any]) -> list[Hit] | None:
    """Keyed by account and principal; one Hit per secret the call read (its value: `secrets_read`)."""
    code = event.errorCode
    refused = permission_refused(code)
    if code and not refused:
        return None  # a missing secret or a bad parameter: nothing read
    if aws_made(event) or f.principal(event) == "unknown":
        return None  # made by AWS, or by nobody the key could name
    request = event.request()
    if event.eventSource == _SSM and not _true(request.get("withDecryption")):
        return None  # plain parameters are configuration, not secrets
    names = secrets_read(request)
    if not names:
        return None
    # Which secrets were read is in the alert's secrets_read list and the event ids.
    context = {"first_call": call_name(event)}
    title = None
    if refused:
        context["error_code"] = clip(code or "", 128)
        title = attempted("burst of secret reads")
    return [Hit(value=name, title=title, context=context) for name in names]


def secrets_read(request: Mapping[str, Any]) -> list[str]:
    """What one call read: secret ids, parameter names or a path, or an instance id; each once, clipped."""
    for field in _READ_FIELDS:
        value = request.get(field)
        if value is None:  # the API's own PascalCase, should a record carry it
            value = request.get(field[0].upper() + field[1:])
        if isinstance(value, str) and value:
            return [clip(value, 256)]
        if isinstance(value, list) and value:
            names = (clip(item, 256) for item in value[:MAX_READS_PER_CALL] if isinstance(item, str) and item)
            return list(dict.fromkeys(names))
    return []


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
        "credentials or sessions and rotate every secret it read. A call naming several secrets counts each; "
        "reads refused for permission count too (an \"Attempted\" title: the read completing the burst was "
        "refused). Reads by AWS services are excluded."
    ),
    match=match,
    events=_EVENTS,
    group_by=keys("account", "principal"),
    state=DistinctCount(count=20, window_seconds=600, label="secrets_read"),
    episode_seconds=3600,
)
