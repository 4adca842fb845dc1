"""A person using a tool not seen for them in the last 14 days (a browser on a new platform, a new SDK).

User agents are remembered by tool family (aws-cli, boto3, terraform, browser/windows, curl...), so
upgrades are not news. People only (IAM users, root, Identity Center sessions); console-internal
calls ("AWS Internal", console user agents) are not a tool choice. Learned quietly for each person's
first 7 days; history is 14 days.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._profile import PERSON, TOOL, is_person, person_key, profile, user_agent_family
from monitor.model import Detector, Event, FirstSeen, Hit, Severity
from monitor.model import event as f

_HIT = Hit()


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    return _HIT if is_person(event) else None


def tool(event: Event) -> str | None:
    return user_agent_family(f.text(event, "userAgent"))


DETECTOR = Detector(
    id="new-user-agent-for-principal",
    title="Principal using a new tool",
    severity=Severity.LOW,
    mitre=("T1078",),
    runbook=(
        "A person's credentials were used with a tool (new_user_agents) not seen for them in the history "
        "window: for example a console user whose keys suddenly appear in python-requests, or an offensive "
        "tool. Check the full user agent and source IP of the calls (event ids), and whether the person "
        "started using that tool. If not, treat the credentials as stolen: disable the access keys and "
        "review what was called."
    ),
    match=match,
    all_events=True,
    group_by=person_key,
    # The fast path shared by the three learners (detectors/_profile.py); same verdict as match/value.
    first_seen=FirstSeen(value=tool, label="new_user_agents",
                         profile=profile, key_at=PERSON, value_at=TOOL),
    episode_seconds=3600,
)
