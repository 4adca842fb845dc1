"""CloudTrail records for the mission detectors' scenario tests, in AWS's documented shapes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from monitor.decode import decode_bytes
from monitor.model import Alert, Event

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
ATTACKER_IP = "203.0.113.66"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
MISSION = frozenset({
    "root-console-login", "root-activity", "console-login-failure-burst", "console-password-spray",
    "access-denied-burst", "access-key-created", "console-login-without-mfa", "non-mfa-sensitive-call",
})

_ids = itertools.count(1)
BASE = datetime(2026, 3, 2, 14, 0, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (BASE + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return f"5d0c9a7e-0000-4a1b-9c2d-{next(_ids):012d}"


def iam_user(name: str, account: str = ACCOUNT, key: str = "AKIAIOSFODNN7EXAMPLE") -> dict[str, Any]:
    return {"type": "IAMUser", "principalId": f"AIDA{name.upper():X<17}"[:21],
            "arn": f"arn:aws:iam::{account}:user/{name}", "accountId": account, "accessKeyId": key, "userName": name}


def root(account: str = ACCOUNT) -> dict[str, Any]:
    return {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root", "accountId": account}


def failed_signin_identity(name: str | None, account: str = ACCOUNT) -> dict[str, Any]:
    """The identity of a failed sign-in; None gives the one CloudTrail writes for a name that does not exist."""
    if name is None:
        return {"type": "IAMUser", "principalId": "", "accountId": account, "accessKeyId": "",
                "userName": "HIDDEN_DUE_TO_SECURITY_REASONS"}
    return {"type": "IAMUser", "principalId": f"AIDA{name.upper():X<17}"[:21], "accountId": account,
            "accessKeyId": "", "userName": name}


def api_call(identity: dict[str, Any] | None, source: str, name: str, seconds: float, *,
             ip: str = "198.51.100.23", account: str | None = None, region: str = "us-east-1",
             **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": at(seconds),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64 prompt/off",
        "requestParameters": None,
        "responseElements": None,
        "requestID": new_id(),
        "eventID": new_id(),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account or (identity or {}).get("accountId") or ACCOUNT,
        "eventCategory": "Management",
    }
    if identity is None:
        del event["userIdentity"]
    event.update(fields)
    return event


def signin(identity: dict[str, Any], seconds: float, outcome: str, *, ip: str = ATTACKER_IP,
           mfa_used: str | None = "No", region: str = "us-east-1") -> dict[str, Any]:
    extra: dict[str, Any] = {"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No"}
    if mfa_used is not None:
        extra["MFAUsed"] = mfa_used
    event = api_call(identity, "signin.amazonaws.com", "ConsoleLogin", seconds, ip=ip, region=region,
                     userAgent="Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0",
                     eventType="AwsConsoleSignIn", responseElements={"ConsoleLogin": outcome},
                     additionalEventData=extra)
    if outcome == "Failure":
        event["errorMessage"] = ("No username found in supplied account"
                                 if identity.get("userName") == "HIDDEN_DUE_TO_SECURITY_REASONS"
                                 else "Failed authentication")
    return event


def failed_signin(user: str | None, seconds: float, **kw: Any) -> dict[str, Any]:
    account = kw.pop("account", ACCOUNT)
    return signin(failed_signin_identity(user, account), seconds, "Failure", **kw)


def denied(identity: dict[str, Any] | None, seconds: float, *, code: str = "AccessDenied", **kw: Any) -> dict[str, Any]:
    return api_call(identity, "iam.amazonaws.com", "ListUsers", seconds, errorCode=code,
                    errorMessage="User is not authorized to perform: iam:ListUsers", readOnly=True, **kw)


def log_delivery_denied(seconds: float, index: int) -> dict[str, Any]:
    """What AWS log delivery writes when a bucket policy does not let it in: thousands per hour."""
    return api_call(
        {"type": "AWSService", "invokedBy": "delivery.logs.amazonaws.com"}, "s3.amazonaws.com", "PutObject", seconds,
        ip="delivery.logs.amazonaws.com", userAgent="delivery.logs.amazonaws.com", errorCode="AccessDenied",
        errorMessage="Access Denied", eventCategory="Data", managementEvent=False,
        requestParameters={"bucketName": "example-flow-logs",
                           "key": f"AWSLogs/{ACCOUNT}/vpcflowlogs/us-east-1/2026/03/02/part-{index:06d}.log.gz"},
    )


def typed(record: dict[str, Any]) -> Event:
    """A typed event from a plain record the way decoding reads it: a field of the wrong type is left out.

    For records that may hold hostile values; a well-formed record can use `event_from_record`.
    """
    events = decode_bytes(orjson.dumps({"Records": [record]}, default=str), "test").events
    assert len(events) == 1, "one record decodes to one event"
    return events[0]


def of(alerts: list[Alert], detector: str) -> list[Alert]:
    return [a for a in alerts if a.detector == detector]


def latest(alerts: list[Alert]) -> dict[str, Alert]:
    """The newest emission of each alert id (later emissions supersede earlier ones)."""
    result: dict[str, Alert] = {}
    for alert in alerts:
        result[alert.id] = alert
    return result
