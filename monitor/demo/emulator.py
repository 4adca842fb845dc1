"""An AWS emulator on loopback for the demo and the latency benchmark, wired the way CloudTrail is set up.

moto's server (the optional `demo` extra) runs in a thread on 127.0.0.1 with a
free port. `wire_trail` creates what an organization trail's bucket usually
has: the bucket, an SNS topic the bucket notifies on every new object under
AWSLogs/, and an SQS queue subscribed to the topic (S3 -> SNS -> SQS), which
is what the `s3-sqs` source reads.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

REGION = "us-east-1"
# moto's documented dummy credentials: nothing the demo does can reach a real account.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_CONFIG_FILE": os.devnull,
}
# Variables that would make the SDK look elsewhere for credentials.
_OTHER_CREDENTIALS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                      "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")

INSTALL_HINT = "the demo needs the embedded AWS emulator (moto); install it with: pip install 'trailsentry[demo]'"


class DemoUnavailable(RuntimeError):
    pass


def use_dummy_credentials() -> None:
    """Point this process's AWS SDK at the dummy credentials only (the demo talks to the emulator alone)."""
    for name in _OTHER_CREDENTIALS:
        os.environ.pop(name, None)
    os.environ.update(DUMMY_CREDENTIALS)


class Emulator:
    """moto's ThreadedMotoServer on 127.0.0.1, any free port."""

    def __init__(self) -> None:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            raise DemoUnavailable(INSTALL_HINT) from None
        self._server: Any = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url = ""

    def start(self) -> Emulator:
        # The emulator's web server logs every request at INFO: keep the demo's terminal for alerts.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()


@dataclass(frozen=True, slots=True)
class Trail:
    bucket: str
    topic_arn: str
    queue_url: str
    queue_arn: str


async def wire_trail(session: Any, endpoint_url: str, *, bucket: str, name: str = "cloudtrail",
                     region: str = REGION) -> Trail:
    """Bucket -> SNS topic -> SQS queue, as for an organization trail with notifications."""
    def client(service: str) -> Any:
        return session.create_client(service, region_name=region, endpoint_url=endpoint_url)

    async with client("sqs") as sqs, client("sns") as sns, client("s3") as s3:
        queue_url = (await sqs.create_queue(QueueName=f"{name}-events",
                                            Attributes={"VisibilityTimeout": "60"}))["QueueUrl"]
        queue_arn = (await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
                     )["Attributes"]["QueueArn"]
        topic_arn = (await sns.create_topic(Name=f"{name}-notifications"))["TopicArn"]
        await sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        await s3.create_bucket(Bucket=bucket)
        await s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={"TopicConfigurations": [{
                "TopicArn": topic_arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "AWSLogs/"}]}},
            }]},
        )
    return Trail(bucket=bucket, topic_arn=topic_arn, queue_url=queue_url, queue_arn=queue_arn)
