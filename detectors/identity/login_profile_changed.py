"""A console password (login profile) created, reset or removed for an IAM user.

Medium when users manage their own; high when one principal does it for another user (taking over a
user's console access). Passwords are never read: CloudTrail hides them and nothing here copies them.

Params: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import ACTOR, aws_own, call_name, identified
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

_CALLS = ("CreateLoginProfile", "UpdateLoginProfile", "DeleteLoginProfile")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode or aws_own(event):
        return None
    if not identified(event):
        return None  # no caller: whether it was for another user cannot be told (redacted exports)
    request = event.request()
    target = f.nested_text(request, "userName")
    ident = event.userIdentity
    caller = ident.userName if ident.type == "IAMUser" else ""
    # Without a userName the call applies to the caller itself.
    own = not target or (bool(caller) and target == caller)
    context: dict[str, Any] = {"call": call_name(event), "user": clip(target or caller or "(caller)", 256),
                               "for_another_user": not own}
    reset = request.get("passwordResetRequired")
    if isinstance(reset, bool):
        context["password_reset_required"] = reset
    if own:
        return Hit(context=context)
    return Hit(severity=Severity.HIGH, title="Console password changed for another user", context=context)


DETECTOR = Detector(
    id="login-profile-changed",
    title="Console login profile changed",
    severity=Severity.MEDIUM,
    mitre=("T1098", "T1078.004"),
    runbook=(
        "A console password was created, reset or removed for an IAM user. High when the caller did it for a "
        "different user: setting someone's password (often with no reset required) is a way to take over or "
        "add console access to a user that had none. Check the target user (context), the caller and whether "
        "an administrator planned it. If not expected: delete the login profile or reset it, check the "
        "target's recent ConsoleLogin events and its MFA devices. Users changing their own password with "
        "ChangePassword and AWS's own activity are not included; a change a service made for someone names "
        "the service (made_through)."
    ),
    match=match,
    events=frozenset(("iam.amazonaws.com", name) for name in _CALLS),
    group_by=ACTOR,
    episode_seconds=3600,
)
