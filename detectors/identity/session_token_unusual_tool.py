"""GetSessionToken by an IAM user (or root) from a tool that is not an AWS SDK, CLI or console.

People and programs get session tokens through the AWS CLI, an SDK (aws-vault, granted and Leapp are
SDK clients) or the console. A token minted with curl, python-requests, a Go HTTP client or an attack
tool is someone handling a stolen access key by hand: sessions outlive key deactivation, so this is a
step intruders take early. Stateless: the verdict reads only the call's own user agent.

Medium; high when the user agent names an offensive tool (`detectors/_tools.py`). Calls made through a
service or the console's internal paths, and refused calls, are left out.

Params:
- `known_tools` (list of strings): case-insensitive user-agent substrings of further clients to accept
  (an in-house credential broker), besides the AWS SDKs, CLIs and consoles.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Final

from detectors._common import ACTOR, aws_made, call_name
from detectors._fields import strings
from detectors._tools import BY_PATTERN, OFFENSIVE, PATTERNS
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

# Markers of AWS's own clients in a user agent (SDKs of every language, CLIs, consoles, IaC tools).
AWS_CLIENTS: Final = (
    "aws-cli/", "aws-sdk-", "boto3/", "botocore/", "boto/", "aws-internal", "console.amazonaws.com",
    "signin.amazonaws.com", "awspowershell", "aws-powershell", "aws-toolkit", "aws-cdk", "terraform",
    "pulumi", "aws-sam-cli", "aws-chalice", "cloudformation", "app/aws-amplify", "aws-copilot",
)

# User agents longer than this are judged without being remembered (hostile ones cannot pin memory).
_MEMO_MAX_LENGTH = 1024


def _client(agent: str) -> tuple[bool, str]:
    """(made by an AWS client, the offensive tool it names or "")."""
    text = agent.lower()
    tool = next((BY_PATTERN[p].tool for p in PATTERNS if p in text and BY_PATTERN[p].kind == OFFENSIVE), "")
    return any(marker in text for marker in AWS_CLIENTS), tool


_memo_client = functools.lru_cache(maxsize=1024)(_client)


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode or event.userIdentity.type not in f.HUMAN_IDENTITY_TYPES or aws_made(event):
        return None
    agent = event.userAgent
    aws_client, tool = _client(agent) if len(agent) > _MEMO_MAX_LENGTH else _memo_client(agent)
    if aws_client and not tool:
        return None
    lowered = agent.lower()
    if not tool and any(known.lower() in lowered for known in strings(params.get("known_tools")) if known):
        return None
    request = event.request()
    duration = request.get("durationSeconds")
    context: dict[str, Any] = {"call": call_name(event), "user_agent": clip(agent, 300) or "(none)",
                               "mfa_serial": bool(f.nested_text(request, "serialNumber")),
                               "duration_seconds": duration if type(duration) is int else None,
                               "access_key_id": clip(event.userIdentity.accessKeyId, 32)}
    if tool:
        context["tool"] = tool
        return Hit(severity=Severity.HIGH, title="Session token minted by an attack tool", context=context)
    return Hit(context=context)


DETECTOR = Detector(
    id="session-token-unusual-tool",
    title="Session token minted outside the AWS tools",
    severity=Severity.MEDIUM,
    mitre=("T1550.001", "T1528"),
    runbook=(
        "An IAM user's access key was exchanged for session credentials (GetSessionToken) by a client that is "
        "not an AWS SDK, CLI or console: curl, a raw HTTP library or an attack tool (context: user agent, "
        "whether MFA was presented, duration). Session tokens keep working after the key is deactivated. "
        "Ask the user which tool that was. If nobody knows it: deactivate the access key, attach a deny-all "
        "policy with an aws:TokenIssueTime condition to cut the issued sessions, and review the user's calls "
        "from the same address. Accept in-house brokers with known_tools."
    ),
    match=match,
    events=frozenset({("sts.amazonaws.com", "GetSessionToken")}),
    group_by=ACTOR,
    episode_seconds=3600,
    params={"known_tools": []},
)
