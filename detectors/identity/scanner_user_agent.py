"""A call whose user agent names a known offensive or audit tool (Pacu, TruffleHog, Prowler, Kali, ...).

The tools are data (`detectors/_tools.py`: pattern, tool name, kind). Offensive tools (attack and
post-exploitation tools, penetration-testing distributions) are high; audit scanners that security
teams also run (Prowler, ScoutSuite, Cloudsplaining, CloudMapper) are medium, titled as such. A user
agent naming both (ScoutSuite run from a Parrot box) counts as offensive.

Indexed, not run on every event: the catalog keeps the throughput budget by dispatching on event names,
so this looks only at the discovery and enumeration calls those tools make first (IAM, STS, S3, EC2,
Lambda, secrets, KMS, logging and organization listings: see DISCOVERY_CALLS). A tool that never makes
one of them is not seen; extend the list per deployment with `extra_events`. Failed calls count too:
scanners hit many AccessDenied errors.

Params:
- `user_agents` (list of strings): case-insensitive substrings to look for; default every pattern of the
  table. A pattern not in the table is an offensive tool named after the pattern.
- `allowed_tools` (list of tool names, default empty): tools never reported, e.g. ["prowler"] where the
  security team runs it (per principal or address, use suppressions instead).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, Final

from detectors._common import ACTOR, aws_made, call_name
from detectors._fields import strings
from detectors._tools import AUDIT, BY_PATTERN, OFFENSIVE, PATTERNS, Tool
from monitor.model import Detector, Event, Hit, Severity
from monitor.model.alert import clip

# Every pattern of the tools table: the `user_agents` default.
DEFAULT_USER_AGENTS: Final = PATTERNS

DISCOVERY_CALLS: Final[Mapping[str, tuple[str, ...]]] = {
    "iam.amazonaws.com": (
        "ListUsers", "ListRoles", "ListGroups", "ListPolicies", "ListAttachedUserPolicies",
        "ListAttachedRolePolicies", "ListUserPolicies", "ListRolePolicies", "ListAccessKeys", "ListMFADevices",
        "ListInstanceProfiles", "ListSAMLProviders", "ListOpenIDConnectProviders", "GetAccountAuthorizationDetails",
        "GetAccountSummary", "GetAccountPasswordPolicy", "GetUser", "GetRole", "GetPolicy", "GetPolicyVersion",
        "GetCredentialReport", "GenerateCredentialReport",
    ),
    "sts.amazonaws.com": ("GetCallerIdentity",),
    "s3.amazonaws.com": ("ListBuckets", "GetBucketAcl", "GetBucketPolicy"),
    "ec2.amazonaws.com": (
        "DescribeInstances", "DescribeRegions", "DescribeSecurityGroups", "DescribeVpcs", "DescribeSnapshots",
        "DescribeKeyPairs", "DescribeInstanceAttribute",
    ),
    "lambda.amazonaws.com": ("ListFunctions20150331", "ListFunctions"),
    "secretsmanager.amazonaws.com": ("ListSecrets",),
    "ssm.amazonaws.com": ("DescribeParameters", "DescribeInstanceInformation"),
    "kms.amazonaws.com": ("ListKeys",),
    "rds.amazonaws.com": ("DescribeDBInstances",),
    "cloudtrail.amazonaws.com": ("DescribeTrails", "GetTrailStatus"),
    "guardduty.amazonaws.com": ("ListDetectors",),
    "organizations.amazonaws.com": ("DescribeOrganization", "ListAccounts"),
    "dynamodb.amazonaws.com": ("ListTables",),
    "logs.amazonaws.com": ("DescribeLogGroups",),
    "sns.amazonaws.com": ("ListTopics",),
}


class _Needles:
    """One list of user-agent patterns, compiled once into a case-insensitive alternation (longest first, so
    "scout suite" wins over a shorter pattern at the same place).

    Hashed by identity: it keys the memo of searched user agents, where hashing the tuple of every pattern
    on each call cost more than the search itself."""

    __slots__ = ("pattern",)

    def __init__(self, items: tuple[object, ...] | list[object]) -> None:
        cleaned = sorted({item.lower() for item in items if isinstance(item, str) and item.strip()}, key=len,
                         reverse=True)
        self.pattern = re.compile("|".join(re.escape(item) for item in cleaned)) if cleaned else None


_DEFAULT_NEEDLES: Final = _Needles(DEFAULT_USER_AGENTS)
# Longer user agents are searched without being remembered, so hostile ones cannot pin memory.
_MEMO_MAX_LENGTH = 1024


def _tools_named_in(agent: str, needles: _Needles) -> tuple[Tool, ...]:
    if len(agent) > _MEMO_MAX_LENGTH:
        return _search(agent, needles)
    return _memo_search(agent, needles)


def _search(agent: str, needles: _Needles) -> tuple[Tool, ...]:
    """Every tool the user agent names, offensive ones first, each once."""
    pattern = needles.pattern
    if pattern is None:
        return ()
    found: dict[str, Tool] = {}
    for hit in pattern.finditer(agent.lower()):
        text = hit.group(0)
        entry = BY_PATTERN.get(text) or Tool(text, text, OFFENSIVE)
        found.setdefault(entry.tool, entry)
    return tuple(sorted(found.values(), key=lambda entry: entry.kind != OFFENSIVE))


# A fleet uses a handful of distinct user agents, and this runs on the most common calls: remember them.
_memo_search = functools.lru_cache(maxsize=4096)(_search)


# Configured lists compiled once (keyed by the list's identity, which config keeps for the run).
_CONFIGURED: dict[int, tuple[object, _Needles]] = {}


def _needles(params: Mapping[str, Any]) -> _Needles:
    configured = params.get("user_agents", DEFAULT_USER_AGENTS)
    if configured is DEFAULT_USER_AGENTS or not isinstance(configured, list | tuple):
        return _DEFAULT_NEEDLES
    known = _CONFIGURED.get(id(configured))
    if known is not None and known[0] is configured:
        return known[1]
    needles = _Needles(configured)
    if len(_CONFIGURED) < 64:
        _CONFIGURED[id(configured)] = (configured, needles)
    return needles


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    agent = event.userAgent
    if not agent:
        return None
    tools = _tools_named_in(agent, _needles(params))
    if not tools or aws_made(event):
        return None
    allowed = {name.strip().lower() for name in strings(params.get("allowed_tools"))}
    tools = tuple(entry for entry in tools if entry.tool not in allowed)
    if not tools:
        return None
    context = {"tool": clip(tools[0].tool, 64), "kind": tools[0].kind, "user_agent": clip(agent, 300),
               "first_call": call_name(event), "denied": bool(event.errorCode)}
    if len(tools) > 1:
        context["also_named"] = clip(", ".join(entry.tool for entry in tools[1:5]), 200)
    if tools[0].kind == AUDIT:
        return Hit(severity=Severity.MEDIUM, title="Audit scanner user agent", context=context)
    return Hit(context=context)


DETECTOR = Detector(
    id="scanner-user-agent",
    title="Offensive tool user agent",
    severity=Severity.HIGH,
    mitre=("T1595", "T1087.004", "T1580"),
    runbook=(
        "A discovery call came with the user agent of a known attack or audit tool (context: the tool, its "
        "kind, the full user agent). Offensive tools are high; audit scanners (Prowler, ScoutSuite, "
        "Cloudsplaining) are medium: a sanctioned assessment looks the same, so check the principal and source "
        "IP against planned work, and list the tool in allowed_tools (or suppress the principal) if so. "
        "Otherwise treat the credentials as compromised: deactivate the access key or revoke the role's sessions and "
        "review everything the principal did. Only the common enumeration calls are watched (the detector is "
        "indexed by event name, not run on every event); calls made by AWS services are excluded."
    ),
    match=match,
    events=frozenset((source, name) for source, names in DISCOVERY_CALLS.items() for name in names),
    group_by=ACTOR,
    episode_seconds=3600,
    params={"user_agents": list(DEFAULT_USER_AGENTS), "allowed_tools": []},
)
