"""CIS CloudWatch.8: an S3 bucket policy, ACL, CORS, lifecycle or replication configuration changed.

Whether the change makes a bucket public is s3-bucket-made-public's concern;
this detector reports every such change by a person, except a lifecycle rule that expires
the whole bucket within days: that is s3-ransomware-preparation's (high), not reported twice. Refused calls and
changes AWS makes itself (service-linked roles, `invokedBy` services) are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import context, events, human_change
from detectors._common import ACTOR
from detectors.data._s3 import expiring_everything
from monitor.model import Detector, Event, Hit, Severity

CALLS = (
    "PutBucketPolicy", "DeleteBucketPolicy", "PutBucketAcl", "PutBucketCors", "DeleteBucketCors",
    "PutBucketLifecycle", "DeleteBucketLifecycle", "PutBucketReplication", "DeleteBucketReplication",
)


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not human_change(event):
        return None
    if event.eventName == "PutBucketLifecycle" and expiring_everything(event.request(), event.eventTime):
        return None  # s3-ransomware-preparation reports it
    return Hit(context=context(event, ("bucketName",)))


DETECTOR = Detector(
    id="s3-bucket-policy-changed",
    title="S3 bucket policy or configuration changed",
    severity=Severity.MEDIUM,
    mitre=("T1098", "T1530"),
    runbook=(
        "A bucket's policy, ACL, CORS, lifecycle or replication changed (CIS CloudWatch.8; context: bucket "
        "and call). Read the new configuration: a policy or ACL granting access outside the organization, "
        "replication to an unknown account's bucket, or a lifecycle rule expiring objects (log buckets "
        "especially) are the dangerous cases. If unexpected: restore the previous configuration, turn on "
        "Block Public Access, and review the caller's other activity. Changes AWS makes itself (service-linked "
        "roles, calls invoked by an AWS service) and refused calls are excluded."
    ),
    match=match,
    events=events("s3.amazonaws.com", CALLS),
    group_by=ACTOR,
)
