"""A principal changing things in an AWS region it has not acted in during the last 14 days.

Every principal is followed (people and workloads; a role's sessions count as the role), except AWS
acting for itself. Only calls that change something count (readOnly false or absent): browsing
regions in the console reads from each of them, which is not news. Calls to global services
recorded in us-east-1 (IAM, Organizations, CloudFront...) say nothing about where someone works and
are left out. Learned quietly for each principal's first 7 days; history is 14 days. Attackers with
stolen keys favour regions nobody watches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._profile import GLOBAL_SOURCES, PRINCIPAL, REGION, principal_key, profile
from monitor.model import Detector, Event, FirstSeen, Hit, Severity
from monitor.model import event as f

_HIT = Hit()


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.get("readOnly") is True:
        return None  # switching regions in the console reads everywhere; acting there is what matters
    source = event.get("eventSource")
    if type(source) is not str or source in GLOBAL_SOURCES:
        return None
    region = event.get("awsRegion")
    return _HIT if type(region) is str and region else None


def region(event: Event) -> str | None:
    value = f.text(event, "awsRegion")
    return value[:32] or None


DETECTOR = Detector(
    id="new-region-for-principal",
    title="Principal acting in a new region",
    severity=Severity.MEDIUM,
    mitre=("T1535",),
    runbook=(
        "A principal made changing calls in a region (new_regions) where it has not acted in the history "
        "window. Attackers start resources (miners, relays) in unused regions because fewer people look there. "
        "Check what was called (event ids): a deployment to a new region is expected; RunInstances, "
        "CreateFunction or key pairs in a region your teams do not use are not. Confirm with the owner; "
        "if unexpected, stop what was started and restrict regions with an SCP. Global-service calls "
        "(recorded in us-east-1) and AWS's own calls are not counted."
    ),
    match=match,
    all_events=True,
    group_by=principal_key,
    # The fast path shared by the three learners (detectors/_profile.py); same verdict as match/value.
    first_seen=FirstSeen(value=region, label="new_regions",
                         profile=profile, key_at=PRINCIPAL, value_at=REGION),
    episode_seconds=3600,
)
