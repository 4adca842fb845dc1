"""Parse the SQS message shapes that announce new CloudTrail objects (pure, no I/O).

Accepted shapes, each optionally wrapped in an SNS envelope
(`{"Type": "Notification", "Message": "<json>"}`):

1. CloudTrail's own notification: `{"s3Bucket": "b", "s3ObjectKey": ["k1", ...]}`; keys are plain.
2. S3 event notification: `{"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
   "s3": {"bucket": {"name": ...}, "object": {"key": ..., "size": ...}}}]}`; keys are URL-encoded
   with `+` for space, so they go through `unquote_plus`.
3. EventBridge "Object Created": `{"source": "aws.s3", "detail-type": "Object Created",
   "detail": {"bucket": {"name": ...}, "object": {"key": ..., "size": ...}}}`; keys are plain.

`s3:TestEvent`, SNS subscription confirmations and S3 events other than object
creation parse to a message with no objects and a `skipped` reason, so the
caller acknowledges them. Anything else raises `MessageError` with a short
reason (never the body: it is untrusted and may be large).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import orjson

SNS_CONTROL_TYPES = frozenset({"SubscriptionConfirmation", "UnsubscribeConfirmation"})
MAX_KEY_LENGTH = 1024  # S3's own limit; longer is not an S3 key


class MessageError(ValueError):
    """The message is not one of the accepted shapes; `reason` is a short fixed category."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ObjectRef:
    bucket: str
    key: str
    size: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    shape: str  # "cloudtrail", "s3-event", "eventbridge", "test-event", "sns-control"
    objects: tuple[ObjectRef, ...] = ()
    sns_wrapped: bool = False
    # Why nothing is to be read, when `objects` is empty on purpose: "test_event", "sns_control", "other_event".
    skipped: str | None = None
    ignored_records: int = 0  # S3 records that are not object creations (deletes, restores, ...)
    invalid_records: list[str] = field(default_factory=list)  # why individual records were unreadable


def parse_message(body: str | bytes) -> ParsedMessage:
    document = _json(body, "body")
    wrapped = False
    kind = document.get("Type")
    if kind == "Notification" and "Message" in document:
        inner = document["Message"]
        if not isinstance(inner, str):
            raise MessageError("bad_sns", "SNS Message is not a string")
        document = _json(inner, "SNS Message")
        wrapped = True
    elif isinstance(kind, str) and kind in SNS_CONTROL_TYPES:
        return ParsedMessage(shape="sns-control", sns_wrapped=True, skipped="sns_control")
    parsed = _parse_inner(document)
    if wrapped:
        return ParsedMessage(parsed.shape, parsed.objects, True, parsed.skipped, parsed.ignored_records,
                             parsed.invalid_records)
    return parsed


def _json(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise MessageError("not_json", f"{what} is not JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise MessageError("not_object", f"{what} is JSON {type(value).__name__}, not an object")
    return value


def _parse_inner(document: dict[str, Any]) -> ParsedMessage:
    if document.get("Event") == "s3:TestEvent":
        return ParsedMessage(shape="test-event", skipped="test_event")
    if "s3ObjectKey" in document or "s3Bucket" in document:
        return _cloudtrail(document)
    if "Records" in document:
        return _s3_event(document)
    if "detail-type" in document and "detail" in document:
        return _eventbridge(document)
    raise MessageError("unknown_shape", "not a CloudTrail, S3 or EventBridge notification")


def _cloudtrail(document: dict[str, Any]) -> ParsedMessage:
    bucket = _bucket_name(document.get("s3Bucket"))
    keys = document.get("s3ObjectKey")
    if isinstance(keys, str):  # tolerate a single key
        keys = [keys]
    if not isinstance(keys, list) or not keys:
        raise MessageError("bad_cloudtrail", "s3ObjectKey is not a non-empty list")
    objects: list[ObjectRef] = []
    invalid: list[str] = []
    for index, key in enumerate(keys):
        if _valid_key(key):
            objects.append(ObjectRef(bucket, key))
        else:
            invalid.append(f"s3ObjectKey[{index}] is not an S3 key")
    if not objects:
        raise MessageError("bad_cloudtrail", "; ".join(invalid))
    return ParsedMessage(shape="cloudtrail", objects=tuple(objects), invalid_records=invalid)


def _s3_event(document: dict[str, Any]) -> ParsedMessage:
    records = document.get("Records")
    if not isinstance(records, list):
        raise MessageError("bad_s3_event", "Records is not a list")
    objects: list[ObjectRef] = []
    invalid: list[str] = []
    ignored = 0
    for index, record in enumerate(records):
        if not isinstance(record, dict) or record.get("eventSource") != "aws:s3":
            invalid.append(f"Records[{index}] is not an aws:s3 record")
            continue
        name = record.get("eventName")
        if not isinstance(name, str) or not name.startswith("ObjectCreated:"):
            ignored += 1
            continue
        s3 = record.get("s3")
        try:
            if not isinstance(s3, dict):
                raise MessageError("bad_s3_event", "no s3 section")
            ref = _object(s3.get("bucket"), s3.get("object"), encoded=True)
        except MessageError as exc:
            invalid.append(f"Records[{index}]: {exc.detail}")
            continue
        objects.append(ref)
    if not objects and invalid:
        raise MessageError("bad_s3_event", "; ".join(invalid[:3]))
    if not objects:
        return ParsedMessage(shape="s3-event", skipped="other_event", ignored_records=ignored)
    return ParsedMessage(shape="s3-event", objects=tuple(objects), ignored_records=ignored, invalid_records=invalid)


def _eventbridge(document: dict[str, Any]) -> ParsedMessage:
    if document.get("source") != "aws.s3":
        raise MessageError("bad_eventbridge", "EventBridge event not from aws.s3")
    if document.get("detail-type") != "Object Created":
        return ParsedMessage(shape="eventbridge", skipped="other_event", ignored_records=1)
    detail = document.get("detail")
    if not isinstance(detail, dict):
        raise MessageError("bad_eventbridge", "detail is not an object")
    try:
        ref = _object(detail.get("bucket"), detail.get("object"), encoded=False)
    except MessageError as exc:
        raise MessageError("bad_eventbridge", exc.detail) from None
    return ParsedMessage(shape="eventbridge", objects=(ref,))


def _object(bucket: Any, obj: Any, *, encoded: bool) -> ObjectRef:
    if not isinstance(bucket, dict) or not isinstance(obj, dict):
        raise MessageError("bad_object", "bucket or object section missing")
    name = _bucket_name(bucket.get("name"))
    key = obj.get("key")
    if not isinstance(key, str):
        raise MessageError("bad_object", "object key missing")
    if encoded:
        key = unquote_plus(key)
    if not _valid_key(key):
        raise MessageError("bad_object", "object key is not an S3 key")
    size = obj.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        size = None
    return ObjectRef(name, key, size)


def _bucket_name(value: Any) -> str:
    # S3 bucket names are 3-63 characters; anything else cannot be fetched.
    if not isinstance(value, str) or not 3 <= len(value) <= 63 or "/" in value:
        raise MessageError("bad_bucket", "bucket name missing or invalid")
    return value


def _valid_key(key: Any) -> bool:
    return isinstance(key, str) and 0 < len(key.encode("utf-8", "surrogatepass")) <= MAX_KEY_LENGTH
