"""CIS CloudWatch.5 (medium part): a CloudTrail trail created, updated, started or reconfigured.

CreateTrail, StartLogging, and UpdateTrail, PutEventSelectors and
PutInsightSelectors that do not blind the trail (those are
cloudtrail-logging-stopped, judged by the same rules and the same
`data_event_trails` param, so one call raises exactly one of the two).
A selector request that cannot be read is reported here with `selectors: unreadable`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import events, human_change
from detectors._common import ACTOR
from detectors.logging._trails import CLOUDTRAIL, TRAIL_UPDATES, data_trail_names, trail_blinded, trail_context
from monitor.model import Detector, Event, Hit, Severity

_CALLS = frozenset({"CreateTrail", "StartLogging", "StartEventDataStoreIngestion"}) | TRAIL_UPDATES


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not human_change(event):
        return None
    request = event.request()
    reasons = trail_blinded(event.eventName, request, data_trail_names(params.get("data_event_trails")))
    if reasons:
        return None
    found = trail_context(event, request)
    if reasons is None:
        found["selectors"] = "unreadable"
    return Hit(context=found)


DETECTOR = Detector(
    id="cloudtrail-config-changed",
    title="CloudTrail configuration changed",
    severity=Severity.MEDIUM,
    mitre=("T1562.008",),
    runbook=(
        "A trail was created, started or reconfigured (context: trail, bucket, log group, settings). Check "
        "the change against the logging baseline: an unknown new trail may copy events to an outside "
        "bucket, a changed bucket or KMS key may move logs out of reach. If unexpected: restore the trail "
        "settings, delete unknown trails, and review the caller's other activity. Changes that stop or blind "
        "logging are cloudtrail-logging-stopped (high). Changes AWS makes itself (service-linked roles, "
        "calls invoked by an AWS service) and refused calls are excluded."
    ),
    match=match,
    events=events(CLOUDTRAIL, _CALLS),
    group_by=ACTOR,
    params={"data_event_trails": []},
)
