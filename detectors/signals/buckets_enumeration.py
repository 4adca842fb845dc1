"""A principal listing every bucket, or reading the access settings of many buckets in a row.

ListBuckets returns every bucket of the account; a sweep of GetBucketPolicy, GetBucketAcl and the other bucket
access settings over `threshold` (10) different buckets within 10 minutes maps which ones are readable or
public. Discovery before collection or exfiltration (`aws s3 ls` with stolen keys), and what inventory tools
and people do too, so a signal, one per principal (a workload's role sessions folded into the role) per hour.
Refused calls count. Console pages (the S3 console lists buckets and reads each one's access), AWS's own calls
and calls a service made for someone are left out.

ListBuckets tells on its own (under a key of its own: a first sighting within 10 minutes); the sweep is a
first-seen history of 10 minutes with `min_distinct`, as in `recon-burst`: a bucket already read within 10
minutes is not new, and a new one alerts once the principal has read `threshold` buckets within them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from detectors.signals._caller import actor_key, direct_caller, from_console
from monitor.model import Detector, Event, FirstSeen, Hit, Severity
from monitor.model.alert import clip
from monitor.model.detector import keys

_S3 = "s3.amazonaws.com"
LIST_ALL: Final = "ListBuckets"
# What a sweep reads per bucket: who may read it, whether it is public, where and how it is kept.
SETTINGS_READS: Final = frozenset({
    "GetBucketAcl", "GetBucketPolicy", "GetBucketPolicyStatus", "GetBucketPublicAccessBlock",
    "GetBucketOwnershipControls", "GetBucketEncryption", "GetBucketLocation", "GetBucketVersioning",
    "GetBucketLogging", "GetBucketReplication", "GetBucketWebsite",
})
# The value ListBuckets stands for: every bucket at once (not a bucket name: those have no spaces).
EVERY_BUCKET: Final = "(every bucket)"
THRESHOLD = 10
WINDOW_SECONDS = 600


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    who = direct_caller(event)
    if who is None or from_console(event):
        return None
    key = actor_key(event, who)
    if event.eventName == LIST_ALL:
        # A key of its own: a standalone value alerts only as its key's first sighting within the history.
        return Hit(key=f"{key}|{LIST_ALL}", value=EVERY_BUCKET, standalone=True, title="Every bucket listed")
    bucket = event.request().get("bucketName")
    if type(bucket) is not str or not bucket:
        return None
    return Hit(key=key, value=clip(bucket, 128))


DETECTOR = Detector(
    id="buckets-enumeration",
    title="Bucket access settings swept",
    severity=Severity.LOW,
    mitre=("T1619", "T1580"),
    runbook=(
        "A signal, not sent anywhere on its own: a principal listed every S3 bucket, or read the access settings "
        "(policy, ACL, public access block...) of many buckets within minutes (context: buckets). It matters "
        "with what follows: object reads or deletions by the same actor, or an attack-sequence alert it belongs "
        "to."
    ),
    match=match,
    events=frozenset({(_S3, LIST_ALL), *((_S3, name) for name in SETTINGS_READS)}),
    group_by=keys(),
    # threshold and window_seconds set min_distinct and history_seconds (detectors.<id> in config).
    state=FirstSeen(label="buckets", history_seconds=WINDOW_SECONDS, learning_seconds=0, learn_per_key=False,
                    min_distinct=THRESHOLD, max_values=256),
    episode_seconds=3600,
    signal=True,
)
