"""One IAM user seen from many networks or many tools within an hour: a shared or leaked identity.

IAM users should be one person (or one workload) each. Fires when one user's calls come from >= 4
distinct networks (/24 or /48) or >= 4 distinct tool families (aws-cli, boto3, a browser per
platform, terraform...) within one hour (threshold, window_seconds). Calls AWS makes for the user
(service host names, "AWS Internal", invokedBy) are not counted; versions of a tool are one family.

`match` sees IAM users' calls only (`identity_types`) and gives up to two Hits per call: the network
under the key "<user ARN>|networks" and the tool family under "<user ARN>|tools", so networks and
tools are counted apart in one history.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from detectors.learners._normalise import caller, source_network, user_agent_family
from monitor.model import Detector, Event, FirstSeen, Hit, Severity, keys

# Longer users are classified without being remembered (see `_normalise`).
_MEMO_MAX_LENGTH = 1024


def match(event: Event, params: Mapping[str, Any]) -> tuple[Hit, ...] | None:
    """The user's network and tool family, each under its own key; None for AWS's calls for the user."""
    if event.userIdentity.type != "IAMUser":
        return None  # the engine hands over IAM users' calls only (identity_types); kept for direct calls
    user = caller(event)
    if user is None:
        return None
    network = source_network(event.sourceIPAddress)
    tool = user_agent_family(event.userAgent)
    return _hits(user, network, tool) if len(user) > _MEMO_MAX_LENGTH else _memo_hits(user, network, tool)


def _hits(user: str, network: str | None, tool: str | None) -> tuple[Hit, ...] | None:
    hits = ((Hit(key=f"{user}|networks", value=network),) if network is not None else ()) + (
        (Hit(key=f"{user}|tools", value=tool),) if tool is not None else ())
    return hits or None


# A user calls from a few networks with a few tools: the same Hits serve every such call.
_memo_hits = functools.lru_cache(maxsize=8192)(_hits)


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
    all_events=True,  # any call by the user counts
    identity_types=frozenset({"IAMUser"}),
    group_by=keys(),
    # Networks and tools are counted apart (two keys per user); 4 of either within the hour fires.
    state=FirstSeen(label="networks_or_tools", history_seconds=3600, learning_seconds=0, min_distinct=4),
    episode_seconds=3600,
)
