"""CIS CloudWatch.9: AWS Config recording or delivery changed.

Stopping or deleting the recorder or the delivery channel is high (it blinds
configuration monitoring); creating or updating them is medium. Refused calls
and changes AWS makes itself (the Config service-linked role) are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import context, events, flat, human_change
from detectors._common import ACTOR
from monitor.model import Detector, Event, Hit, Severity

_BLINDING = frozenset({"StopConfigurationRecorder", "DeleteConfigurationRecorder", "DeleteDeliveryChannel"})
_CALLS = _BLINDING | {"PutDeliveryChannel", "PutConfigurationRecorder"}


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not human_change(event):
        return None
    request = event.request()
    found = context(event, ("configurationRecorderName", "deliveryChannelName"), flat(request))
    for key in ("configurationRecorder", "deliveryChannel"):
        nested = request.get(key)
        if type(nested) is dict:
            found.update({k: v for k, v in context(event, ("name", "roleARN", "s3BucketName"), nested).items()
                          if k not in ("call", "region")})
    if event.eventName in _BLINDING:
        return Hit(severity=Severity.HIGH, title="AWS Config recording stopped or deleted", context=found)
    return Hit(context=found)


DETECTOR = Detector(
    id="config-recorder-changed",
    title="AWS Config recorder or delivery channel changed",
    severity=Severity.MEDIUM,
    mitre=("T1562.001",),
    runbook=(
        "AWS Config recording or delivery changed (CIS CloudWatch.9; context: recorder or channel, bucket). "
        "Stopping or deleting the recorder or the delivery channel (high) hides later configuration changes "
        "from Config rules and Security Hub. Confirm with the account owner; if unexpected, restart the "
        "recorder (StartConfigurationRecorder), restore the delivery channel, and review the caller's other "
        "activity. Changes AWS makes itself (the Config service-linked role, calls invoked by an AWS service) "
        "and refused calls are excluded."
    ),
    match=match,
    events=events("config.amazonaws.com", _CALLS),
    group_by=ACTOR,
)
