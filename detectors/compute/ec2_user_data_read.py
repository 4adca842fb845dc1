"""A burst of user-data reads by one principal: user data often holds passwords and keys.

Threshold: `count` DescribeInstanceAttribute calls for attribute userData by one principal in one
account within the window (default 10 in 10 minutes), set through the detector's threshold settings.
Reads refused for permission count too: 15 refused reads are a harvesting attempt. The alert is titled
as an attempt when the read that completed the burst was refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import aws_own, call_name, identified
from detectors._refusals import attempted, permission_refused
from monitor.model import Detector, Event, Hit, Severity, Threshold, keys
from monitor.model import event as f
from monitor.model.alert import clip


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    """Keyed by account and principal (a record that names no principal is not counted)."""
    code = event.errorCode
    refused = permission_refused(code)
    if code and not refused:
        return None  # a missing instance or a bad parameter: nothing read, nothing tried worth counting
    if not identified(event) or aws_own(event) or f.principal(event) == "unknown":
        return None
    req = event.request()
    if f.nested_text(req, "attribute") != "userData":
        return None
    context = {"call": call_name(event), "instance": clip(f.nested_text(req, "instanceId"), 64)}
    if refused:
        return Hit(title=attempted("burst of EC2 user data reads"),
                   context={**context, "error_code": clip(code or "", 128)})
    return Hit(context=context)


DETECTOR = Detector(
    id="ec2-user-data-read",
    title="Burst of EC2 user data reads",
    severity=Severity.MEDIUM,
    mitre=("T1552.005", "T1580"),
    runbook=(
        "One principal read the user data of many instances in a few minutes: bootstrap scripts often embed "
        "passwords, tokens and keys, and collecting them is a routine step after credentials are stolen. "
        "Check who read them (principal, source IP, user agent) and whether that is an inventory or "
        "security tool. If not: revoke the caller's credentials, rotate every secret found in those "
        "instances' user data, and move secrets to Secrets Manager or Parameter Store. Reads refused for "
        "permission count (an \"Attempted\" title: the read completing the burst was refused; the event ids "
        "show which others were); reads made by AWS services do not."
    ),
    match=match,
    events=frozenset({("ec2.amazonaws.com", "DescribeInstanceAttribute")}),
    group_by=keys("account", "principal"),
    state=Threshold(count=10, window_seconds=600),
)
