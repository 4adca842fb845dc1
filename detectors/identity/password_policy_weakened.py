"""The account password policy deleted, or set below the configured minimum.

UpdateAccountPasswordPolicy replaces the whole policy: a requirement left out of the request is turned
off, so a missing flag counts as disabled.

Params:
- `min_length` (int, default 14): the shortest acceptable MinimumPasswordLength.
- `required` (list): the flags that must be true; default the four character-class requirements.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import ACTOR, aws_own, call_name
from monitor.model import Detector, Event, Hit, Severity

DEFAULT_REQUIRED = ("requireSymbols", "requireNumbers", "requireUppercaseCharacters", "requireLowercaseCharacters")
# IAM's default when MinimumPasswordLength is omitted.
_AWS_DEFAULT_LENGTH = 6


def _as_int(value: object, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 6:
        return int(value.strip())
    return default


def _true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def weaknesses(request: Mapping[str, Any], params: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    minimum = _as_int(params.get("min_length", 14), 14)
    length = _as_int(request.get("minimumPasswordLength"), _AWS_DEFAULT_LENGTH)
    if length < minimum:
        found.append(f"minimum length {length} < {minimum}")
    required = params.get("required", DEFAULT_REQUIRED)
    for flag in required if isinstance(required, (list, tuple)) else DEFAULT_REQUIRED:
        if isinstance(flag, str) and not _true(request.get(flag)):
            found.append(f"{flag} off")
    return found


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode or aws_own(event):
        return None
    if event.eventName == "DeleteAccountPasswordPolicy":
        return Hit(title="Account password policy deleted", context={"call": call_name(event), "change": "deleted"})
    found = weaknesses(event.request(), params)
    if not found:
        return None
    return Hit(context={"call": call_name(event), "change": ", ".join(found)[:400]})


DETECTOR = Detector(
    id="password-policy-weakened",
    title="Account password policy weakened",
    severity=Severity.HIGH,
    mitre=("T1556", "T1201"),
    runbook=(
        "The account password policy was deleted or set weaker than the baseline (minimum length, "
        "character classes; context lists what). Weak policies make password guessing and spraying work. "
        "Check who changed it and whether a change ticket explains it; restore the baseline policy "
        "(UpdateAccountPasswordPolicy with every requirement set), and look for console-login-failure or "
        "password-spray alerts around the same time. AWS's own activity is excluded; a change a service such as "
        "CloudFormation made for someone names the service (made_through)."
    ),
    match=match,
    events=frozenset({("iam.amazonaws.com", "UpdateAccountPasswordPolicy"),
                      ("iam.amazonaws.com", "DeleteAccountPasswordPolicy")}),
    group_by=ACTOR,
    episode_seconds=3600,
    params={"min_length": 14, "required": list(DEFAULT_REQUIRED)},
)
