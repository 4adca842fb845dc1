"""SNS sink: publish the alert JSON to a topic with aiobotocore.

The subject is ASCII, single-line and under 100 characters (SNS rejects
anything else). Message attributes `severity`, `detector` and `account`
(String) let subscriptions filter, e.g. only critical to the pager;
`alert_id`, `delivery_id` and `kind` let consumers de-duplicate. FIFO topics
also get `MessageDeduplicationId` = delivery id. botocore's own retries are
off: the delivery worker retries with backoff and counts throttling.

The AWS client comes from the shared client factory (`AwsClients` in
monitor/aws/clients.py), created once and closed by the app.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import orjson
from aiobotocore.config import AioConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from monitor.alerts.base import KIND_ESCALATION, KIND_REPEAT, DeliveryError, Notice
from monitor.alerts.sink_settings import SinkSettings, SnsOptions
from monitor.aws.backoff import error_code, is_throttle
from monitor.aws.clients import AwsClients
from monitor.aws.settings import AwsSettings

MAX_SUBJECT_CHARS = 99
MAX_MESSAGE_BYTES = 240_000  # SNS allows 256 KiB including attributes
REJECTED_CODES = frozenset({"InvalidParameter", "InvalidParameterValue", "ParameterValueInvalid"})


def ascii_line(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    printable = "".join(c if 32 <= ord(c) < 127 else " " for c in folded)
    return " ".join(printable.split())


def subject(notice: Notice) -> str:
    alert = notice.alert
    label = alert.severity.label.upper()
    if notice.kind == KIND_REPEAT:
        prefix = f"[{label}] +{notice.repeats} more: "
    elif notice.kind == KIND_ESCALATION:
        prefix = f"[{label}] escalated: "
    else:
        prefix = f"[{label}] "
    text = ascii_line(prefix + alert.title) or "trailsentry alert"
    return text if len(text) <= MAX_SUBJECT_CHARS else text[: MAX_SUBJECT_CHARS - 3] + "..."


def _attribute(value: str, fallback: str = "unknown") -> dict[str, str]:
    clean = "".join(c for c in value if unicodedata.category(c) not in ("Cc", "Cs"))[:256].strip()
    return {"DataType": "String", "StringValue": clean or fallback}


def attributes(notice: Notice) -> dict[str, dict[str, str]]:
    alert = notice.alert
    return {
        "severity": _attribute(alert.severity.label),
        "detector": _attribute(alert.detector),
        "account": _attribute(alert.account),
        "alert_id": _attribute(alert.id),
        "delivery_id": _attribute(notice.delivery_id),
        "kind": _attribute(notice.kind),
    }


def message_body(notice: Notice) -> str:
    if len(notice.body) <= MAX_MESSAGE_BYTES:
        return notice.body.decode("utf-8")
    # Only a huge detector context can get here: drop it rather than fail forever.
    data = orjson.loads(notice.body)
    data["context"] = {"truncated": True}
    data["event_ids"] = data.get("event_ids", [])[:5]
    return orjson.dumps(data).decode("utf-8")[:MAX_MESSAGE_BYTES]


class SnsSink:
    kind = "sns"

    def __init__(self, settings: SinkSettings, options: SnsOptions, clients: AwsClients) -> None:
        self.name = settings.name
        self._options = options
        self._clients = clients
        self._timeout = settings.timeout_seconds
        self._client: Any = None

    def __repr__(self) -> str:
        return f"SnsSink(name={self.name!r})"

    async def start(self) -> None:
        if self._client is not None:
            return
        options = self._options
        target = AwsSettings(region=options.region, endpoint_url=options.endpoint_url, role_arn=options.role_arn,
                           external_id=options.external_id)
        config = AioConfig(retries={"total_max_attempts": 1, "mode": "standard"},
                           connect_timeout=self._timeout, read_timeout=self._timeout)
        try:
            self._client = await self._clients.client("sns", target, config=config, variant=f"alerts:{self.name}")
        except ClientError as exc:
            raise DeliveryError("aws_error", f"cannot create the SNS client ({error_code(exc)[:64]})") from None
        except BotoCoreError as exc:
            raise DeliveryError("aws_error", f"cannot create the SNS client ({type(exc).__name__})") from None

    async def send(self, notice: Notice) -> None:
        await self.start()
        params: dict[str, Any] = {
            "TopicArn": self._options.topic_arn,
            "Message": message_body(notice),
            "Subject": subject(notice),
            "MessageAttributes": attributes(notice),
        }
        if self._options.fifo:
            params["MessageGroupId"] = notice.alert.id
            params["MessageDeduplicationId"] = notice.delivery_id
        try:
            await self._client.publish(**params)
        except ClientError as exc:
            code = error_code(exc)[:64]
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if is_throttle(exc):
                raise DeliveryError("throttled", code or "HTTP 429", rate_limited=True) from None
            if code in REJECTED_CODES:
                raise DeliveryError("rejected", code, permanent=True) from None
            raise DeliveryError("aws_error", code or f"HTTP {status}") from None
        except (ConnectTimeoutError, EndpointConnectionError):
            raise DeliveryError("connection", "could not connect to SNS") from None
        except ReadTimeoutError:
            raise DeliveryError("timeout", f"no response within {self._timeout:g}s", ambiguous=True) from None
        except BotoCoreError as exc:
            raise DeliveryError("aws_error", type(exc).__name__, ambiguous=True) from None
        except TimeoutError:
            raise DeliveryError("timeout", f"no response within {self._timeout:g}s", ambiguous=True) from None
        except OSError as exc:
            raise DeliveryError("connection", type(exc).__name__, ambiguous=True) from None

    async def close(self) -> None:
        # The client belongs to the shared factory, which closes it.
        self._client = None

