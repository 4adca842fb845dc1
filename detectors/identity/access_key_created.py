"""A new IAM access key: long-lived credentials that outlive any session."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import ACTOR, aws_own, targets
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode or aws_own(event):
        return None
    ident = event.userIdentity
    kind = ident.type
    if not kind:
        return None  # nobody to attribute the key to
    target = f.nested_text(event.request(), "userName")
    # Only these three fields of the response are copied: the response may carry (or an attacker-crafted
    # record may add) secretAccessKey, which must never reach an alert.
    key = event.response().get("accessKey")
    key = key if type(key) is dict else {}
    user = clip(target or f.nested_text(key, "userName") or f.user_name(event), 128)
    key_id = clip(f.nested_text(key, "accessKeyId"), 32)
    context = {"target_user": user, "access_key_id": key_id, "status": clip(f.nested_text(key, "status"), 16),
               **targets(("user", user), ("access-key", key_id))}
    if kind == "Root":
        # Root keys are always a finding; root minting keys for users means root is in active use.
        if target:
            return Hit(severity=Severity.CRITICAL, title="Root user created an access key for an IAM user",
                       context={**context, "for": "another user"})
        return Hit(severity=Severity.CRITICAL, title="Root user created a root access key",
                   context={**context, "target_user": "root", "for": "root",
                            **targets(("user", "root"), ("access-key", key_id))})
    caller = ident.userName if kind == "IAMUser" else ""
    if target and target != caller:
        return Hit(severity=Severity.HIGH, title="Access key created for another user",
                   context={**context, "for": "another user"})
    return Hit(severity=Severity.MEDIUM, title="Access key created for the caller itself",
               context={**context, "for": "self"})


DETECTOR = Detector(
    id="access-key-created",
    title="IAM access key created",
    severity=Severity.MEDIUM,
    mitre=("T1098.001",),
    runbook=(
        "A new long-term access key exists. Check who created it, for which user (context target_user, "
        "access_key_id) and from where. Keys for another user are a classic persistence step after a "
        "compromise; a root access key should never exist. If not expected: deactivate and delete the key "
        "(aws iam update-access-key --status Inactive, then delete-access-key), review what the key has "
        "already done (search CloudTrail for its access key id), and investigate the creator's credentials."
    ),
    match=match,
    events=frozenset({("iam.amazonaws.com", "CreateAccessKey")}),
    # Keys minted by one actor from one place within an hour fold into one alert; severity rises to the worst.
    group_by=ACTOR,
    episode_seconds=3600,
)
