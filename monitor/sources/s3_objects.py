"""Reading CloudTrail objects from S3, shared by the `s3-sqs` and `s3-poll` sources.

`classify_key` decides which keys are worth a GetObject:

- digest files (`CloudTrail-Digest/` folder or `_CloudTrail-Digest_` in the name) are skipped: they hold
  hashes, not events;
- a CloudTrail log is a key ending `.json.gz` or `.json` whose path has a `CloudTrail` folder
  (`[prefix/]AWSLogs/[o-xxx/]<account>/CloudTrail/<region>/YYYY/MM/DD/...`) or whose file name carries
  CloudTrail's `_CloudTrail_` marker. Insight files (`CloudTrail-Insight/`) are not logs of API calls;
- with `key_prefixes` configured the operator has said where the logs are, so any `.json`, `.json.gz`,
  `.jsonl` or `.gz` key under one of them is accepted, whatever its layout (custom exports), and keys
  outside them are skipped.

`get_object` downloads one object with its size and landing time; `classify_error` sorts the failures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from monitor.aws.backoff import error_code, is_throttle

LOG_SUFFIXES = (".json.gz", ".json")
CUSTOM_SUFFIXES = (".json.gz", ".json", ".jsonl", ".jsonl.gz", ".gz")
# CloudTrail files are a few MB at most; refuse anything absurd before reading it into memory.
MAX_OBJECT_BYTES = 128 * 1024 * 1024  # CloudTrail objects are gzip a few MB in size: larger is not CloudTrail

MISSING_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "404", "NotFound"})
DENIED_CODES = frozenset({"AccessDenied", "403", "Forbidden", "KMS.AccessDeniedException", "InvalidObjectState",
                          "AllAccessDisabled"})


def classify_key(key: str, key_prefixes: tuple[str, ...] = ()) -> str | None:
    """None for a CloudTrail log to read, else the skip reason: "digest" or "not_cloudtrail"."""
    folders = key.split("/")
    name = folders[-1]
    if "CloudTrail-Digest" in folders[:-1] or "_CloudTrail-Digest_" in name:
        return "digest"
    if key_prefixes:
        if not key.startswith(key_prefixes):
            return "not_cloudtrail"
        return None if name.endswith(CUSTOM_SUFFIXES) else "not_cloudtrail"
    if not name.endswith(LOG_SUFFIXES):
        return "not_cloudtrail"
    if "CloudTrail" in folders[:-1] or "_CloudTrail_" in name:
        return None
    return "not_cloudtrail"


class ObjectTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"object is {size} bytes, over the {MAX_OBJECT_BYTES} byte limit")
        self.size = size


@dataclass(frozen=True, slots=True)
class S3Object:
    bucket: str
    key: str
    data: bytes
    landed_at: float | None  # LastModified, epoch seconds

    @property
    def origin(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


async def get_object(client: Any, bucket: str, key: str, *, max_bytes: int = MAX_OBJECT_BYTES) -> S3Object:
    """GetObject and read the whole body. Raises botocore ClientError or ObjectTooLarge."""
    response = await client.get_object(Bucket=bucket, Key=key)
    async with response["Body"] as body:  # closes the connection on every path
        size = response.get("ContentLength")
        if isinstance(size, int) and size > max_bytes:
            raise ObjectTooLarge(size)
        data: bytes = await body.read()
    if len(data) > max_bytes:
        raise ObjectTooLarge(len(data))
    return S3Object(bucket, key, data, epoch(response.get("LastModified")))


def epoch(value: Any) -> float | None:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return float(value.timestamp())
    return None


def classify_error(exc: BaseException) -> str:
    """"throttle", "missing" (the object or bucket is gone), "denied", "too_large" or "error"."""
    if isinstance(exc, ObjectTooLarge):
        return "too_large"
    if is_throttle(exc):
        return "throttle"
    code = error_code(exc)
    if code in MISSING_CODES:
        return "missing"
    if code in DENIED_CODES:
        return "denied"
    return "error"
