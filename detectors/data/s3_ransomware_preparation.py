"""S3 ransomware preparation: recovery removed from a bucket, or objects rewritten with a key the owner lacks.

High: versioning suspended or MFA Delete disabled (PutBucketVersioning), a bucket deleted, default encryption
removed (DeleteBucketEncryption), an enabled lifecycle rule expiring every object or every old version
within 7 days (PutBucketLifecycle; PutBucketLifecycleConfiguration is recorded under that name).
Critical: an object written or copied with a customer-provided key (SSE-C: the owner cannot read it back
without the attacker's key) or with another account's KMS key (PutObject, CopyObject,
CreateMultipartUpload data events), default encryption set to another account's KMS key
(PutBucketEncryption), and one DeleteObjects naming at least `many_keys` objects.

CloudTrail has long left DeleteObjects' keys out of the record; where a record names them (`delete.Object`
or the event's AWS::S3::Object resources) they are counted, and s3-mass-object-deletion counts the calls.
A lifecycle rule of this kind is reported here, not by s3-bucket-policy-changed (which reports the rest).

Params: `many_keys` (500), `sse_c_buckets` (bucket globs where SSE-C is expected; default none),
`trusted_accounts` (accounts whose KMS keys may encrypt this account's objects; default none).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import changed_by_someone, events, scalar
from detectors._common import ACTOR, call_name
from detectors._fields import account_of, as_list, matches_any, param, positive_int, strings
from detectors.data._s3 import expiring_everything
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

S3 = "s3.amazonaws.com"
_WRITES = frozenset({"PutObject", "CopyObject", "CreateMultipartUpload"})
_CALLS = _WRITES | {"PutBucketVersioning", "DeleteBucket", "DeleteBucketEncryption", "PutBucketEncryption",
                    "PutBucketLifecycle", "DeleteObjects"}
_SSE_C = "x-amz-server-side-encryption-customer-algorithm"
_KMS_KEY = "x-amz-server-side-encryption-aws-kms-key-id"


def _versioning(req: Mapping[str, Any]) -> list[str]:
    config = req.get("VersioningConfiguration")
    config = config if type(config) is dict else {}
    found = []
    if scalar(config.get("Status")) == "Suspended":
        found.append("versioning suspended")
    mfa = scalar(config.get("MfaDelete") or config.get("MFADelete"))
    if mfa == "Disabled" or scalar(req.get("mfaDeleteEnabled")) == "false":
        found.append("MFA Delete disabled")
    return found


def _header(req: Mapping[str, Any], name: str) -> str:
    """A request header CloudTrail copied into requestParameters, whatever its case."""
    value = req.get(name)
    if value is None:
        for key, item in list(req.items())[:200]:
            if type(key) is str and key.lower() == name:
                value = item
                break
    return scalar(value)


def _foreign(key_id: str, own: str, params: Mapping[str, Any]) -> str:
    """The account of a KMS key ARN when it is neither this account nor a trusted one; "" otherwise."""
    owner = account_of(key_id)
    if not owner or owner == own or owner in strings(param(params, "trusted_accounts", [])):
        return ""
    return owner


def _default_kms_key(req: Mapping[str, Any]) -> str:
    """The KMS key a PutBucketEncryption request makes the bucket's default."""
    config = req.get("ServerSideEncryptionConfiguration")
    rules = config.get("Rule") if type(config) is dict else None
    for rule in as_list(rules):
        default = rule.get("ApplyServerSideEncryptionByDefault") if type(rule) is dict else None
        if type(default) is dict and scalar(default.get("KMSMasterKeyID")):
            return scalar(default.get("KMSMasterKeyID"))
    return ""


def _keys_named(event: Event, req: Mapping[str, Any]) -> int:
    """How many objects one DeleteObjects names, where the record says: the request body, else resources."""
    for name in ("delete", "Delete"):
        body = req.get(name)
        if type(body) is dict:
            objects = body.get("Object", body.get("Objects"))
            if objects is not None:
                return len(as_list(objects))
    return sum(1 for item in event.resource_list()
               if type(item) is dict and item.get("type") == "AWS::S3::Object")


def _verdict(event: Event, req: Mapping[str, Any], params: Mapping[str, Any],
             ctx: dict[str, Any]) -> tuple[Severity, str] | None:
    name = event.eventName
    if name == "PutBucketVersioning":
        found = _versioning(req)
        if not found:
            return None
        ctx["changes"] = found
        return Severity.HIGH, "S3 bucket " + " and ".join(found)
    if name == "DeleteBucket":
        return Severity.HIGH, "S3 bucket deleted"
    if name == "DeleteBucketEncryption":
        return Severity.HIGH, "S3 bucket default encryption removed"
    if name == "PutBucketLifecycle":
        found = expiring_everything(dict(req), event.eventTime)
        if not found:
            return None
        ctx["expires"] = found
        return Severity.HIGH, "S3 lifecycle rule expires the whole bucket"
    own = f.account(event)
    if name == "PutBucketEncryption":
        key = _default_kms_key(req)
        owner = _foreign(key, own, params)
        if not owner:
            return None
        ctx.update(kms_key=clip(key, 256), key_account=owner)
        return Severity.CRITICAL, "S3 default encryption set to another account's KMS key"
    if name == "DeleteObjects":
        count = _keys_named(event, req)
        if count < positive_int(params.get("many_keys"), 500):
            return None
        ctx["objects"] = count
        return Severity.CRITICAL, "Mass deletion of S3 objects"
    # Object writes: a key the bucket owner does not hold.
    ctx["object"] = clip(scalar(req.get("key")), 256)
    if _header(req, _SSE_C) or f.nested_text(event.additional(), "SSEApplied") == "SSE_C":
        if matches_any(str(ctx["bucket"]), param(params, "sse_c_buckets", [])):
            return None
        ctx["encryption"] = "SSE-C"
        return Severity.CRITICAL, "S3 objects encrypted with a customer-provided key (SSE-C)"
    key = _header(req, _KMS_KEY)
    owner = _foreign(key, own, params)
    if not owner:
        return None
    ctx.update(encryption="SSE-KMS", kms_key=clip(key, 256), key_account=owner)
    return Severity.CRITICAL, "S3 objects encrypted with another account's KMS key"


def _plain_write(event: Event) -> bool:
    """An object write naming no encryption header: the common case, told without decoding JSON.

    PutObject is the busiest data event. The SSE-C and KMS key headers both contain "encryption-", and
    CloudTrail copies them into requestParameters (in lower case) on every write that sends them.
    """
    request = bytes(event.requestParameters)
    return b"ncryption-" not in request and b"NCRYPTION-" not in request


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.eventName in _WRITES and _plain_write(event):
        return None
    if not changed_by_someone(event):
        return None
    req = event.request()
    ctx: dict[str, Any] = {"call": call_name(event), "region": clip(event.awsRegion, 64),
                           "bucket": clip(scalar(req.get("bucketName")), 256)}
    found = _verdict(event, req, params, ctx)
    if found is None:
        return None
    severity, title = found
    return Hit(severity=severity, title=title, context=ctx)


DETECTOR = Detector(
    id="s3-ransomware-preparation",
    title="S3 ransomware preparation",
    severity=Severity.HIGH,
    mitre=("T1486", "T1490", "T1485"),
    runbook=(
        "Someone removed a bucket's ways back (versioning suspended, MFA Delete off, default encryption "
        "removed, a lifecycle rule expiring every object or old version within days, the bucket deleted) or "
        "rewrote objects with a key the owner does not hold (SSE-C, another account's KMS key), or deleted "
        "objects en masse: the steps of S3 ransomware. Context: bucket, call, and what changed. If "
        "unexpected: block the principal at once (revoke its sessions and keys), restore versioning and "
        "remove the lifecycle rule, check GetBucketVersioning and the object versions still present, and "
        "look for a ransom note object. Objects encrypted with SSE-C cannot be read back without the "
        "attacker's key: restore from replicas or backups. Refused calls and AWS's own activity are left "
        "out; calls made through CloudFormation or another service still alert."
    ),
    match=match,
    events=events(S3, _CALLS),
    group_by=ACTOR,
    params={"many_keys": 500, "sse_c_buckets": [], "trusted_accounts": []},
)
