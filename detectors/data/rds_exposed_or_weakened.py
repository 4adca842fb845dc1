"""An RDS database exposed to the internet, copied out, or stripped of what would let it be recovered.

Critical: an instance or cluster made publicly accessible (created, restored or modified with
`publiclyAccessible` true; for creations and restores the response counts too, since the default depends on
the subnet), and a snapshot export encrypted with another account's KMS key.
High: a snapshot exported to S3 (StartExportTask: the bucket's owner is not in the record), deletion
protection turned off, automated backups deleted (DeleteDBInstanceAutomatedBackup,
DeleteDBClusterAutomatedBackup, backupRetentionPeriod 0, or a database deleted without a final snapshot
while its automated backups go with it), the master password changed (ModifyDBInstance / ModifyDBCluster
naming `masterUserPassword`; CloudTrail hides the value and the alert never carries it), a database
activity stream stopped.

Snapshots shared with another account or made public (ModifyDBSnapshotAttribute,
ModifyDBClusterSnapshotAttribute) are snapshot-or-image-shared's, not reported here.
Params: `trusted_accounts` (accounts whose KMS keys may encrypt exports; default none).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import changed_by_someone, events, scalar
from detectors._common import ACTOR, call_name
from detectors._fields import account_of, param, strings
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

RDS = "rds.amazonaws.com"
_MODIFY = frozenset({"ModifyDBInstance", "ModifyDBCluster"})
# Calls that bring a database into being: its response tells whether it ended up public.
_CREATE = frozenset({
    "CreateDBInstance", "CreateDBInstanceReadReplica", "CreateDBCluster", "RestoreDBInstanceFromDBSnapshot",
    "RestoreDBInstanceToPointInTime", "RestoreDBInstanceFromS3", "RestoreDBClusterFromSnapshot",
    "RestoreDBClusterToPointInTime", "RestoreDBClusterFromS3",
})
_DELETE = frozenset({"DeleteDBInstance", "DeleteDBCluster"})
_BACKUP_DELETES = frozenset({"DeleteDBInstanceAutomatedBackup", "DeleteDBClusterAutomatedBackup"})
_OTHER = frozenset({"StartExportTask", "StopActivityStream"})
# Where each call names the database, snapshot or backup it acts on, in order of preference.
_TARGET_FIELDS = ("dBInstanceIdentifier", "dBClusterIdentifier", "sourceArn", "resourceArn", "dbiResourceId",
                  "dbClusterResourceId", "dBInstanceAutomatedBackupsArn", "dBClusterAutomatedBackupsArn")


def _true(value: Any) -> bool:
    return value is True or (type(value) is str and value.strip().lower() == "true")


def _false(value: Any) -> bool:
    return value is False or (type(value) is str and value.strip().lower() == "false")


def _target(req: Mapping[str, Any]) -> str:
    for name in _TARGET_FIELDS:
        found = scalar(req.get(name))
        if found:
            return found
    return ""


def _modify_findings(req: Mapping[str, Any]) -> list[tuple[Severity, str]]:
    found: list[tuple[Severity, str]] = []
    if _true(req.get("publiclyAccessible")):
        found.append((Severity.CRITICAL, "made publicly accessible"))
    if _false(req.get("deletionProtection")):
        found.append((Severity.HIGH, "deletion protection turned off"))
    if scalar(req.get("backupRetentionPeriod")) == "0":
        found.append((Severity.HIGH, "automated backups turned off"))
    if "masterUserPassword" in req:
        found.append((Severity.HIGH, "master password changed"))
    return found


def _export(event: Event, req: Mapping[str, Any], params: Mapping[str, Any],
            ctx: dict[str, Any]) -> list[tuple[Severity, str]]:
    ctx["s3_bucket"] = clip(scalar(req.get("s3BucketName")), 256)
    key = scalar(req.get("kmsKeyId"))
    owner = account_of(key)
    trusted = strings(param(params, "trusted_accounts", []))
    if owner and owner != f.account(event) and owner not in trusted:
        ctx.update(kms_key=clip(key, 256), key_account=owner)
        return [(Severity.CRITICAL, "snapshot exported with another account's KMS key")]
    return [(Severity.HIGH, "snapshot exported to S3")]


def _findings(event: Event, req: Mapping[str, Any], params: Mapping[str, Any],
              ctx: dict[str, Any]) -> list[tuple[Severity, str]]:
    name = event.eventName
    if name in _MODIFY:
        return _modify_findings(req)
    if name in _CREATE:
        public = _true(req.get("publiclyAccessible")) or _true(event.response().get("publiclyAccessible"))
        return [(Severity.CRITICAL, "made publicly accessible")] if public else []
    if name in _DELETE:
        # deleteAutomatedBackups defaults to true: only an explicit false keeps them.
        if _true(req.get("skipFinalSnapshot")) and not _false(req.get("deleteAutomatedBackups")):
            return [(Severity.HIGH, "deleted with no final snapshot and its automated backups")]
        return []
    if name in _BACKUP_DELETES:
        return [(Severity.HIGH, "automated backups deleted")]
    if name == "StartExportTask":
        return _export(event, req, params, ctx)
    if name == "StopActivityStream":
        return [(Severity.HIGH, "activity stream stopped")]
    return []


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not changed_by_someone(event):
        return None
    req = event.request()
    ctx: dict[str, Any] = {"call": call_name(event), "region": clip(event.awsRegion, 64),
                           "target": clip(_target(req), 256)}
    found = _findings(event, req, params, ctx)
    if not found:
        return None
    severity = max(level for level, _ in found)
    ctx["changes"] = [reason for _, reason in found]
    title = "RDS database " + found[0][1] if len(found) == 1 else "RDS database " + ", ".join(ctx["changes"])
    return Hit(severity=severity, title=clip(title, 200), context=ctx)


DETECTOR = Detector(
    id="rds-exposed-or-weakened",
    title="RDS database exposed or its recovery weakened",
    severity=Severity.HIGH,
    mitre=("T1537", "T1490", "T1098", "T1562.008"),
    runbook=(
        "A database was made reachable from the internet, a snapshot was exported to S3, or what protects and "
        "recovers it was removed: deletion protection, automated backups, the final snapshot, the activity "
        "stream; or its master password was reset (a way in for whoever reset it). Context: the call, the "
        "database or snapshot (target) and the changes. If unexpected: set publiclyAccessible false and "
        "check the security groups, cancel the export task (CancelExportTask) and find the bucket's owner, "
        "turn deletion protection and backups back on, reset the master password and rotate what used it, "
        "and review the caller's other calls. Snapshot shares are reported by snapshot-or-image-shared. "
        "Refused calls and AWS's own activity are left out; calls made through CloudFormation still alert."
    ),
    match=match,
    events=events(RDS, _MODIFY | _CREATE | _DELETE | _BACKUP_DELETES | _OTHER),
    group_by=ACTOR,
    params={"trusted_accounts": []},
)
