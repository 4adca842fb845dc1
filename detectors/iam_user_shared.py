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
from detectors._profile import source_network, user_agent_family
from monitor.model import Detector, DistinctCount, Event, Hit, Severity

_HIT = Hit()


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    ident = event.get("userIdentity")
    if type(ident) is not dict or ident.get("type") != "IAMUser" or aws_made(event):
        return None
    return _HIT


def group(event: Event) -> str | None:
    # The user's ARN names account and user; these three run for every IAM-user call, so no helpers.
    ident = event.get("userIdentity")
    arn = ident.get("arn") if type(ident) is dict else None
    return arn if type(arn) is str and arn else None


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
        "an hour (see source_networks or user_agents in the context). Either the user is shared between "
        "people or systems (one identity per person is the rule: give each their own), or its access key "
        "or password has leaked and is used by someone else. List the user's access keys and when each was "
        "last used, ask the owner which networks and tools are theirs, and rotate the keys if any are not. "
        "Calls AWS services make on the user's behalf are not counted."
    ),
    match=match,
    all_events=True,  # any call by the user counts; match is two dict lookups for everyone else
    identity_types=frozenset({"IAMUser"}),
    group_by=group,
    distinct=(
        DistinctCount(value=network, count=4, window_seconds=3600, label="source_networks"),
        DistinctCount(value=tool, count=4, window_seconds=3600, label="user_agents"),
    ),
    episode_seconds=3600,
)
