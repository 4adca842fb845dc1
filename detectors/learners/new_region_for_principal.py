"""A principal changing things in an AWS region it has not acted in during the last 14 days.

Every principal is followed (people and workloads; a role's sessions count as the role), except AWS
acting for itself. Only calls that change something count: browsing regions in the console, or EC2
Global View reading every region at once, is not news. A call is a read when `readOnly` is true or,
in records without `readOnly` (some exports drop it), when its name reads (Describe*, List*, Get*...).
Calls to global services recorded in us-east-1 (IAM, Organizations, CloudFront...) say nothing about
where someone works and are left out. Learned quietly for each principal's first 7 days, except that a
principal first seen after the detector's own first week (a user created minutes ago) alerts once it
acts in `threshold` (3) regions within 6 hours; history is 14 days. Attackers with stolen keys favour
regions nobody watches.

Any identity type can act, so `match` sees every event; most are reads and leave at the first test.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from detectors.learners._normalise import GLOBAL_SOURCES, learned, principal_key
from monitor.model import Detector, Event, FirstSeen, Hit, Severity, keys

# Call-name prefixes of reads, for records that carry no `readOnly` flag.
_READ_PREFIXES: Final = ("Describe", "List", "Get", "Head", "Lookup", "BatchGet", "Search")


def reads(event: Event) -> bool:
    """The call only reads: `readOnly` true, or a read's name when the record has no `readOnly`."""
    read_only = event.readOnly
    if read_only is None:
        return event.eventName.startswith(_READ_PREFIXES)
    return read_only is True


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    """Key: the principal (a role session folded into its role); value: the region of a changing call."""
    # The engine hands over calls whose readOnly is not true (changes_only); records without the flag
    # are judged by name here. Switching regions in the console reads everywhere; acting there is what
    # matters.
    if reads(event):
        return None
    source = event.eventSource
    region = event.awsRegion
    if not source or source in GLOBAL_SOURCES or not region:
        return None
    principal = principal_key(event)
    return None if principal is None else learned(principal, region[:32])


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
        "(recorded in us-east-1), reads (readOnly, or Describe/List/Get names when the flag is absent: EC2 "
        "Global View reads every region at once) and AWS's own calls are not counted."
    ),
    match=match,
    all_events=True,
    changes_only=True,
    group_by=keys(),
    # A brand-new principal (first seen after the detector's own week) in three regions within six hours
    # alerts while it still learns: its region spray counts as an established principal's would.
    state=FirstSeen(label="new_regions", learning_burst=3),
    episode_seconds=3600,
)
