"""GetFederationToken called by an IAM user: long-lived session credentials that survive key deactivation.

Roles cannot call it; root calls are reported by root-activity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import changed_by_someone
from detectors._common import ACTOR, call_name
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.userIdentity.type != "IAMUser" or not changed_by_someone(event):
        return None
    req = event.request()
    duration = req.get("durationSeconds")
    policy_arns = req.get("policyArns")
    # The session policy may be long and is not needed to triage; only whether one limited the session.
    return Hit(context={"call": call_name(event), "federated_name": clip(f.nested_text(req, "name"), 64),
                        "duration_seconds": duration if type(duration) is int else None,
                        "session_policy": bool(req.get("policy")) or bool(policy_arns),
                        "access_key_id": clip(event.userIdentity.accessKeyId, 32)})


DETECTOR = Detector(
    id="federation-token-issued",
    title="Federation token issued to an IAM user",
    severity=Severity.MEDIUM,
    mitre=("T1550.001", "T1098"),
    runbook=(
        "An IAM user obtained federation credentials (GetFederationToken). Few tools still use this call; an "
        "intruder with a stolen access key uses it to mint sessions of up to 36 hours that keep working after "
        "the key is deactivated, and to get console access through the federation endpoint. Check the user, "
        "source IP and federated name in the context. If unexpected: deactivate the user's access keys and "
        "attach a deny-all policy with an aws:TokenIssueTime condition to revoke the issued sessions. "
        "Refused calls and AWS-made calls are not reported."
    ),
    match=match,
    events=frozenset({("sts.amazonaws.com", "GetFederationToken")}),
    group_by=ACTOR,
)
