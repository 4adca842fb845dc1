"""An S3 bucket or the whole account opened to the public.

Fires on: a public access block removed, or set with any of its four flags false; a bucket ACL granting
AllUsers or AuthenticatedUsers (canned public-read / public-read-write / authenticated-read, grant
headers, or grants in AccessControlPolicy); a bucket policy with an Allow to "Principal": "*" (or
{"AWS": "*"}) without a condition that restricts who can use it.

Params: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import ACTOR, aws_own, call_name, targets
from detectors._iam_policy import parse_document, strings
from detectors._resource_policy import bucket_policy_open
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

_S3 = "s3.amazonaws.com"
_CALLS = (
    "DeleteBucketPublicAccessBlock", "DeletePublicAccessBlock", "DeleteAccountPublicAccessBlock",
    "PutBucketPublicAccessBlock", "PutAccountPublicAccessBlock", "PutBucketAcl", "PutBucketPolicy",
)
_PUBLIC_GROUPS = ("acs.amazonaws.com/groups/global/AllUsers", "acs.amazonaws.com/groups/global/AuthenticatedUsers")
_PUBLIC_CANNED = frozenset({"public-read", "public-read-write", "authenticated-read"})
_BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
_MAX_DEPTH = 8


def _mentions_public_group(value: object, depth: int = 0) -> bool:
    """Any string inside the request names the AllUsers or AuthenticatedUsers group (bounded walk)."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(value, str):
        return any(group in value for group in _PUBLIC_GROUPS)
    if isinstance(value, dict):
        return any(_mentions_public_group(v, depth + 1) for v in list(value.values())[:200])
    if isinstance(value, list):
        return any(_mentions_public_group(v, depth + 1) for v in value[:200])
    return False


def _find_key(value: object, key: str, depth: int = 0) -> object:
    """The first value under `key` (case-insensitive) anywhere in nested objects, or None."""
    if depth > _MAX_DEPTH or not isinstance(value, dict):
        return None
    for name, item in value.items():
        if isinstance(name, str) and name.lower() == key.lower():
            return item
    for item in list(value.values())[:50]:
        found = _find_key(item, key, depth + 1)
        if found is not None:
            return found
    return None


def _false(value: object) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def public_reason(name: str, request: Mapping[str, Any]) -> str | None:
    if name.startswith("Delete"):
        return "public access block removed"
    if name in ("PutBucketPublicAccessBlock", "PutAccountPublicAccessBlock"):
        config = _find_key(dict(request), "PublicAccessBlockConfiguration")
        off = [flag for flag in _BLOCK_FLAGS if _false(_find_key(config, flag))]
        return f"public access block flags off: {', '.join(off)}" if off else None
    if name == "PutBucketAcl":
        canned = {c.strip().lower() for c in strings(request.get("x-amz-acl"))}
        if canned & _PUBLIC_CANNED:
            return f"canned ACL {', '.join(sorted(canned & _PUBLIC_CANNED))}"
        return "ACL grants AllUsers or AuthenticatedUsers" if _mentions_public_group(dict(request)) else None
    if bucket_policy_open(parse_document(request.get("bucketPolicy"))):
        return "bucket policy allows Principal * without a restricting condition"
    return None


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode or aws_own(event):
        return None
    request = event.request()
    reason = public_reason(event.eventName, request)
    if reason is None:
        return None
    bucket = f.nested_text(request, "bucketName")
    named = targets(("bucket", bucket)) if bucket else targets(("account", f.account(event)))
    return Hit(context={"call": call_name(event), "bucket": clip(bucket or "(account-wide)", 256),
                        "change": clip(reason, 300), **named})


DETECTOR = Detector(
    id="s3-bucket-made-public",
    title="S3 bucket made public",
    severity=Severity.HIGH,
    mitre=("T1530", "T1537", "T1562.001"),
    runbook=(
        "A bucket (or, with no bucket in the context, the whole account) lost its public access block or got "
        "a public ACL or a bucket policy open to everyone. Check the bucket and change (context), what data "
        "it holds and who made the change. If not intended: restore the public access block (account and "
        "bucket), remove the public grant or statement, and review S3 data events or server access logs for "
        "reads by unknown principals since. Policies whose \"*\" principal is limited by a source IP, VPC, "
        "organization or account condition, and changes made by AWS services, are excluded."
    ),
    match=match,
    events=frozenset((_S3, name) for name in _CALLS),
    group_by=ACTOR,
    episode_seconds=3600,
)
