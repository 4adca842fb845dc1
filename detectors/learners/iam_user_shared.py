"""One IAM user seen from many networks or many tools within an hour: a shared or leaked identity.

IAM users should be one person (or one workload) each. Fires when one user's calls come from >= 4
distinct networks (/24 or /48) or >= 4 distinct tool families (aws-cli, boto3, a browser per
platform, terraform...) within one hour (threshold, window_seconds). Calls AWS makes for the user
(service host names, "AWS Internal", invokedBy) are not counted; versions of a tool are one family.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import aws_made
from detectors._profile import NETWORK, TOOL, USER_NETWORKS, USER_TOOLS, profile, source_network, user_agent_family
from monitor.model import Detector, Event, FirstSeen, Hit, Severity

_HIT = Hit()


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    ident = event.get("userIdentity")
    if type(ident) is not dict or ident.get("type") != "IAMUser" or aws_made(event):
        return None
    return _HIT


def group(event: Event) -> str | None:
    # The profile's networks key (the slow path, without the profile, counts networks only).
    ident = event.get("userIdentity")
    arn = ident.get("arn") if type(ident) is dict else None
    return f"{arn}|networks" if type(arn) is str and arn else None


def network(event: Event) -> str | None:
    source_ip = event.get("sourceIPAddress")
    return source_network(source_ip) if type(source_ip) is str else None


def tool(event: Event) -> str | None:
    user_agent = event.get("userAgent")
    return user_agent_family(user_agent) if type(user_agent) is str else None


DETECTOR = Detector(
    id="iam-user-shared",
    title="IAM user used from many networks or tools at once",
    severity=Severity.MEDIUM,
    mitre=("T1078.004",),
    runbook=(
        "One IAM user's credentials were used from several networks or with several different tools within "
        "an hour (networks_or_tools in the context). Either the user is shared between people or systems "
        "(one identity per person is the rule: give each their own), or its access key or password has "
        "leaked and is used by someone else. List the user's access keys and when each was last used, ask "
        "the owner which networks and tools are theirs, and rotate the keys if any are not. Calls AWS "
        "services make on the user's behalf are not counted."
    ),
    match=match,
    all_events=True,  # any call by the user counts, through the learners' shared profile (one call per event)
    group_by=group,
    # Networks and tools are counted apart (two keys per user); 4 of either within the hour fires.
    first_seen=FirstSeen(value=network, label="networks_or_tools", history_seconds=3600, learning_seconds=0,
                         min_distinct=4, profile=profile, key_at=USER_NETWORKS, value_at=NETWORK,
                         more_columns=((USER_TOOLS, TOOL),)),
    episode_seconds=3600,
)
