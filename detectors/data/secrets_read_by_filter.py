"""Secrets read by filter: one BatchGetSecretValue that selects secrets by tag, name prefix or description.

A call with `filters` (and no `secretIdList`) reads every secret matching them, up to 20 a page: it names
none of them, so `secrets-bulk-read` cannot count it secret by secret, and one such call is already a bulk
read. Successful calls are medium; calls refused for permission are a low attempt. An application that
reads its configuration this way on every start is allowlisted by its role (`suppressions:`).

Params: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import aws_made, call_name
from detectors._fields import strings
from detectors._refusals import attempted, permission_refused
from monitor.model import Detector, Event, Hit, Severity, keys
from monitor.model import event as f
from monitor.model.alert import clip

_TITLE = "Secrets read in bulk by filter"


def _field(request: Mapping[str, Any], name: str) -> Any:
    """A request field as CloudTrail writes it (camelCase), or in the API's own PascalCase."""
    value = request.get(name)
    return request.get(name[0].upper() + name[1:]) if value is None else value


def selection(request: Mapping[str, Any]) -> str | None:
    """The filters as "key=value,value; ..." when the call selects by filters alone, else None."""
    filters = _field(request, "filters")
    if type(filters) is not list or not filters:
        return None
    listed = _field(request, "secretIdList")
    if type(listed) is list and listed:
        return None  # names its secrets: secrets-bulk-read counts them
    parts = []
    for item in filters[:10]:
        if type(item) is dict:
            key = _field(item, "key")
            values = ",".join(clip(v, 64) for v in strings(_field(item, "values"))[:5])
            parts.append(f"{clip(key, 32) if type(key) is str else '?'}={values}")
    return clip("; ".join(parts), 300) or "(unreadable filters)"


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    code = event.errorCode
    refused = permission_refused(code)
    if code and not refused:
        return None  # a bad filter or throttling: nothing read
    if aws_made(event) or f.principal(event) == "unknown":
        return None
    chosen = selection(event.request())
    if chosen is None:
        return None
    context = {"call": call_name(event), "filters": chosen, "region": clip(event.awsRegion, 32)}
    if refused:
        return Hit(severity=Severity.LOW, title=attempted(_TITLE[0].lower() + _TITLE[1:]),
                   context={**context, "error_code": clip(code or "", 128)})
    return Hit(context=context)


DETECTOR = Detector(
    id="secrets-read-by-filter",
    title=_TITLE,
    severity=Severity.MEDIUM,
    mitre=("T1555.006", "T1552"),
    runbook=(
        "A principal called BatchGetSecretValue with filters (context: the filters), reading every secret that "
        "matches them, up to 20 per call, without naming any: a quick way to harvest secrets after a "
        "compromise. Check the principal, its source IP and user agent, and which secrets the filters match "
        "(aws secretsmanager list-secrets --filters ...). If unexpected: revoke the principal's credentials or "
        "sessions and rotate the matching secrets. An application reading its own configuration this way is "
        "allowlisted by its role with a suppression. Calls AWS made are excluded."
    ),
    match=match,
    events=frozenset({("secretsmanager.amazonaws.com", "BatchGetSecretValue")}),
    group_by=keys("account", "principal"),
    episode_seconds=3600,
)
