"""CIS CloudWatch.5 (high part): a change that stops CloudTrail or blinds a trail.

StopLogging, DeleteTrail, CloudTrail Lake ingestion stopped or event data store
deleted; PutEventSelectors that no longer record management write events,
exclude management event sources, or drop data events on a trail listed in
`data_event_trails`; PutInsightSelectors that switch Insights off; UpdateTrail
that turns off multi-region, global service events or log file validation, or
removes the S3 bucket or CloudWatch Logs delivery; a lifecycle rule that expires
objects in a bucket listed in `trail_buckets`. Other trail changes go to
cloudtrail-config-changed.

Params:
- `data_event_trails` (list of trail names or ARNs, default empty): trails whose data events must stay
  recorded; PutEventSelectors on them without any data selector is reported here.
- `trail_buckets` (list of bucket names, default empty): buckets holding trail logs; PutBucketLifecycle
  with an enabled expiration rule on one of them is reported here (log evidence deleted on a timer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors import _cis
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

_S3 = "s3.amazonaws.com"


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not _cis.human_change(event):
        return None
    request = _cis.request(event)
    if f.text(event, "eventSource") == _S3:
        return _trail_bucket_expiry(event, request, params)
    reasons = _cis.trail_blinded(f.text(event, "eventName"), request,
                                 _cis.data_trail_names(params.get("data_event_trails")))
    if not reasons:
        return None
    found = _cis.trail_context(event, request)
    found["blinded_by"] = clip("; ".join(reasons), 300)
    return Hit(context=found)


def _trail_bucket_expiry(event: Event, request: Mapping[str, Any], params: Mapping[str, Any]) -> Hit | None:
    bucket = _cis.scalar(request.get("bucketName"))
    if not bucket or bucket not in _cis.data_trail_names(params.get("trail_buckets")):
        return None
    if not _cis.lifecycle_expires(request):
        return None
    found = _cis.context(event, ("bucketName",))
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
    events=_cis.events(_cis.CLOUDTRAIL, _cis.TRAIL_STOPS | _cis.TRAIL_UPDATES) | {(_S3, "PutBucketLifecycle")},
    group_by=_cis.group_key,
    params={"data_event_trails": [], "trail_buckets": []},
)
