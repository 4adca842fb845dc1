"""An EBS snapshot, AMI, FPGA image or RDS snapshot made public or shared with another account.

Public (group "all" / value "all"): critical. Shared with another account: high.
Shares with the caller's own account, organization or OU shares, and removals are not reported.
Params: `trusted_accounts` (list of 12-digit account ids whose shares are expected; default empty).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import changed_by_someone
from detectors._common import ACTOR, call_name, targets
from detectors._fields import account_of, short_list, strings, walk
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

EC2 = "ec2.amazonaws.com"
RDS = "rds.amazonaws.com"

# The permission block of each EC2 call, and the key naming the resource.
_EC2_CALLS = {
    "ModifySnapshotAttribute": ("createVolumePermission", "snapshotId"),
    "ModifyImageAttribute": ("launchPermission", "imageId"),
    "ModifyFpgaImageAttribute": ("loadPermission", "fpgaImageId"),
}
_RDS_CALLS = {
    "ModifyDBSnapshotAttribute": "dBSnapshotIdentifier",
    "ModifyDBClusterSnapshotAttribute": "dBClusterSnapshotIdentifier",
}
# The kind of target each call shares (context "targets": "image:ami-0abc", "db-snapshot:prod-final").
_TARGET_KINDS = {"ModifySnapshotAttribute": "snapshot", "ModifyImageAttribute": "image",
                 "ModifyFpgaImageAttribute": "fpga-image", "ModifyDBSnapshotAttribute": "db-snapshot",
                 "ModifyDBClusterSnapshotAttribute": "db-cluster-snapshot"}
_GROUP_KEYS = frozenset({"group", "groups", "userGroup", "userGroups"})
_USER_KEYS = frozenset({"userId", "userIds"})


def _ec2_grantees(req: dict[str, Any], block: str) -> tuple[bool, list[str]]:
    """(made public, account ids added) from the "add" part of an EC2 permission change."""
    added: list[Any] = []
    permission = req.get(block)
    if type(permission) is dict:
        added.append(permission.get("add"))
    # The flat form of the API: operationType "add" with userId / userGroup lists.
    if str(req.get("operationType", "")).lower() == "add":
        added.extend(req.get(key) for key in (*_GROUP_KEYS, *_USER_KEYS))
    public = False
    accounts: list[str] = []
    for part in added:
        for key, value in walk({"add": part}):
            if key in _GROUP_KEYS and "all" in strings(value):
                public = True
            elif key in _USER_KEYS:
                accounts.extend(s for s in strings(value) if account_of(s))
    return public, accounts


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not changed_by_someone(event):
        return None
    req = event.request()
    name = event.eventName
    if event.eventSource == RDS:
        if f.nested_text(req, "attributeName").lower() != "restore":
            return None
        values = strings(req.get("valuesToAdd"))
        public = "all" in values
        accounts = [v for v in values if account_of(v)]
        resource = f.nested_text(req, _RDS_CALLS.get(name, ""))
    else:
        block, resource_key = _EC2_CALLS.get(name, ("", ""))
        public, accounts = _ec2_grantees(req, block)
        resource = f.nested_text(req, resource_key)
    own = f.account(event)
    trusted = set(strings(params.get("trusted_accounts")))
    outside = sorted({a for a in accounts if a != own and a not in trusted})
    if not public and not outside:
        return None
    context = {"call": call_name(event), "resource": clip(resource, 256), "public": public,
               "shared_with": short_list(outside), **targets((_TARGET_KINDS.get(name, "resource"), resource))}
    if public:
        return Hit(severity=Severity.CRITICAL, title="Snapshot or image made public", context=context)
    return Hit(severity=Severity.HIGH, title="Snapshot or image shared with another account", context=context)


DETECTOR = Detector(
    id="snapshot-or-image-shared",
    title="Snapshot or image shared outside the account",
    severity=Severity.HIGH,
    mitre=("T1537",),
    runbook=(
        "A disk snapshot, machine image or database snapshot was made public or shared with another account: "
        "a common way to copy data out, since the other account can restore it in full. Check the resource "
        "and accounts in the context against your known accounts (backup, DR, partners). If not planned, "
        "remove the permission at once (ModifySnapshotAttribute/ModifyImageAttribute remove, or "
        "ModifyDBSnapshotAttribute valuesToRemove), assume the data was copied, and review the caller's other "
        "calls. Calls made by AWS services, refused calls, removals and shares within the organization are "
        "not reported; add expected partner accounts to trusted_accounts."
    ),
    match=match,
    events=frozenset({(EC2, name) for name in _EC2_CALLS} | {(RDS, name) for name in _RDS_CALLS}),
    group_by=ACTOR,
    params={"trusted_accounts": []},
)
