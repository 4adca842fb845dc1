"""Attack chains across identities, in CloudTrail's documented shapes, for the attack-sequence tests.

Each chain is a list of events (seconds after 10:00 UTC on 2026-03-02) an attacker leaves behind, plus the
benign-looking glue (the calls that hand out credentials). `RECON` is a signal detector defined here (the
catalog's signals are written elsewhere): reconnaissance calls of IAM, EC2 and S3.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.model import Detector, Event, Hit, Severity, keys

ACCOUNT = "111122223333"
START = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
ATTACKER = "203.0.113.7"
OFFICE = "198.51.100.23"
CLI = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64 prompt/off"
TOOL = "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.12.1"
_ids = itertools.count(1)

_RECON_CALLS = frozenset({"GetAccountAuthorizationDetails", "ListUsers", "ListRoles", "ListAccessKeys",
                          "DescribeSnapshots", "DescribeInstances", "ListBuckets"})


def _recon(event: Event, params: Mapping[str, Any]) -> Hit | None:
    return None if event.errorCode else Hit(context={"call": event.eventName})


RECON = Detector(
    id="test-recon-call", title="Reconnaissance call", severity=Severity.LOW, mitre=("T1580",),
    runbook="A signal for tests.", match=_recon, events=frozenset(("*", name) for name in _RECON_CALLS),
    group_by=keys("principal"), signal=True)


def at(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_id() -> str:
    return f"7e1f0c2a-0000-4b1b-8c2d-{next(_ids):012d}"


def user(name: str, key: str, *, console: bool = False) -> dict[str, Any]:
    identity: dict[str, Any] = {"type": "IAMUser", "principalId": f"AIDA{name.upper():X<17}"[:21],
                                "arn": f"arn:aws:iam::{ACCOUNT}:user/{name}", "accountId": ACCOUNT,
                                "accessKeyId": key, "userName": name}
    if console:
        identity["sessionContext"] = {"sessionIssuer": {}, "attributes": {"creationDate": at(0),
                                                                          "mfaAuthenticated": "false"}}
    return identity


def role_session(role: str, session: str, key: str) -> dict[str, Any]:
    return {"type": "AssumedRole", "principalId": f"AROAEXAMPLEROLEID:{session}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}", "accountId": ACCOUNT,
            "accessKeyId": key,
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLEID",
                                                 "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                                                 "accountId": ACCOUNT, "userName": role},
                               "attributes": {"creationDate": at(0), "mfaAuthenticated": "false"}}}


def call(identity: dict[str, Any], source: str, name: str, seconds: float, *, ip: str = ATTACKER,
         agent: str = TOOL, request: dict[str, Any] | None = None, response: dict[str, Any] | None = None,
         read_only: bool = False, console: bool = False, region: str = "us-east-1") -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventVersion": "1.09", "userIdentity": identity, "eventTime": at(seconds),
        "eventSource": f"{source}.amazonaws.com", "eventName": name, "awsRegion": region,
        "sourceIPAddress": ip, "userAgent": agent, "requestParameters": request, "responseElements": response,
        "requestID": event_id(), "eventID": event_id(), "readOnly": read_only, "eventType": "AwsApiCall",
        "managementEvent": True, "recipientAccountId": ACCOUNT, "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "clientProvidedHostHeader": f"{source}.amazonaws.com"}}
    if console:
        event["sessionCredentialFromConsole"] = "true"
    return event


def create_key(creator: dict[str, Any], for_user: str, new_key: str, seconds: float, **kw: Any) -> dict[str, Any]:
    return call(creator, "iam", "CreateAccessKey", seconds, request={"userName": for_user},
                response={"accessKey": {"userName": for_user, "accessKeyId": new_key, "status": "Active",
                                        "createDate": "Mar 2, 2026 10:02:00 AM"}}, **kw)


def assume_role(caller: dict[str, Any], role: str, session: str, new_key: str, seconds: float,
                **kw: Any) -> dict[str, Any]:
    return call(caller, "sts", "AssumeRole", seconds,
                request={"roleArn": f"arn:aws:iam::{ACCOUNT}:role/{role}", "roleSessionName": session},
                response={"credentials": {"accessKeyId": new_key, "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE",
                                          "expiration": "Mar 2, 2026 11:00:00 AM"},
                          "assumedRoleUser": {"assumedRoleId": f"AROAEXAMPLEROLEID:{session}",
                                              "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"}},
                read_only=True, **kw)


def attach_admin(identity: dict[str, Any], to_user: str, seconds: float, **kw: Any) -> dict[str, Any]:
    return call(identity, "iam", "AttachUserPolicy", seconds,
                request={"userName": to_user, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, **kw)


def attach_role_admin(identity: dict[str, Any], role: str, seconds: float, **kw: Any) -> dict[str, Any]:
    return call(identity, "iam", "AttachRolePolicy", seconds,
                request={"roleName": role, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, **kw)


def stop_logging(identity: dict[str, Any], seconds: float, **kw: Any) -> dict[str, Any]:
    trail = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/org-trail"
    return call(identity, "cloudtrail", "StopLogging", seconds, request={"name": trail}, **kw)


def share_snapshot(identity: dict[str, Any], seconds: float, **kw: Any) -> dict[str, Any]:
    return call(identity, "ec2", "ModifySnapshotAttribute", seconds,
                request={"snapshotId": "snap-0123456789abcdef0", "attributeType": "CREATE_VOLUME_PERMISSION",
                         "createVolumePermission": {"add": {"items": [{"userId": "444455556666"}]}}},
                response={"_return": True}, **kw)


def recon(identity: dict[str, Any], name: str, source: str, seconds: float, **kw: Any) -> dict[str, Any]:
    return call(identity, source, name, seconds, read_only=True, **kw)


DANA = user("dana", "AKIAIOSFODNN7DANA001")
OPS_KEY = "AKIAIOSFODNN7OPSBK01"
OPS = user("ops-backup", OPS_KEY)


def minted_key_chain() -> list[dict[str, Any]]:
    """(a) user/dana mints a key for user/ops-backup; that key, from a new address, makes itself admin and
    stops the trail."""
    return [
        create_key(DANA, "ops-backup", OPS_KEY, 120, ip=OFFICE, agent=CLI),
        recon(OPS, "ListUsers", "iam", 540),
        attach_admin(OPS, "ops-backup", 600),
        stop_logging(OPS, 900),
    ]


STOLEN = user("ci-deployer", "AKIAIOSFODNN7CIDEPLY")
ROLE_KEY = "ASIAIOSFODNN7ROLE001"
ROLE = role_session("DataPipelineRole", "i-0a1b2c3d", ROLE_KEY)


def stolen_role_chain() -> list[dict[str, Any]]:
    """(b) stolen keys of user/ci-deployer assume a role; the role session looks around, makes its role
    admin and shares a snapshot with another account."""
    return [
        assume_role(STOLEN, "DataPipelineRole", "i-0a1b2c3d", ROLE_KEY, 60),
        recon(ROLE, "DescribeSnapshots", "ec2", 120),
        recon(ROLE, "ListRoles", "iam", 150),
        attach_role_admin(ROLE, "DataPipelineRole", 300),
        share_snapshot(ROLE, 420),
    ]


CONSOLE_KEY = "ASIAIOSFODNN7CONSOL1"
ERIN = user("erin", CONSOLE_KEY, console=True)
SWITCH_KEY = "ASIAIOSFODNN7SWITCH1"
ADMIN_ROLE = role_session("OrgAdmin", "erin", SWITCH_KEY)


def console_chain() -> list[dict[str, Any]]:
    """(c) user/erin in a console session lists users, switches to the OrgAdmin role from the console; the
    role session creates a key for another user and disables the trail."""
    return [
        recon(ERIN, "ListUsers", "iam", 30, console=True, agent="AWS Internal"),
        assume_role(ERIN, "OrgAdmin", "erin", SWITCH_KEY, 90, console=True),
        create_key(ADMIN_ROLE, "svc-reports", "AKIAIOSFODNN7SVCREP1", 200, console=True),
        stop_logging(ADMIN_ROLE, 320, console=True),
    ]


def late_link_chain() -> list[dict[str, Any]]:
    """(a) as a live service may apply it: the new key's first calls before the CreateAccessKey record."""
    create, recon_call, attach, stop = minted_key_chain()
    return [recon_call, attach, create, stop]
