"""Parsing of SQS notification bodies and the CloudTrail key checks (pure, no AWS)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.sources.s3_messages import MessageError, ObjectRef, ParsedMessage, parse_message
from monitor.sources.s3_objects import classify_key

KEY = "AWSLogs/111122223333/CloudTrail/eu-west-1/2026/03/01/111122223333_CloudTrail_eu-west-1_20260301T1205Z_a1.json.gz"


def sns(inner: dict[str, Any] | str) -> str:
    return json.dumps({"Type": "Notification", "MessageId": "x", "Message": inner if isinstance(inner, str)
                       else json.dumps(inner)})


def s3_record(key: str, name: str = "ObjectCreated:Put", bucket: str = "trail-bucket", **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": key, "size": 123}
    obj.update(extra)
    return {"eventSource": "aws:s3", "eventName": name, "s3": {"bucket": {"name": bucket}, "object": obj}}


def test_cloudtrail_notification_in_sns() -> None:
    parsed = parse_message(sns({"s3Bucket": "trail-bucket", "s3ObjectKey": [KEY, KEY.replace("a1", "b2")]}))
    assert parsed.shape == "cloudtrail" and parsed.sns_wrapped
    assert parsed.objects == (ObjectRef("trail-bucket", KEY), ObjectRef("trail-bucket", KEY.replace("a1", "b2")))


def test_cloudtrail_keys_are_not_url_decoded() -> None:
    key = "AWSLogs/1/CloudTrail/x/a+b%20c.json.gz"
    parsed = parse_message(json.dumps({"s3Bucket": "trail-bucket", "s3ObjectKey": [key]}))
    assert parsed.objects[0].key == key


@pytest.mark.parametrize("wrap", [False, True])
def test_s3_event_keys_are_url_decoded(wrap: bool) -> None:
    key = "AWSLogs/1/CloudTrail/us-east-1/2026/03/01/a b+c=d%e&f ü.json.gz"
    body = {"Records": [s3_record(quote_plus(key))]}
    parsed = parse_message(sns(body) if wrap else json.dumps(body))
    assert parsed.shape == "s3-event" and parsed.sns_wrapped is wrap
    assert parsed.objects == (ObjectRef("trail-bucket", key, 123),)


def test_s3_event_other_records_are_ignored_and_bad_ones_reported() -> None:
    body = {"Records": [s3_record("a.json.gz", name="ObjectRemoved:Delete"), s3_record("b.json.gz"),
                        {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {}}},
                        "junk"]}
    parsed = parse_message(json.dumps(body))
    assert parsed.objects == (ObjectRef("trail-bucket", "b.json.gz", 123),)
    assert parsed.ignored_records == 1
    assert len(parsed.invalid_records) == 2


def test_s3_event_with_only_deletes_is_skipped() -> None:
    parsed = parse_message(json.dumps({"Records": [s3_record("a.json.gz", name="ObjectRemoved:Delete")]}))
    assert parsed.objects == () and parsed.skipped == "other_event"


def test_eventbridge_object_created() -> None:
    key = "AWSLogs/1/CloudTrail/us-east-1/a b+c.json.gz"  # EventBridge keys are plain
    parsed = parse_message(json.dumps({"source": "aws.s3", "detail-type": "Object Created", "detail": {
        "bucket": {"name": "trail-bucket"}, "object": {"key": key, "size": 5}}}))
    assert parsed.shape == "eventbridge"
    assert parsed.objects == (ObjectRef("trail-bucket", key, 5),)


def test_eventbridge_other_s3_events_are_skipped() -> None:
    parsed = parse_message(json.dumps({"source": "aws.s3", "detail-type": "Object Deleted", "detail": {}}))
    assert parsed.skipped == "other_event"


@pytest.mark.parametrize("wrap", [False, True])
def test_test_event(wrap: bool) -> None:
    body = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "trail-bucket"}
    parsed = parse_message(sns(body) if wrap else json.dumps(body))
    assert parsed.skipped == "test_event" and parsed.objects == ()


def test_sns_subscription_confirmation_is_skipped() -> None:
    parsed = parse_message(json.dumps({"Type": "SubscriptionConfirmation", "Message": "You have chosen..."}))
    assert parsed.skipped == "sns_control"


@pytest.mark.parametrize(("body", "reason"), [
    ("not json", "not_json"),
    ("[1, 2]", "not_object"),
    ("{}", "unknown_shape"),
    (json.dumps({"Type": "Notification", "Message": 5}), "bad_sns"),
    (sns("not json either"), "not_json"),
    (json.dumps({"s3Bucket": "trail-bucket", "s3ObjectKey": []}), "bad_cloudtrail"),
    (json.dumps({"s3Bucket": "x", "s3ObjectKey": ["k"]}), "bad_bucket"),
    (json.dumps({"s3Bucket": "trail-bucket", "s3ObjectKey": [5, ""]}), "bad_cloudtrail"),
    (json.dumps({"Records": "nope"}), "bad_s3_event"),
    (json.dumps({"Records": [{"eventSource": "aws:sqs"}]}), "bad_s3_event"),
    (json.dumps({"Records": [s3_record("k" * 2000)]}), "bad_s3_event"),
    (json.dumps({"source": "aws.ec2", "detail-type": "Object Created", "detail": {}}), "bad_eventbridge"),
    (json.dumps({"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {"name": "bkt"}}}),
     "bad_eventbridge"),
])
def test_unreadable_messages_raise_with_a_reason(body: str, reason: str) -> None:
    with pytest.raises(MessageError) as info:
        parse_message(body)
    assert info.value.reason == reason


@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_arbitrary_input_never_crashes(body: str | bytes) -> None:
    check_total(lambda: parse_message(body))


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                    lambda children: st.lists(children, max_size=3)
                    | st.dictionaries(st.sampled_from(["Records", "s3", "bucket", "object", "key", "name",
                                                       "eventSource", "eventName", "s3Bucket", "s3ObjectKey",
                                                       "detail", "detail-type", "source", "Type", "Message"]),
                                      children, max_size=4),
                    max_leaves=20))
def test_arbitrary_json_shapes_never_crash(document: Any) -> None:
    check_total(lambda: parse_message(json.dumps(document)))


def check_total(parse: Callable[[], ParsedMessage]) -> None:
    """Either a clean MessageError, or a result whose objects are all fetchable references."""
    try:
        parsed = parse()
    except MessageError as exc:
        assert exc.reason
        return
    assert parsed.objects or parsed.skipped
    for ref in parsed.objects:
        assert isinstance(ref.key, str) and ref.key
        assert isinstance(ref.bucket, str) and 3 <= len(ref.bucket) <= 63


@pytest.mark.parametrize(("key", "prefixes", "expected"), [
    (KEY, (), None),
    ("prefix/AWSLogs/o-abc1234567/111122223333/CloudTrail/us-east-1/2026/03/01/x.json.gz", (), None),
    ("AWSLogs/111122223333/CloudTrail/us-east-1/2026/03/01/x.json", (), None),
    ("custom/111122223333_CloudTrail_us-east-1_20260301T1205Z_a1.json.gz", (), None),  # CloudTrail's file name
    ("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/03/01/x_CloudTrail-Digest_y.json.gz", (), "digest"),
    ("elsewhere/111122223333_CloudTrail-Digest_us-east-1_x.json.gz", (), "digest"),
    ("AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2026/03/01/x.json.gz", (), "not_cloudtrail"),
    ("AWSLogs/111122223333/CloudTrail/us-east-1/2026/03/01/x.txt", (), "not_cloudtrail"),
    ("AWSLogs/111122223333/elasticloadbalancing/us-east-1/x.json.gz", (), "not_cloudtrail"),
    ("exports/part-1.jsonl.gz", ("exports/",), None),  # allowlisted custom layout
    ("exports/part-1.parquet", ("exports/",), "not_cloudtrail"),
    (KEY, ("exports/",), "not_cloudtrail"),  # outside the allowlist
    ("exports/CloudTrail-Digest/x.json.gz", ("exports/",), "digest"),
])
def test_classify_key(key: str, prefixes: tuple[str, ...], expected: str | None) -> None:
    assert classify_key(key, prefixes) == expected
