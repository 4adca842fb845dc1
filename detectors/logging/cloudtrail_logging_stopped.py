"""CIS CloudWatch.5 (high part): a change that stops CloudTrail or blinds a trail.

StopLogging, DeleteTrail, CloudTrail Lake ingestion stopped or event data store
deleted; PutEventSelectors that no longer record management write events,
exclude management event sources, or drop data events on a trail listed in
`data_event_trails`; UpdateTrail that turns off multi-region, global service
events or log file validation, or removes the S3 bucket or CloudWatch Logs
delivery; a lifecycle rule that expires objects in a bucket listed in
`trail_buckets`. Other trail changes go to cloudtrail-config-changed, including
PutInsightSelectors even with an empty list (Insights off): Insights only
summarises what the trail records, and the console's create-trail wizard sends
an empty list with every new trail.

Params:
- `data_event_trails` (list of trail names or ARNs, default empty): trails whose data events must stay
  recorded; PutEventSelectors on them without any data selector is reported here.
- `trail_buckets` (list of bucket names, default empty): buckets holding trail logs; PutBucketLifecycle
  with an enabled expiration rule on one of them is reported here (log evidence deleted on a timer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import context, events, human_change, scalar
from detectors._common import ACTOR
from detectors.logging._trails import (
    CLOUDTRAIL,
    TRAIL_STOPS,
    TRAIL_UPDATES,
    data_trail_names,
    lifecycle_expires,
    trail_blinded,
    trail_context,
)
from monitor.model import Detector, Event, Hit, Severity
from monitor.model.alert import clip

_S3 = "s3.amazonaws.com"


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not human_change(event):
        return None
    request = event.request()
    if event.eventSource == _S3:
        return _trail_bucket_expiry(event, request, params)
    reasons = trail_blinded(event.eventName, request, data_trail_names(params.get("data_event_trails")))
    if not reasons:
        return None
    found = trail_context(event, request)
    found["blinded_by"] = clip("; ".join(reasons), 300)
    return Hit(context=found)


def _trail_bucket_expiry(event: Event, request: Mapping[str, Any], params: Mapping[str, Any]) -> Hit | None:
    bucket = scalar(request.get("bucketName"))
    if not bucket or bucket not in data_trail_names(params.get("trail_buckets")):
        return None
    if not lifecycle_expires(request):
        return None
    found = context(event, ("bucketName",), request)
    found["blinded_by"] = "lifecycle rule expires trail log objects"
    return Hit(context=found)


DETECTOR = Detector(
    id="cloudtrail-logging-stopped",
    title="CloudTrail logging stopped or blinded",
    severity=Severity.HIGH,
    mitre=("T1562.008",),
    runbook=(
        "Someone stopped, deleted or blinded CloudTrail (context: trail and what was lost), which is how "
        "attackers hide what they do next. Confirm with the trail's owner at once. If unexpected: restart "
        "logging (StartLogging), restore the event selectors, trail settings and log bucket lifecycle, "
        "revoke the caller's credentials, and review the caller's other activity from another source "
        "(organization trail, CloudTrail event history, which keeps 90 days of management events even "
        "when trails stop). Changes AWS makes itself (service-linked roles, calls invoked by an AWS "
        "service) and refused calls are excluded."
    ),
    match=match,
    events=events(CLOUDTRAIL, TRAIL_STOPS | TRAIL_UPDATES) | {(_S3, "PutBucketLifecycle")},
    group_by=ACTOR,
    params={"data_event_trails": [], "trail_buckets": []},
)
