"""A security service turned off: GuardDuty, Security Hub, IAM Access Analyzer, Macie or Detective.

UpdateDetector counts only when it sets enable to false, UpdateMacieSession only when it pauses Macie;
the other calls always tear something down.

Params: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from detectors._common import ACTOR, aws_own, call_name
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

CALLS: Final[Mapping[str, tuple[str, ...]]] = {
    "guardduty.amazonaws.com": (
        "DeleteDetector", "UpdateDetector", "DisassociateFromMasterAccount", "DisassociateFromAdministratorAccount",
    ),
    "securityhub.amazonaws.com": ("DisableSecurityHub", "BatchDisableStandards"),
    "access-analyzer.amazonaws.com": ("DeleteAnalyzer",),
    "macie2.amazonaws.com": ("DisableMacie", "UpdateMacieSession"),
    "detective.amazonaws.com": ("DeleteGraph", "DisassociateMembership"),
}
# Request fields that name what was turned off, in the order they are looked for.
_NAME_KEYS = ("detectorId", "analyzerName", "graphArn", "StandardsSubscriptionArns", "standardsSubscriptionArns")


def _false(value: object) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode or aws_own(event):
        return None
    name = event.eventName
    request = event.request()
    if name == "UpdateDetector" and not _false(request.get("enable")):
        return None  # finding frequency or data source changes leave GuardDuty on
    if name == "UpdateMacieSession" and f.nested_text(request, "status").upper() != "PAUSED":
        return None
    context: dict[str, Any] = {"call": call_name(event), "region": clip(event.awsRegion, 32)}
    for key in _NAME_KEYS:
        value = request.get(key)
        if isinstance(value, str) and value:
            context["resource"] = clip(value, 256)
            break
        if isinstance(value, list) and value:
            context["resource"] = clip(", ".join(str(v) for v in value[:5]), 256)
            break
    return Hit(context=context)


DETECTOR = Detector(
    id="security-service-disabled",
    title="Security service disabled",
    severity=Severity.HIGH,
    mitre=("T1562.001", "T1562.008"),
    runbook=(
        "GuardDuty, Security Hub, IAM Access Analyzer, Macie or Detective was disabled, deleted, paused or "
        "disassociated from the administrator account in this region (context). Attackers do this first so "
        "what follows goes unseen. Check who did it and whether the security team planned it. If not: "
        "re-enable the service (and re-associate the member with the administrator account), then review "
        "everything the same principal did in every region since. Actions taken by AWS services (such as "
        "Organizations managing delegated administrators) are excluded."
    ),
    match=match,
    events=frozenset((source, name) for source, names in CALLS.items() for name in names),
    group_by=ACTOR,
    episode_seconds=3600,
)
