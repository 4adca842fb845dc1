"""AwsClients against moto's server (plain and with role_arn), AwsSettings parsing, backoff and throttles."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from botocore.exceptions import ClientError

from monitor.aws.backoff import Backoff, error_code, is_throttle
from monitor.aws.clients import SESSION_NAME, AwsClients
from monitor.aws.settings import AwsSettings
from monitor.configreader import Section
from monitor.sources.s3_objects import ObjectTooLarge, classify_error
from tests.aws_emulator import Emulator

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]})


async def test_clients_are_created_once_and_work(aws: Emulator) -> None:
    clients = AwsClients()
    settings = AwsSettings(region=aws.region, endpoint_url=aws.endpoint_url)
    try:
        first, second = await asyncio.gather(clients.client("sqs", settings), clients.client("sqs", settings))
        assert first is second
        assert await clients.client("sqs", settings) is first
        assert await clients.client("sqs", settings, variant="other") is not first
        await first.create_queue(QueueName="q1")
        listed = await first.list_queues()
        assert [url.rsplit("/", 1)[-1] for url in listed["QueueUrls"]] == ["q1"]
        identity = await (await clients.client("sts", settings)).get_caller_identity()
        assert ":assumed-role/" not in identity["Arn"]
    finally:
        await clients.close()


async def test_role_arn_assumes_the_role(aws: Emulator) -> None:
    clients = AwsClients()
    base = AwsSettings(region=aws.region, endpoint_url=aws.endpoint_url)
    try:
        iam = await clients.client("iam", base)
        role = (await iam.create_role(RoleName="trailsentry-reader", AssumeRolePolicyDocument=TRUST))["Role"]
        settings = AwsSettings(region=aws.region, endpoint_url=aws.endpoint_url, role_arn=role["Arn"],
                               external_id="ext-1")
        sts_a, sts_b = await asyncio.gather(clients.client("sts", settings), clients.client("sts", settings))
        assert sts_a is sts_b
        identity = await sts_a.get_caller_identity()
        # moto answers with the identity of the credentials AssumeRole returned.
        assert identity["Arn"] == f"arn:aws:sts::{identity['Account']}:assumed-role/trailsentry-reader/{SESSION_NAME}"
        s3 = await clients.client("s3", settings)
        await s3.create_bucket(Bucket="cross-account-trail")
        assert [b["Name"] for b in (await s3.list_buckets())["Buckets"]] == ["cross-account-trail"]
    finally:
        await clients.close()


async def test_close_is_idempotent_and_clients_can_be_recreated(aws: Emulator) -> None:
    clients = AwsClients()
    settings = AwsSettings(region=aws.region, endpoint_url=aws.endpoint_url)
    old = await clients.client("s3", settings)
    await clients.close()
    await clients.close()
    new = await clients.client("s3", settings)
    assert new is not old
    assert (await new.list_buckets())["Buckets"] == []
    await clients.close()


def test_aws_settings_parse() -> None:
    errors: list[str] = []
    settings = AwsSettings.parse(Section({"region": "eu-west-1", "endpoint_url": "http://127.0.0.1:5000",
                                          "role_arn": "arn:aws:iam::111122223333:role/reader"},
                                         "sources[0].aws", errors))
    assert errors == []
    assert settings == AwsSettings("eu-west-1", "http://127.0.0.1:5000", "arn:aws:iam::111122223333:role/reader")
    AwsSettings.parse(Section({"role_arn": "reader", "endpoint_url": "localhost:5000"}, "sources[1].aws", errors))
    assert errors == [
        "sources[1].aws.role_arn: must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
        "sources[1].aws.endpoint_url: must start with http:// or https://",
    ]
    errors.clear()
    assert AwsSettings.parse(Section({"regoin": "eu-west-1"}, "sources[2].aws", errors)) == AwsSettings()
    assert errors == ["sources[2].aws.regoin: unknown key"]


def throttle(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "slow down"}}, "GetObject")


@pytest.mark.parametrize("code", ["ThrottlingException", "SlowDown", "RequestLimitExceeded",
                                  "TooManyRequestsException", "Throttling"])
def test_throttle_codes(code: str) -> None:
    assert is_throttle(throttle(code))
    assert error_code(throttle(code)) == code


def test_http_429_is_a_throttle_and_other_errors_are_not() -> None:
    too_many = ClientError({"Error": {"Code": "Weird"}, "ResponseMetadata": {"HTTPStatusCode": 429}}, "ListObjectsV2")
    assert is_throttle(too_many)
    assert not is_throttle(throttle("AccessDenied"))
    assert not is_throttle(ValueError("boom"))
    assert error_code(ValueError("boom")) == ""


def test_classify_error() -> None:
    assert classify_error(throttle("SlowDown")) == "throttle"
    assert classify_error(throttle("NoSuchKey")) == "missing"
    assert classify_error(throttle("AccessDenied")) == "denied"
    assert classify_error(throttle("InternalError")) == "error"
    assert classify_error(ObjectTooLarge(10**12)) == "too_large"
    assert classify_error(OSError("connection reset")) == "error"


def test_backoff_grows_is_capped_jittered_and_resets() -> None:
    backoff = Backoff(0.5, 8.0, rng=random.Random(7))
    ceilings = []
    for _ in range(8):
        ceilings.append(backoff.ceiling())
        delay = backoff.next_delay()
        assert 0.0 <= delay <= ceilings[-1]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    delays = {Backoff(1.0, 60.0, rng=random.Random(seed)).next_delay() for seed in range(20)}
    assert len(delays) > 10  # jitter: replicas do not retry in lockstep
    backoff.reset()
    assert backoff.attempt == 0 and backoff.ceiling() == 0.5
    for _ in range(500):  # long outages neither overflow nor exceed the cap
        assert backoff.next_delay() <= 8.0
    with pytest.raises(ValueError):
        Backoff(0, 1)


def test_backoff_floor_keeps_delivery_retries_from_being_immediate() -> None:
    for seed in range(50):
        backoff = Backoff(2.0, 60.0, rng=random.Random(seed), floor=0.5)
        assert [1.0 <= backoff.next_delay() <= 2.0, 2.0 <= backoff.next_delay() <= 4.0] == [True, True]
    with pytest.raises(ValueError):
        Backoff(1.0, 2.0, floor=1.5)
