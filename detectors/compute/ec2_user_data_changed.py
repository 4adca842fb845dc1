"""An instance's user data replaced (ModifyInstanceAttribute): code that runs as root at the next start.

The user data itself never goes into the alert: it often holds secrets.
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
    if not changed_by_someone(event):
        return None
    req = event.request()
    # Recorded as a "userData" key (often redacted), or as the generic attribute/value form.
    if "userData" not in req and f.nested_text(req, "attribute") != "userData":
        return None
    return Hit(context={"call": call_name(event), "instance": clip(f.nested_text(req, "instanceId"), 64)})


DETECTOR = Detector(
    id="ec2-user-data-changed",
    title="EC2 user data changed",
    severity=Severity.HIGH,
    mitre=("T1059.009", "T1098"),
    runbook=(
        "An instance's user data was replaced. User data runs as root when the instance starts, so an "
        "intruder stops an instance, changes it and starts it again to run code with the instance role. "
        "Check the instance in the context, whether a stop/start followed, and compare the user data "
        "(DescribeInstanceAttribute) with the launch template or infrastructure code. If not planned: stop "
        "the instance, restore the user data, inspect the instance and rotate what its role could reach. "
        "Refused calls and AWS's own activity are not reported; a change a service such as CloudFormation made "
        "for someone names the service (made_through)."
    ),
    match=match,
    events=frozenset({("ec2.amazonaws.com", "ModifyInstanceAttribute")}),
    group_by=ACTOR,
)
