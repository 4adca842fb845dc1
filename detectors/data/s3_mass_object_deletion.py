"""A burst of S3 object deletions by one actor: the destructive end of S3 ransomware, or wiping.

Counts successful DeleteObject and DeleteObjects data events (one per call, whatever a DeleteObjects names)
by one account, principal and source IP: 500 within 10 minutes fire, critical (engine settings `threshold`
/ `window_seconds` change it). Needs S3 data events (write) in the trail. One DeleteObjects that itself
names many objects is s3-ransomware-preparation's (`many_keys`).

Params: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import changed_by_someone, events, scalar
from detectors._common import ACTOR
from monitor.model import Detector, Event, Hit, Severity, Threshold
from monitor.model.alert import clip


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not changed_by_someone(event):
        return None
    return Hit(context={"bucket": clip(scalar(event.request().get("bucketName")), 256),
                        "region": clip(event.awsRegion, 64)})


DETECTOR = Detector(
    id="s3-mass-object-deletion",
    title="Burst of S3 object deletions",
    severity=Severity.CRITICAL,
    mitre=("T1485",),
    runbook=(
        "One principal deleted S3 objects hundreds of times within minutes (bucket in the context, every call "
        "in the event ids): ransomware destroying the originals and their versions, or a wipe. Check the "
        "principal, its source and user agent, and whether versioning is still on (GetBucketVersioning) so "
        "the deleted objects can be restored from their versions or delete markers removed. If unexpected: "
        "revoke the principal's credentials at once and restore from versions, replicas or backups. Cleanup "
        "jobs delete in bulk too: raise `threshold` or allowlist their role. Refused calls and AWS's own "
        "activity (lifecycle expiry is not a call) are not counted."
    ),
    match=match,
    events=events("s3.amazonaws.com", ("DeleteObject", "DeleteObjects")),
    group_by=ACTOR,
    state=Threshold(count=500, window_seconds=600),
)
