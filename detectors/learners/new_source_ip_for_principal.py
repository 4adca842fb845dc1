"""A person acting from a network not seen for them in the last 14 days.

People (IAM users, root, and IAM Identity Center role sessions, whose session name names the person)
are followed; workloads move between AWS addresses all the time and are not. Addresses are
remembered by network (/24 for IPv4, /48 for IPv6), so a new DHCP lease is not news. Each person
is learned quietly for their first 7 days (learning_seconds); history is 14 days (window_seconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._profile import NETWORK, PERSON, is_person, person_key, profile, source_network
from monitor.model import Detector, Event, FirstSeen, Hit, Severity
from monitor.model import event as f

_HIT = Hit()


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    return _HIT if is_person(event) else None


def network(event: Event) -> str | None:
    return source_network(f.text(event, "sourceIPAddress"))


DETECTOR = Detector(
    id="new-source-ip-for-principal",
    title="Principal acting from a new network",
    severity=Severity.LOW,
    mitre=("T1078",),
    runbook=(
        "A person's credentials were used from a network (new_source_networks) not seen for them in the "
        "history window. Usually travel, a new ISP or a VPN; sometimes stolen keys or a hijacked session. "
        "Check the source IP's owner, whether the person's other activity moved with it, and the calls made "
        "from the new network (event ids). Ask the person if anything looks off; if it was not them, disable "
        "their access keys and sessions. Workload roles and AWS's own calls are not followed."
    ),
    match=match,
    all_events=True,  # every call of a person counts toward their history; match is a type check
    group_by=person_key,
    # The fast path shared by the three learners (detectors/_profile.py); same verdict as match/value.
    first_seen=FirstSeen(value=network, label="new_source_networks",
                         profile=profile, key_at=PERSON, value_at=NETWORK),
    episode_seconds=3600,
)
