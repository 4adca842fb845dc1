"""An MFA device deactivated (DeactivateMFADevice) or a virtual MFA device deleted.

Medium for IAM users; high when it is the root user's device.

Params: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import ACTOR, aws_own, call_name
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode or aws_own(event):
        return None
    request = event.request()
    serial = f.nested_text(request, "serialNumber")
    target = f.nested_text(request, "userName")
    # Root's virtual device is named root-account-mfa-device; root acting without a userName targets itself.
    root = serial.endswith(":mfa/root-account-mfa-device") or (f.is_root(event) and not target)
    context: dict[str, Any] = {"call": call_name(event), "serial_number": clip(serial, 256),
                               "user": clip("root" if root else target or f.user_name(event), 256)}
    if root:
        return Hit(severity=Severity.HIGH, title="Root user MFA device removed", context=context)
    return Hit(context=context)


DETECTOR = Detector(
    id="mfa-device-deactivated",
    title="MFA device deactivated",
    severity=Severity.MEDIUM,
    mitre=("T1556.006", "T1098"),
    runbook=(
        "An MFA device was deactivated or a virtual MFA device deleted (high for root). Attackers remove MFA "
        "so a stolen password is enough, or to register their own device. Check the user and device "
        "(context), the caller and whether the user replaced a lost or new phone (an EnableMFADevice "
        "soon after). If not expected: reset the user's password, enable a new MFA device under the owner's "
        "control and review the account's recent sign-ins. A console MFA setup that was abandoned also "
        "deletes a virtual device. AWS's own activity is excluded; a change a service such as CloudFormation "
        "made for someone names the service (made_through)."
    ),
    match=match,
    events=frozenset({("iam.amazonaws.com", "DeactivateMFADevice"), ("iam.amazonaws.com", "DeleteVirtualMFADevice")}),
    group_by=ACTOR,
    episode_seconds=3600,
)
