"""An IAM Roles Anywhere trust anchor created or updated: a certificate authority that can obtain role credentials."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import changed_by_someone
from detectors._common import ACTOR, call_name
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

SOURCE = "rolesanywhere.amazonaws.com"


def _anchor_arn(event: Event) -> str:
    anchor = event.response().get("trustAnchor")
    return f.nested_text(anchor, "trustAnchorArn") if type(anchor) is dict else ""


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not changed_by_someone(event):
        return None
    req = event.request()
    source = req.get("source")
    source_type = f.nested_text(source, "sourceType") if type(source) is dict else ""
    # The certificate bundle itself is public material but long; only its kind goes into the alert.
    return Hit(context={"call": call_name(event), "name": clip(f.nested_text(req, "name"), 128),
                        "trust_anchor": clip(_anchor_arn(event) or f.nested_text(req, "trustAnchorId"), 256),
                        "source_type": clip(source_type, 64)})


DETECTOR = Detector(
    id="roles-anywhere-trust-anchor-created",
    title="IAM Roles Anywhere trust anchor created or changed",
    severity=Severity.HIGH,
    mitre=("T1098", "T1556"),
    runbook=(
        "A Roles Anywhere trust anchor was created or its certificate source changed: whoever holds a "
        "certificate from that authority can get credentials for the roles its profiles allow, from anywhere, "
        "for as long as the anchor exists. Check the anchor (context), its source (certificate bundle or an "
        "ACM private CA) and the profiles and roles that trust it. If not planned: disable the anchor "
        "(DisableTrustAnchor), delete it, review the roles' trust policies for rolesanywhere.amazonaws.com "
        "and what those roles did since. Refused calls and AWS-made calls are not reported."
    ),
    match=match,
    events=frozenset({(SOURCE, "CreateTrustAnchor"), (SOURCE, "UpdateTrustAnchor")}),
    group_by=ACTOR,
)
