"""SNS through moto's server (SQS subscriptions see the envelope), and throttling from a scripted SNS endpoint."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiobotocore.session import get_session

from monitor.alerts.service import Alerting
from monitor.aws.clients import AwsClients
from monitor.model.severity import Severity
from tests.alerts.conftest import FAST, Receiver, Reply, make_alert, settings_from
from tests.aws_emulator import DUMMY_CREDENTIALS, Emulator


@pytest.fixture
async def clients() -> AsyncIterator[AwsClients]:
    factory = AwsClients()
    yield factory
    await factory.close()


async def _queue(sqs: Any, sns: Any, topic_arn: str, name: str, filter_policy: dict[str, Any] | None) -> str:
    url = (await sqs.create_queue(QueueName=name))["QueueUrl"]
    arn = (await sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]))["Attributes"]["QueueArn"]
    attributes = {"RawMessageDelivery": "false"}
    if filter_policy is not None:
        attributes["FilterPolicy"] = orjson.dumps(filter_policy).decode()
    await sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return str(url)


async def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while True:
        response = await sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        batch = response.get("Messages", [])
        if not batch:
            return messages
        messages.extend(orjson.loads(m["Body"]) for m in batch)
        for m in batch:
            await sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


async def test_publishes_alert_json_with_attributes_and_filter_policy(
        aws: Emulator, tmp_path: Path, clients: AwsClients, running) -> None:
    session = get_session()
    async with session.create_client("sns", region_name=aws.region, endpoint_url=aws.endpoint_url) as sns, \
            session.create_client("sqs", region_name=aws.region, endpoint_url=aws.endpoint_url) as sqs:
        topic_arn = (await sns.create_topic(Name="pager"))["TopicArn"]
        everything = await _queue(sqs, sns, topic_arn, "everything", None)
        critical_only = await _queue(sqs, sns, topic_arn, "critical-only", {"severity": ["critical"]})
        settings = settings_from({"sinks": [{"type": "sns", "topic_arn": topic_arn, "endpoint_url": aws.endpoint_url,
                                             **FAST}]})
        alerting = running(settings, tmp_path / "o.sqlite", aws=clients)
        await alerting.start()
        high = make_alert("high-1", severity=Severity.HIGH, title="Line one\nline two \u00e9t\u00e9 " + "x" * 200)
        critical = make_alert("crit-1", severity=Severity.CRITICAL, principal="arn:aws:iam::111122223333:user/x")
        await alerting.record([high, critical])
        await alerting.wait_for(lambda s: s.sinks["sns"].sent == 2)

        all_messages = await _drain(sqs, everything)
        by_id = {orjson.loads(m["Message"])["id"]: m for m in all_messages}
        assert sorted(by_id) == ["crit-1", "high-1"]
        for alert in (high, critical):
            envelope = by_id[alert.id]
            assert orjson.loads(envelope["Message"]) == alert.to_dict()
            attributes = envelope["MessageAttributes"]
            assert attributes["severity"] == {"Type": "String", "Value": alert.severity.label}
            assert attributes["detector"] == {"Type": "String", "Value": "root-console-login"}
            assert attributes["account"] == {"Type": "String", "Value": "111122223333"}
            assert attributes["alert_id"]["Value"] == alert.id
            subject = envelope["Subject"]
            assert len(subject) < 100 and subject.isascii() and "\n" not in subject
        assert by_id["high-1"]["Subject"].startswith("[HIGH] Line one line two ete xxx")

        filtered = await _drain(sqs, critical_only)
        assert [orjson.loads(m["Message"])["id"] for m in filtered] == ["crit-1"]


THROTTLED = (
    '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
    "<Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r1</RequestId></ErrorResponse>"
)
PUBLISHED = (
    '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>'
    "<MessageId>m1</MessageId></PublishResult><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata>"
    "</PublishResponse>"
)


async def test_throttling_is_retried_with_the_same_delivery_id(
        tmp_path: Path, receiver: Receiver, clients: AwsClients, running, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    receiver.script = [Reply(400, {"Content-Type": "text/xml"}, body=THROTTLED)]
    receiver.default = Reply(200, {"Content-Type": "text/xml"}, body=PUBLISHED)
    settings = settings_from({"sinks": [{"type": "sns", "topic_arn": "arn:aws:sns:us-east-1:111122223333:pager",
                                         "endpoint_url": receiver.url("/"), **FAST}]})
    alerting: Alerting = running(settings, tmp_path / "o.sqlite", aws=clients)
    await alerting.start()
    await alerting.record([make_alert("a1")])
    stats = await alerting.wait_for(lambda s: s.sinks["sns"].sent == 1)
    assert stats.sinks["sns"].rate_limited == 1
    assert stats.sinks["sns"].failed == 1
    forms = [dict(urllib.parse.parse_qsl(r.body.decode())) for r in receiver.requests]
    assert [f["Action"] for f in forms] == ["Publish", "Publish"]
    delivery_ids = set()
    for form in forms:
        names = {k: v for k, v in form.items() if k.startswith("MessageAttributes.entry.")}
        index = next(k.split(".")[2] for k, v in names.items() if v == "delivery_id")
        delivery_ids.add(form[f"MessageAttributes.entry.{index}.Value.StringValue"])
    assert len(delivery_ids) == 1
