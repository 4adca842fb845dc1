"""What many tests share: where the repository is, waiting for a condition, running the command line,
and CloudTrail events.

Events are built in AWS's documented shapes from one `api_call`: `cloudtrail_event` is an API call
by an IAM user (alice unless told), `signin` a console sign-in, and the rest name common cases.
Times are seconds after `BASE_TIME`; every event gets a fresh eventID.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from monitor.decode import decode_bytes
from monitor.model import Alert, Event

REPO = Path(__file__).resolve().parent.parent
# Real third-party events beside the repository (see its README); tests skip, saying so, without them.
# TRAILSENTRY_SHARED_DATA names the folder when the checkout does not sit beside shared/ (a git worktree).
DATA = Path(os.environ.get("TRAILSENTRY_SHARED_DATA") or REPO.parent / "shared" / "data")

ACCOUNT = "111122223333"
OTHER_ACCOUNT = "444455556666"
ATTACKER_IP = "203.0.113.66"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
MISSION = frozenset({
    "root-console-login", "root-activity", "console-login-failure-burst", "console-password-spray",
    "access-denied-burst", "access-key-created", "console-login-without-mfa", "non-mfa-sensitive-call",
})
BASE_TIME = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

_ids = itertools.count(1)


async def wait_until(condition: Callable[[], bool | Awaitable[bool]], what: str = "condition", *,
                     within: float = 20.0) -> None:
    """Poll `condition` (sync or async) until it holds; fail naming `what` after `within` seconds.

    A deadline on a condition the code under test keeps (a counter, a queue), never a sleep standing in
    for one: the poll ends as soon as the condition holds.
    """

    async def poll() -> None:
        while True:
            result = condition()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), within)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


# --- the command line ------------------------------------------------------------------------------


def trailsentry(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """`trailsentry ARGS` as a user runs it: a real process."""
    return subprocess.run([sys.executable, "-m", "monitor", *args], input=stdin, capture_output=True, timeout=120,
                          check=False, cwd=REPO)


def alerts_of(output: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in output.splitlines() if line.strip()]


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- CloudTrail events --------------------------------------------------------------------------------


def at(seconds: float) -> str:
    return (BASE_TIME + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return f"5d0c9a7e-0000-4a1b-9c2d-{next(_ids):012d}"


def iam_user(name: str = "alice", account: str = ACCOUNT, *, key: str = "AKIAIOSFODNN7EXAMPLE",
             mfa: bool = False) -> dict[str, Any]:
    identity: dict[str, Any] = {
        "type": "IAMUser", "principalId": f"AIDA{name.upper():X<17}"[:21],
        "arn": f"arn:aws:iam::{account}:user/{name}", "accountId": account, "accessKeyId": key, "userName": name,
    }
    if mfa:
        identity["sessionContext"] = {"attributes": {"mfaAuthenticated": "true", "creationDate": at(0)}}
    return identity


def root(account: str = ACCOUNT) -> dict[str, Any]:
    return {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root", "accountId": account}


def failed_signin_identity(name: str | None, account: str = ACCOUNT) -> dict[str, Any]:
    """The identity of a failed sign-in; None gives the one CloudTrail writes for a name that does not exist."""
    if name is None:
        return {"type": "IAMUser", "principalId": "", "accountId": account, "accessKeyId": "",
                "userName": "HIDDEN_DUE_TO_SECURITY_REASONS"}
    return {"type": "IAMUser", "principalId": f"AIDA{name.upper():X<17}"[:21], "accountId": account,
            "accessKeyId": "", "userName": name}


def api_call(identity: dict[str, Any] | None, source: str, name: str, seconds: float = 0, *,
             ip: str = "198.51.100.23", account: str | None = None, region: str = "us-east-1",
             **fields: Any) -> dict[str, Any]:
    """One management event; `identity` None leaves `userIdentity` out; `fields` add or replace fields."""
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


def cloudtrail_event(name: str, source: str, seconds: float = 0, identity: dict[str, Any] | None = None,
                     account: str = ACCOUNT, **fields: Any) -> dict[str, Any]:
    """An API call by an IAM user of `account` (alice) unless another identity is given."""
    return api_call(identity if identity is not None else iam_user(account=account), source, name, seconds,
                    account=account, **fields)


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


# --- alerts --------------------------------------------------------------------------------------------


class Keep:
    """An alert recorder (what the app records into instead of the outbox) that keeps every alert."""

    def __init__(self) -> None:
        self.recorded: list[Alert] = []
        self.changed = asyncio.Condition()

    async def record(self, alerts: list[Alert]) -> None:
        self.recorded.extend(alerts)
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, detector: str, within: float = 60.0) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(
                lambda: any(a.detector == detector for a in self.recorded)), within)


def of(alerts: list[Alert], detector: str) -> list[Alert]:
    return [a for a in alerts if a.detector == detector]


def latest(alerts: list[Alert]) -> dict[str, Alert]:
    """The newest emission of each alert id (later emissions supersede earlier ones)."""
    result: dict[str, Alert] = {}
    for alert in alerts:
        result[alert.id] = alert
    return result
