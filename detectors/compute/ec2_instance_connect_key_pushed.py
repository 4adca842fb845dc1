"""An SSH public key pushed to an instance through EC2 Instance Connect (medium) or the serial console (high)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import changed_by_someone
from detectors._common import ACTOR, call_name
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

SOURCE = "ec2-instance-connect.amazonaws.com"
SERIAL = "SendSerialConsoleSSHPublicKey"


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not changed_by_someone(event):
        return None
    req = event.request()
    context: dict[str, Any] = {"call": call_name(event), "instance": clip(f.nested_text(req, "instanceId"), 64),
                               "os_user": clip(f.nested_text(req, "instanceOSUser"), 64)}
    if event.eventName == SERIAL:
        serial_port = req.get("serialPort")
        context["serial_port"] = serial_port if type(serial_port) is int else None
        return Hit(severity=Severity.HIGH, title="SSH key pushed for the EC2 serial console", context=context)
    return Hit(context=context)


DETECTOR = Detector(
    id="ec2-instance-connect-key-pushed",
    title="SSH key pushed through EC2 Instance Connect",
    severity=Severity.MEDIUM,
    mitre=("T1098.004", "T1021.004"),
    runbook=(
        "Someone pushed a temporary SSH key to an instance: anyone with ec2-instance-connect rights can log "
        "in to any instance that runs the agent, without the instance's own keys. The serial console "
        "reaches the instance even with networking down and is rarely used. Check the instance and OS user "
        "in the context and confirm with the caller. If unexpected: revoke the caller's credentials, look "
        "at the instance's login and process history, and restrict ec2-instance-connect:SendSSHPublicKey "
        "with conditions on ec2:osuser and resource tags. Refused calls and AWS-made calls are not reported."
    ),
    match=match,
    events=frozenset({(SOURCE, "SendSSHPublicKey"), (SOURCE, SERIAL)}),
    group_by=ACTOR,
)
