"""A person using a tool not seen for them in the last 14 days (a browser on a new platform, a new SDK).

User agents are remembered by tool family (aws-cli, boto3, terraform, browser/windows, curl...), so
upgrades are not news. People only (IAM users, root, Identity Center sessions); console-internal
calls ("AWS Internal", console user agents) are not a tool choice. Learned quietly for each person's
first 7 days; history is 14 days.

`match` sees every call of the identity types a person can be (`identity_types`): it keys the call
by the person and gives its tool family, which the engine learns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors.learners._normalise import PERSON_IDENTITY_TYPES, caller, is_person, learned, user_agent_family
from monitor.model import Detector, Event, FirstSeen, Hit, Severity, keys


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    """Key: the person's ARN; value: the tool family of the user agent (none for the console and AWS)."""
    if not is_person(event):
        return None  # nearly every event ends here: a workload's role session
    person = caller(event)
    if person is None:
        return None
    tool = user_agent_family(event.userAgent)
    return None if tool is None else learned(person, tool)


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
    identity_types=PERSON_IDENTITY_TYPES,
    group_by=keys(),
    state=FirstSeen(label="new_user_agents"),
    episode_seconds=3600,
)
