"""A person acting from a network not seen for them in the last 14 days.

People (IAM users, root, and IAM Identity Center role sessions, whose session name names the person)
are followed; workloads move between AWS addresses all the time and are not. Addresses are
remembered by network (/24 for IPv4, /48 for IPv6), so a new DHCP lease is not news. Each person
is learned quietly for their first 7 days (learning_seconds); history is 14 days (window_seconds).

`match` sees every call of the identity types a person can be (`identity_types`): it keys the call
by the person and gives its network, which the engine learns; a role session that is not an
Identity Center one leaves at the first test.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors.learners._normalise import PERSON_IDENTITY_TYPES, caller, is_person, learned, source_network
from monitor.model import Detector, Event, FirstSeen, Hit, Severity, keys


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    """Key: the person's ARN; value: the caller's network (none for service names and garbage)."""
    if not is_person(event):
        return None  # nearly every event ends here: a workload's role session
    person = caller(event)
    if person is None:
        return None
    network = source_network(event.sourceIPAddress)
    return None if network is None else learned(person, network)


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
    all_events=True,  # every call of a person counts toward their history
    identity_types=PERSON_IDENTITY_TYPES,
    group_by=keys(),
    state=FirstSeen(label="new_source_networks"),
    episode_seconds=3600,
)
