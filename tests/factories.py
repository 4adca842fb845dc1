"""Small builders for CloudTrail events used across the tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

_ids = itertools.count(1)

BASE_TIME = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (BASE_TIME + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_id() -> str:
    return f"00000000-0000-4000-8000-{next(_ids):012d}"


def iam_user(name: str = "alice", account: str = "111122223333", mfa: bool = False) -> dict[str, Any]:
    identity: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": f"AIDA{name.upper():0<16}"[:20],
        "arn": f"arn:aws:iam::{account}:user/{name}",
        "accountId": account,
        "userName": name,
    }
    if mfa:
        identity["sessionContext"] = {"attributes": {"mfaAuthenticated": "true", "creationDate": at(0)}}
    return identity


def root(account: str = "111122223333") -> dict[str, Any]:
    return {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root", "accountId": account}


def cloudtrail_event(
    name: str,
    source: str,
    seconds: float = 0,
    identity: dict[str, Any] | None = None,
    account: str = "111122223333",
    **fields: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": identity if identity is not None else iam_user(account=account),
        "eventTime": at(seconds),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": None,
        "responseElements": None,
        "eventID": event_id(),
        "eventType": "AwsApiCall",
        "recipientAccountId": account,
    }
    event.update(fields)
    return event


def console_login(seconds: float, identity: dict[str, Any], success: bool, mfa_used: str = "No",
                  source_ip: str = "203.0.113.10") -> dict[str, Any]:
    return cloudtrail_event(
        "ConsoleLogin", "signin.amazonaws.com", seconds, identity,
        account=str(identity.get("accountId", "111122223333")),
        sourceIPAddress=source_ip,
        eventType="AwsConsoleSignIn",
        responseElements={"ConsoleLogin": "Success" if success else "Failure"},
        additionalEventData={"MFAUsed": mfa_used, "MobileVersion": "No"},
        **({} if success else {"errorMessage": "Failed authentication"}),
    )
