"""A call whose user agent names a known offensive or audit tool (Pacu, ScoutSuite, Prowler, Kali, ...).

Indexed, not run on every event: the catalog keeps the throughput budget by dispatching on event names,
so this looks only at the discovery and enumeration calls those tools make first (IAM, STS, S3, EC2,
Lambda, secrets, KMS, logging and organization listings: see DISCOVERY_CALLS). A tool that never makes
one of them is not seen; extend the list per deployment with `extra_events`. Failed calls count too:
scanners hit many AccessDenied errors.

Params:
- `user_agents` (list of strings): case-insensitive substrings of offensive user agents.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, Final

from detectors._common import ACTOR, aws_made, call_name
from monitor.model import Detector, Event, Hit, Severity
from monitor.model.alert import clip

# Distribution markers appear in SDK user agents as "Linux/6.5.0-kali3-amd64" or "md/distrib#kali.2024";
# bare "kali" would also match words like "alkaline".
DEFAULT_USER_AGENTS: Final = (
    "pacu", "scoutsuite", "scout suite", "prowler", "cloudmapper", "cloudsplaining", "stratus-red-team",
    "stratus red team", "cloudfox", "weirdaal", "enumerate-iam", "sqlmap", "-kali", "#kali", "kali linux", "parrot",
)

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


@functools.lru_cache(maxsize=8)
def _pattern(needles: tuple[object, ...]) -> re.Pattern[str] | None:
    """One case-insensitive alternation per configured list, built once."""
    cleaned = [item.lower() for item in needles if isinstance(item, str) and item.strip()]
    return re.compile("|".join(re.escape(item) for item in cleaned)) if cleaned else None


# Longer user agents are searched without being remembered, so hostile ones cannot pin memory.
_MEMO_MAX_LENGTH = 1024


def _tool_named_in(agent: str, needles: tuple[object, ...]) -> str | None:
    if len(agent) > _MEMO_MAX_LENGTH:
        return _search(agent, needles)
    return _memo_search(agent, needles)


def _search(agent: str, needles: tuple[object, ...]) -> str | None:
    pattern = _pattern(needles)
    found = pattern.search(agent.lower()) if pattern is not None else None
    return found.group(0) if found is not None else None


# A fleet uses a handful of distinct user agents, and this runs on the most common calls: remember them.
_memo_search = functools.lru_cache(maxsize=4096)(_search)


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    agent = event.userAgent
    if not agent:
        return None
    configured = params.get("user_agents", DEFAULT_USER_AGENTS)
    tool = _tool_named_in(agent, tuple(configured) if isinstance(configured, list | tuple) else DEFAULT_USER_AGENTS)
    if tool is None or aws_made(event):
        return None
    return Hit(context={"tool": clip(tool, 64), "user_agent": clip(agent, 300),
                        "first_call": call_name(event), "denied": bool(event.errorCode)})


DETECTOR = Detector(
    id="scanner-user-agent",
    title="Offensive tool user agent",
    severity=Severity.HIGH,
    mitre=("T1595", "T1087.004", "T1580"),
    runbook=(
        "A discovery call came with the user agent of a known attack or audit tool (context: the tool, the "
        "full user agent). Sanctioned assessments (Prowler or ScoutSuite run by the security team) look the "
        "same: check the principal and source IP against planned work, and allowlist it if so. Otherwise "
        "treat the credentials as compromised: deactivate the access key or revoke the role's sessions and "
        "review everything the principal did. Only the common enumeration calls are watched (the detector is "
        "indexed by event name, not run on every event); calls made by AWS services are excluded."
    ),
    match=match,
    events=frozenset((source, name) for source, names in DISCOVERY_CALLS.items() for name in names),
    group_by=ACTOR,
    episode_seconds=3600,
    params={"user_agents": list(DEFAULT_USER_AGENTS)},
)
