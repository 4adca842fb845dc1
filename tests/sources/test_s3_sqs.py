"""`s3-sqs` end to end against moto's server: messages in, batches out, messages deleted only when done."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest

from monitor.aws.clients import AwsClients
from monitor.aws.settings import AwsSettings
from monitor.checkpoint import CheckpointStore
from monitor.configreader import Section
from monitor.sources import s3_sqs
from monitor.sources.base import Batch, SourceContext
from monitor.sources.settings import SqsSettings, parse_sqs
from tests.aws_emulator import Emulator
from tests.helpers import wait_until
from tests.sources.s3_helpers import Collector, event, event_ids, log_object, moto_state, running

BUCKET = "org-trail-logs"
KEY = "AWSLogs/o-abcdefghij/111122223333/CloudTrail/us-east-1/2026/03/01/111122223333_CloudTrail_us-east-1_20260301T1200Z_AbCdEfGh12345678.json.gz"  # noqa: E501


class Env:
    def __init__(self, aws: Emulator, clients: AwsClients, tmp: Path) -> None:
        self.aws = aws
        self.clients = clients
        self.settings = AwsSettings(region=aws.region, endpoint_url=aws.endpoint_url)
        self.checkpoints = CheckpointStore(tmp / "checkpoints.sqlite")
        self.queue_url = ""
        self.queue_arn = ""

    async def sqs(self) -> Any:
        return await self.clients.client("sqs", self.settings)

    async def s3(self) -> Any:
        return await self.clients.client("s3", self.settings)

    async def setup(self, visibility: int = 30) -> None:
        s3 = await self.s3()
        await s3.create_bucket(Bucket=BUCKET)
        sqs = await self.sqs()
        self.queue_url = (await sqs.create_queue(QueueName="cloudtrail-events",
                                                 Attributes={"VisibilityTimeout": str(visibility)}))["QueueUrl"]
        attributes = await sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        self.queue_arn = attributes["Attributes"]["QueueArn"]

    async def put(self, key: str, body: bytes) -> None:
        await (await self.s3()).put_object(Bucket=BUCKET, Key=key, Body=body)

    async def send(self, body: dict[str, Any] | str) -> str:
        text = body if isinstance(body, str) else json.dumps(body)
        response = await (await self.sqs()).send_message(QueueUrl=self.queue_url, MessageBody=text)
        return str(response["MessageId"])

    async def counts(self) -> tuple[int, int]:
        """(visible, in flight) messages on the queue."""
        response = await (await self.sqs()).get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        values = response["Attributes"]
        return int(values["ApproximateNumberOfMessages"]), int(values["ApproximateNumberOfMessagesNotVisible"])

    async def empty(self) -> bool:
        return await self.counts() == (0, 0)

    def source(self, **overrides: Any) -> s3_sqs.SqsSource:
        options: dict[str, Any] = {"queue_url": self.queue_url, "aws": self.settings, "wait_seconds": 1}
        options.update(overrides)
        return s3_sqs.create("org-trail", SqsSettings(**options), SourceContext(self.clients, self.checkpoints))


@pytest.fixture
async def env(aws: Emulator, tmp_path: Path) -> AsyncIterator[Env]:
    clients = AwsClients()
    environment = Env(aws, clients, tmp_path)
    await environment.setup()
    try:
        yield environment
    finally:
        await clients.close()
        environment.checkpoints.close()


def sns(message: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:111122223333:trail",
            "Message": json.dumps(message)}


def s3_event(key: str, bucket: str = BUCKET, name: str = "ObjectCreated:Put") -> dict[str, Any]:
    return {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": name,
                         "s3": {"bucket": {"name": bucket}, "object": {"key": quote_plus(key), "size": 10}}}]}


def eventbridge(key: str, bucket: str = BUCKET) -> dict[str, Any]:
    return {"version": "0", "detail-type": "Object Created", "source": "aws.s3", "account": "111122223333",
            "detail": {"bucket": {"name": bucket}, "object": {"key": key, "size": 10}}}


def visible_at(aws: Emulator, message_id: str) -> float:
    """When moto will show the message again, epoch seconds.

    moto tracks the copies it hands out on receive as well; the first instance is the queued message itself.
    """
    times = [m["visible_at"] for m in moto_state(aws)["sqs"]["Message"] if m["id"] == message_id]
    assert times, f"moto has no message {message_id}"
    return float(times[0]) / 1000


# -- config -------------------------------------------------------------------------------------


def test_parse_settings_reports_every_error_with_its_path() -> None:
    errors: list[str] = []
    parse_sqs(Section({"wait_seconds": 30, "max_messages": 0, "aws": {"role_arn": "nope", "x": 1},
                                   "typo": True}, "sources[0]", errors))
    assert "sources[0].queue_url: required" in errors
    assert "sources[0].wait_seconds: must be <= 20" in errors
    assert "sources[0].max_messages: must be >= 1" in errors
    assert any(e.startswith("sources[0].aws.role_arn: must be an IAM role ARN") for e in errors)
    assert "sources[0].aws.x: unknown key" in errors
    assert "sources[0].typo: unknown key" in errors


def test_parse_settings_defaults_and_region_from_queue_url() -> None:
    errors: list[str] = []
    settings = parse_sqs(Section(
        {"queue_url": "https://sqs.eu-west-3.amazonaws.com/111122223333/trail", "key_prefixes": "logs/"},
        "sources[2]", errors))
    assert errors == []
    assert settings.aws.region == "eu-west-3"
    assert (settings.wait_seconds, settings.max_messages, settings.visibility_timeout, settings.max_receives,
            settings.download_concurrency) == (20, 10, 300, 5, 4)
    assert settings.key_prefixes == ("logs/",)


# -- shapes -------------------------------------------------------------------------------------

async def all_deleted(env: Env, source: Any, count: int) -> None:
    """The queue is empty once SQS deleted the messages; the source counts them when DeleteMessageBatch returns."""
    await wait_until(env.empty, what="messages deleted")
    await wait_until(lambda: source.stats.counts.get("messages_deleted", 0) >= count, what="the deletions counted")


SPECIAL_KEY = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/03/01/odd name+plus=eq%pct&amp (1).json.gz"


@pytest.mark.parametrize("shape", ["cloudtrail-sns", "s3-raw", "s3-sns", "eventbridge"])
async def test_each_message_shape_yields_the_object_and_deletes_the_message(env: Env, shape: str) -> None:
    key = SPECIAL_KEY if shape != "cloudtrail-sns" else KEY
    events = [event("RunInstances"), event("ConsoleLogin")]
    await env.put(key, log_object(*events))
    body = {
        "cloudtrail-sns": sns({"s3Bucket": BUCKET, "s3ObjectKey": [key]}),
        "s3-raw": s3_event(key),
        "s3-sns": sns(s3_event(key)),
        "eventbridge": eventbridge(key),
    }[shape]
    await env.send(body)
    source = env.source()
    collector = Collector()
    async with running(source, collector):
        batch = await collector.next()
        assert batch.origin == f"s3://{BUCKET}/{key}"
        assert batch.source == "org-trail"
        assert event_ids(batch) == [e["eventID"] for e in events]
        assert batch.landed_at is not None and abs(batch.landed_at - time.time()) < 3600
        await batch.ack()
        await all_deleted(env, source, 1)
    assert source.stats.counts["messages_deleted"] == 1
    assert source.stats.counts["objects_read"] == 1
    assert source.ready()


async def test_real_bucket_notification_with_encoded_key_and_test_event(env: Env) -> None:
    s3 = await env.s3()
    await s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": env.queue_arn, "Events": ["s3:ObjectCreated:*"]}]})
    events = [event("CreateAccessKey")]
    await env.put(SPECIAL_KEY, log_object(*events))
    source = env.source()
    collector = Collector(auto_ack=True)
    async with running(source, collector):
        batch = await collector.next()
        assert batch.origin == f"s3://{BUCKET}/{SPECIAL_KEY}"  # moto's URL-encoded key, decoded
        assert event_ids(batch) == [events[0]["eventID"]]
        await all_deleted(env, source, 2)
    assert source.stats.counts["skipped_test_event"] == 1
    assert source.stats.counts["messages_deleted"] == 2


async def test_bucket_to_sns_to_sqs_the_way_cloudtrail_is_wired(env: Env) -> None:
    sns_client = await env.clients.client("sns", env.settings)
    topic = (await sns_client.create_topic(Name="cloudtrail-delivery"))["TopicArn"]
    await sns_client.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=env.queue_arn)
    s3 = await env.s3()
    await s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
        "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]})
    await env.put(KEY, log_object(event("StopLogging")))
    # CloudTrail's own notification goes through the same topic: the object is announced twice
    # (at-least-once; the pipeline's eventID dedupe makes the second copy harmless).
    await sns_client.publish(TopicArn=topic, Message=json.dumps({"s3Bucket": BUCKET, "s3ObjectKey": [KEY]}))
    source = env.source()
    collector = Collector(auto_ack=True)
    async with running(source, collector):
        await wait_until(lambda: len(collector.batches) >= 2, what="two batches")
        await all_deleted(env, source, 3)
    assert collector.origins() == [f"s3://{BUCKET}/{KEY}"] * 2
    assert source.stats.counts["skipped_test_event"] == 1  # moto's s3:TestEvent, SNS-wrapped
    assert source.stats.counts["messages_deleted"] == 3


async def test_digest_not_cloudtrail_and_test_events_are_acked_and_counted(env: Env) -> None:
    digest = ("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/03/01/"
              "111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20260301T120000Z.json.gz")
    await env.put(KEY, log_object(event()))
    await env.send(sns({"s3Bucket": BUCKET, "s3ObjectKey": [digest, KEY, "AWSLogs/111122223333/notes.txt"]}))
    await env.send(sns({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}))
    await env.send(s3_event(digest))
    await env.send(s3_event(KEY, name="ObjectRemoved:Delete"))
    source = env.source()
    collector = Collector(auto_ack=True)
    async with running(source, collector):
        await all_deleted(env, source, 4)
    assert collector.origins() == [f"s3://{BUCKET}/{KEY}"]
    counts = source.stats.counts
    assert counts["skipped_digest"] == 2
    assert counts["skipped_not_cloudtrail"] == 1
    assert counts["skipped_test_event"] == 1
    assert counts["skipped_other_event"] == 1
    assert counts["messages_deleted"] == 4


async def test_every_aws_call_is_counted_by_its_operation(env: Env) -> None:
    await env.put(KEY, log_object(event()))
    await env.send(sns({"s3Bucket": BUCKET, "s3ObjectKey": [KEY]}))
    source = env.source()
    async with running(source, Collector(auto_ack=True)):
        await all_deleted(env, source, 1)
    counts = source.stats.counts
    assert counts["api_calls:ReceiveMessage"] >= 1
    assert counts["api_calls:GetObject"] == 1
    assert counts["api_calls:DeleteMessageBatch"] == 1
    assert "api_calls" not in counts


async def test_key_prefixes_allowlist(env: Env) -> None:
    custom = "exports/cloudtrail/part-0001.json.gz"  # a custom layout, accepted because it is allowlisted
    await env.put(custom, log_object(event()))
    await env.send(sns({"s3Bucket": BUCKET, "s3ObjectKey": [custom, KEY]}))
    source = env.source(key_prefixes=("exports/",))
    collector = Collector(auto_ack=True)
    async with running(source, collector):
        await wait_until(env.empty, what="message deleted")
    assert collector.origins() == [f"s3://{BUCKET}/{custom}"]
    assert source.stats.counts["skipped_not_cloudtrail"] == 1


async def test_message_is_deleted_only_after_every_object_is_acked(env: Env) -> None:
    keys = [KEY.replace("AbCdEfGh", f"Obj{i}xxxx") for i in range(3)]
    for key in keys:
        await env.put(key, log_object(event()))
    await env.send(sns({"s3Bucket": BUCKET, "s3ObjectKey": keys}))
    source = env.source()
    collector = Collector()
    async with running(source, collector):
        batches = [await collector.next() for _ in keys]
        assert sorted(b.origin for b in batches) == sorted(f"s3://{BUCKET}/{k}" for k in keys)
        await batches[2].ack()
        await batches[0].ack()
        assert await env.counts() == (0, 1)
        assert source.stats.counts.get("messages_deleted", 0) == 0
        await batches[1].ack()
        await all_deleted(env, source, 1)
    assert source.stats.counts["messages_deleted"] == 1


# -- failures -----------------------------------------------------------------------------------


async def test_failing_messages_back_off_and_are_left_for_redrive_at_max_receives(env: Env) -> None:
    sqs = await env.sqs()
    missing = KEY.replace("AbCdEfGh", "Missing0")
    first = await env.send(sns({"s3Bucket": BUCKET, "s3ObjectKey": [missing]}))
    second = await env.send(s3_event(missing))
    # Receive them ourselves first (visibility 0: visible again at once) to raise their receive counts.
    await sqs.receive_message(QueueUrl=env.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    third = await env.send(eventbridge(missing))
    for _ in range(3):
        await sqs.receive_message(QueueUrl=env.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    state: dict[str, int] = {}
    for message in moto_state(env.aws)["sqs"]["Message"]:
        state.setdefault(message["id"], message["approximate_receive_count"])
    assert (state[first], state[second], state[third]) == (4, 4, 3)
    source = env.source(visibility_timeout=600, max_receives=5, retry_base_seconds=20, retry_max_seconds=300)
    collector = Collector(auto_ack=True)
    async with running(source, collector):
        await wait_until(lambda: source.stats.counts.get("messages_poison", 0) == 2, what="two poison messages")
        await wait_until(lambda: source.stats.counts.get("messages_failed", 0) == 1, what="one failed message")
        await wait_until(lambda: visible_at(env.aws, third) < time.time() + 500, what="backoff applied")
    now = time.time()
    # Receive 4 at the source: its backoff is base * 2**3 = 160 s, jittered in [80, 160].
    assert 60 < visible_at(env.aws, third) - now <= 161
    # At max_receives (5th receive) the messages are not touched: their receive visibility (600 s) stands.
    assert visible_at(env.aws, first) - now > 500
    assert visible_at(env.aws, second) - now > 500
    assert await env.counts() == (0, 3)  # nothing deleted
    assert collector.batches == []
    assert source.stats.counts["objects_missing"] == 3


@pytest.mark.slow
async def test_poison_message_ends_in_the_dead_letter_queue(env: Env) -> None:
    sqs = await env.sqs()
    dlq_url = (await sqs.create_queue(QueueName="cloudtrail-events-dlq"))["QueueUrl"]
    dlq_arn = (await sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"]))["Attributes"]["QueueArn"]
    await sqs.set_queue_attributes(QueueUrl=env.queue_url, Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})})
    message_id = await env.send(s3_event(KEY.replace("AbCdEfGh", "Missing0")))
    # Short timeouts so the redelivery happens within the test: fail, back off 1 s, fail, left alone for 2 s.
    source = env.source(visibility_timeout=2, max_receives=2, retry_base_seconds=1, retry_max_seconds=1)
    async with running(source, Collector(auto_ack=True)):
        await wait_until(lambda: source.stats.counts.get("messages_poison", 0) == 1, what="poison")

        async def in_dead_letter_queue() -> bool:
            names = ["ApproximateNumberOfMessages"]
            attributes = await sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=names)
            return bool(attributes["Attributes"]["ApproximateNumberOfMessages"] == "1")

        await wait_until(in_dead_letter_queue, what="redrive to the dead-letter queue")
    assert source.stats.counts["messages_failed"] == 1
    assert source.stats.counts["objects_missing"] == 2
    assert await env.empty()
    moved = await sqs.receive_message(QueueUrl=dlq_url)
    assert [m["MessageId"] for m in moved["Messages"]] == [message_id]


async def test_backoff_grows_with_the_receive_count(env: Env) -> None:
    sqs = await env.sqs()
    missing = KEY.replace("AbCdEfGh", "Missing0")
    once = await env.send(s3_event(missing))
    await sqs.receive_message(QueueUrl=env.queue_url, VisibilityTimeout=0)  # receive count 1 -> the source sees 2
    fresh = await env.send(s3_event(missing))
    source = env.source(visibility_timeout=600, retry_base_seconds=40, retry_max_seconds=600)
    collector = Collector(auto_ack=True)
    async with running(source, collector):
        await wait_until(lambda: source.stats.counts.get("messages_failed", 0) == 2, what="two failures")
        await wait_until(lambda: max(visible_at(env.aws, m) for m in (once, fresh)) < time.time() + 500,
                         what="backoff applied to both")
    now = time.time()
    assert 10 < visible_at(env.aws, fresh) - now <= 41  # receive 1: [20, 40]
    assert 30 < visible_at(env.aws, once) - now <= 81  # receive 2: [40, 80]
    assert await env.counts() == (0, 2)


async def test_released_batch_is_not_deleted_and_backs_off(env: Env) -> None:
    await env.put(KEY, log_object(event()))
    message_id = await env.send(sns({"s3Bucket": BUCKET, "s3ObjectKey": [KEY]}))
    source = env.source(visibility_timeout=600, retry_base_seconds=30)
    collector = Collector()
    async with running(source, collector):
        batch = await collector.next()
        await batch.release("recorder failed")
        await batch.ack()  # a second settlement is ignored
        await wait_until(lambda: visible_at(env.aws, message_id) < time.time() + 500, what="backoff applied")
    assert 0 < visible_at(env.aws, message_id) - time.time() <= 31
    assert source.stats.counts["messages_failed"] == 1
    assert source.stats.counts["objects_released"] == 1
    assert "messages_deleted" not in source.stats.counts
    assert await env.counts() == (0, 1)


async def test_unparseable_message_is_counted_and_left_for_redrive(env: Env,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    secret_body = "not json: SECRET-BODY-TEXT"
    message_id = await env.send(secret_body)
    await env.send({"Records": [{"eventSource": "aws:sqs"}]})
    source = env.source(visibility_timeout=600, max_receives=1)
    async with running(source, Collector()):
        await wait_until(lambda: source.stats.counts.get("messages_invalid", 0) == 2, what="two invalid messages")
    assert source.stats.counts["messages_poison"] == 2
    assert await env.counts() == (0, 2)
    assert message_id in caplog.text
    assert "SECRET-BODY-TEXT" not in caplog.text


@pytest.mark.slow
async def test_visibility_is_extended_for_a_slow_consumer(env: Env) -> None:
    await env.put(KEY, log_object(event()))
    message_id = await env.send(sns({"s3Bucket": BUCKET, "s3ObjectKey": [KEY]}))
    source = env.source(visibility_timeout=3)
    collector = Collector()
    async with running(source, collector):
        batch = await collector.next()
        received = time.time()
        # Three extensions are at least three seconds apart from the receive: past the original timeout.
        await wait_until(lambda: source.stats.counts.get("visibility_extended", 0) >= 3, what="extensions")
        assert visible_at(env.aws, message_id) > received + 3
        response = await (await env.sqs()).receive_message(QueueUrl=env.queue_url, WaitTimeSeconds=0)
        assert response.get("Messages", []) == []  # nobody else got it
        await batch.ack()
        await wait_until(env.empty, what="message deleted")
    assert len(collector.batches) == 1


async def test_slow_consumer_keeps_downloads_bounded(env: Env) -> None:
    concurrency = 2
    keys = [KEY.replace("AbCdEfGh", f"Obj{i:02d}xxx") for i in range(12)]
    for key in keys:
        await env.put(key, log_object(event()))
        await env.send(s3_event(key))
    gate = asyncio.Event()
    unacked = 0
    most = 0
    seen: list[str] = []

    async def blocking_emit(batch: Batch) -> None:
        nonlocal unacked, most
        unacked += 1
        most = max(most, unacked)
        seen.append(batch.origin)
        await gate.wait()
        await batch.ack()
        unacked -= 1

    source = env.source(download_concurrency=concurrency, max_messages=10)
    async with running(source, blocking_emit):
        await wait_until(lambda: unacked == concurrency, what="emit blocked")
        # Every worker is stuck in emit: nothing else can have been downloaded.
        assert source.stats.counts["objects_read"] == concurrency
        visible, _ = await env.counts()
        assert visible >= 12 - 10  # at most one receive's worth of messages taken off the queue
        gate.set()
        await wait_until(lambda: len(seen) == 12, what="all objects")
        await wait_until(env.empty, what="all messages deleted")
    assert most <= concurrency + 1
    assert sorted(seen) == sorted(f"s3://{BUCKET}/{k}" for k in keys)


async def test_cancel_during_long_poll_is_prompt_and_reraised(env: Env) -> None:
    source = env.source(wait_seconds=20)
    task = asyncio.create_task(source.run(Collector()))
    await wait_until(lambda: source._sqs is not None, what="connected")
    with pytest.raises(TimeoutError):  # still long-polling the empty queue
        await asyncio.wait_for(asyncio.shield(task), 1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5.0)
    assert task.cancelled()
    await source.close()


async def test_queue_errors_are_counted_and_the_source_keeps_running(env: Env) -> None:
    source = env.source(queue_url=env.queue_url.replace("cloudtrail-events", "no-such-queue"))
    async with running(source, Collector()) as task:
        await wait_until(lambda: source.stats.total("api_errors") >= 1, what="an API error")
        assert not task.done()
        assert not source.ready()
    with contextlib.suppress(Exception):
        await source.close()


async def test_run_again_after_a_crash_hands_back_unfinished_messages(env: Env) -> None:
    await env.put(KEY, log_object(event()))
    await env.send(sns({"s3Bucket": BUCKET, "s3ObjectKey": [KEY]}))
    source = env.source(visibility_timeout=600)
    collector = Collector()
    crashed = asyncio.create_task(source.run(collector))
    held = await collector.next()  # in the pipeline when the run dies
    crashed.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await crashed
    async with running(source, collector):  # the app restarts the same source object
        again = await collector.next()  # handed back at once, not after the 600 s visibility timeout
        assert again.origin == held.origin
        await again.ack()
        await held.ack()
        await wait_until(env.empty, what="message deleted")
    assert source.stats.counts["messages_received"] == 2
