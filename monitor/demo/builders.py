"""The example organization (accounts, people, workloads, addresses) and builders for its CloudTrail events.

Everything is a pure function of a `random.Random` and explicit times, so a seed
gives the same events on every run; nothing reads the wall clock. `make_event`
writes a record with CloudTrail's field order; the identity builders give the
`userIdentity` shapes CloudTrail writes for roles, SSO users, IAM users, root
and services.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import random
import string
import time
import uuid
from collections.abc import Callable
from typing import Any

from monitor.model.event import Record

EXAMPLE_SEED = 20260301
EXAMPLE_START = float(calendar.timegm((2026, 3, 1, 0, 0, 0)))
EXAMPLE_ACCOUNTS = ("111122223333", "444455556666")
EXAMPLE_REGIONS = ("us-east-1", "eu-west-1")
EXAMPLE_ORGANIZATION = "o-a1b2c3d4e5"
EXAMPLE_TRAIL = "organization-trail"
EXAMPLE_BUCKET = "org-cloudtrail-111122223333"

# Global services (IAM, console sign-in) record their events in us-east-1.
GLOBAL_REGION = "us-east-1"

ALNUM = string.ascii_letters + string.digits
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

# Documentation address ranges (RFC 5737): offices, application egress, attackers.
OFFICE_IPS = tuple(f"198.51.100.{n}" for n in range(10, 40))
APP_IPS = tuple(f"192.0.2.{n}" for n in range(10, 70))
# The live demo's stand-in for AWS's published ranges (`rules.aws_ip_ranges_file`): where its workloads call from.
DEMO_AWS_PREFIXES = ("192.0.2.0/24",)
ATTACKER_IPS = tuple(f"203.0.113.{n}" for n in range(20, 250))

CONSOLE_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
)
SDK_AGENTS = (
    "Boto3/1.34.50 md/Botocore#1.34.50 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.2 md/pyimpl#CPython exec-env#AWS_ECS_FARGATE cfg/retry-mode#legacy Botocore/1.34.50",
    "aws-sdk-java/2.25.6 Linux/5.10.209-198.858.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 "
    "vendor/Amazon.com_Inc. exec-env/AWS_Lambda_java17 io/sync http/Apache cfg/retry-mode/legacy",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.0 md/GOOS#linux md/GOARCH#amd64 api/s3#1.51.1",
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.40.0 "
    "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.50.30 (go1.22.0; linux; amd64)",
)
CLI_AGENT = (
    "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.1.0-18-amd64 md/arch#x86_64 lang/python#3.11.8 "
    "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#debian.12 md/prompt#off"
)
S3_CONSOLE_AGENT = ("[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.660 Linux/5.10.210 "
                     "OpenJDK_64-Bit_Server_VM/25.402]")

# People and workloads of every account (an organization repeats its roles across accounts).
SSO_USERS = ("maria.garcia@example.com", "li.wei@example.com", "sam.okafor@example.com",
              "priya.natarajan@example.com", "jonas.berg@example.com")
SSO_ROLES = ("AWSReservedSSO_AdministratorAccess_7c2e5b9a1f3d4e60",
              "AWSReservedSSO_ReadOnlyAccess_2b8f0c4d6e1a3957",
              "AWSReservedSSO_PowerUserAccess_9d1c3e5f7a2b4680")
APP_ROLES = ("orders-api-task", "billing-worker-task", "thumbnailer-lambda", "etl-glue-job", "eks-node-group")
BUCKETS = ("orders-archive", "media-uploads", "data-lake-raw", "build-artifacts")
CI_USER = "ci-deployer"
CONSOLE_USER = "legacy-admin"  # an IAM user who signs in with MFA
ASSUMING_SERVICES = ("lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "ec2.amazonaws.com", "glue.amazonaws.com")
KMS_CALLERS = ("secretsmanager.amazonaws.com", "s3.amazonaws.com", "ssm.amazonaws.com", "dynamodb.amazonaws.com")

Builder = Callable[[random.Random, float, str, str], list[Record]]


# --- small helpers -------------------------------------------------------------------------------

def rfc3339(ts: float) -> str:
    """CloudTrail's eventTime format: whole seconds, UTC, "Z"."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def new_event_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _s3_request_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016X}"


@functools.lru_cache(maxsize=65536)
def stable_id(*parts: str, length: int = 17) -> str:
    """An id that is the same every time for the same parts (principal ids, key ids)."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "".join(_BASE32[b % 32] for b in digest[:length])


def _tls(host: str) -> dict[str, str]:
    return {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": host}


def make_event(rng: random.Random, ts: float, account: str, region: str, identity: dict[str, Any], source: str,
               name: str, *, ip: str, agent: str, request: dict[str, Any] | None = None,
               response: dict[str, Any] | None = None, read_only: bool | None = True,
               error: tuple[str, str] | None = None, extra: dict[str, Any] | None = None,
               event_type: str = "AwsApiCall", category: str = "Management", host: str | None = None) -> Record:
    """One event with CloudTrail's field order; `extra` adds fields such as resources."""
    event: Record = {
        "eventVersion": "1.09" if category == "Management" else "1.10",
        "userIdentity": identity,
        "eventTime": rfc3339(ts),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": agent,
    }
    if error is not None:
        code, message = error
        if code:  # a failed console sign-in has an errorMessage but no errorCode
            event["errorCode"] = code
        event["errorMessage"] = message
    event["requestParameters"] = request
    event["responseElements"] = response
    if extra:
        event.update(extra)
    event["requestID"] = _s3_request_id(rng) if source == "s3.amazonaws.com" else new_event_id(rng)
    event["eventID"] = new_event_id(rng)
    if read_only is not None:
        event["readOnly"] = read_only
    event["eventType"] = event_type
    event["managementEvent"] = category == "Management"
    event["recipientAccountId"] = account
    event["eventCategory"] = category
    if host is not None:
        event["tlsDetails"] = _tls(host)
    return event


def service_host(service: str, region: str) -> str:
    return f"{service}.{region}.amazonaws.com"


@functools.lru_cache(maxsize=4096)
def hash_index(value: str, size: int) -> int:
    """A stable small index for a name (the same user keeps the same office IP)."""
    return int.from_bytes(hashlib.sha256(value.encode()).digest()[:4], "big") % size


# --- identities ----------------------------------------------------------------------------------

def role_identity(account: str, role: str, session: str, ts: float, *, path: str = "/", mfa: bool = False,
                  invoked_by: str | None = None) -> dict[str, Any]:
    """An assumed-role session (application role, SSO permission set)."""
    role_id = "AROA" + stable_id(account, "role", role)
    identity: dict[str, Any] = {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": "ASIA" + stable_id(account, role, session, str(int(ts // 3600)), length=16),
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": role_id,
                              "arn": f"arn:aws:iam::{account}:role{path}{role}", "accountId": account,
                              "userName": role},
            "webIdFederationData": {},
            "attributes": {"creationDate": rfc3339(ts - (ts % 3600)), "mfaAuthenticated": "true" if mfa else "false"},
        },
    }
    if invoked_by is not None:
        identity["invokedBy"] = invoked_by
    return identity


def sso_identity(account: str, user: str, role: str, ts: float) -> dict[str, Any]:
    return role_identity(account, role, user, ts, path="/aws-reserved/sso.amazonaws.com/")


def app_session(account: str, role: str) -> str:
    if role.endswith("-lambda"):
        return role.removesuffix("-lambda")
    digest = hashlib.sha256(f"{account}/{role}".encode()).hexdigest()
    if role == "eks-node-group":
        return "i-0" + digest[:16]  # an EC2 instance profile session
    return digest[:32]  # an ECS task id


def app_identity(account: str, role: str, ts: float, *, invoked_by: str | None = None) -> dict[str, Any]:
    return role_identity(account, role, app_session(account, role), ts, invoked_by=invoked_by)


def user_identity(account: str, user: str, ts: float, *, console: bool = False, mfa: bool = False) -> dict[str, Any]:
    """An IAM user: with an access key (API) or a console session (which says whether MFA was used)."""
    identity: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": "AIDA" + stable_id(account, "user", user),
        "arn": f"arn:aws:iam::{account}:user/{user}",
        "accountId": account,
    }
    if console:
        identity["accessKeyId"] = "ASIA" + stable_id(account, user, "console", str(int(ts // 3600)), length=16)
        identity["userName"] = user
        identity["sessionContext"] = {
            "sessionIssuer": {}, "webIdFederationData": {},
            "attributes": {"creationDate": rfc3339(ts - (ts % 3600)), "mfaAuthenticated": "true" if mfa else "false"},
        }
    else:
        identity["accessKeyId"] = "AKIA" + stable_id(account, user, "key", length=16)
        identity["userName"] = user
    return identity


def root_identity(account: str, ts: float, *, console: bool = True, mfa: bool = False) -> dict[str, Any]:
    identity: dict[str, Any] = {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root",
                                "accountId": account}
    if console:
        identity["accessKeyId"] = "ASIA" + stable_id(account, "root", str(int(ts // 3600)), length=16)
        identity["sessionContext"] = {
            "sessionIssuer": {}, "webIdFederationData": {},
            "attributes": {"creationDate": rfc3339(ts - 120), "mfaAuthenticated": "true" if mfa else "false"},
        }
    return identity


def service_identity(service: str) -> dict[str, Any]:
    return {"type": "AWSService", "invokedBy": service}


def role_arn(account: str, role: str) -> str:
    return f"arn:aws:iam::{account}:role/{role}"


def kms_key_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{uuid.UUID(bytes=hashlib.md5(name.encode()).digest())}"


# --- console sign-ins ----------------------------------------------------------------------------

def login_fields(ts: float, mfa_used: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23",
                            "MobileVersion": "No"}
    if mfa_used is not None:
        data["MFAUsed"] = mfa_used
    return data


def iam_console_login(rng: random.Random, ts: float, account: str, user: str, ip: str, *, mfa: bool,
                      success: bool = True, agent: str | None = None) -> Record:
    identity = {"type": "IAMUser", "principalId": "AIDA" + stable_id(account, "user", user),
                "arn": f"arn:aws:iam::{account}:user/{user}", "accountId": account, "accessKeyId": "",
                "userName": user}
    return make_event(rng, ts, account, GLOBAL_REGION, identity, "signin.amazonaws.com", "ConsoleLogin", ip=ip,
                      agent=agent or CONSOLE_AGENTS[hash_index(user, len(CONSOLE_AGENTS))], read_only=False,
                      response={"ConsoleLogin": "Success" if success else "Failure"},
                      error=None if success else ("", "Failed authentication"),
                      extra={"additionalEventData": login_fields(ts, "Yes" if mfa else "No")},
                      event_type="AwsConsoleSignIn", host="signin.aws.amazon.com")


def sso_console_login(rng: random.Random, ts: float, account: str, user: str, role: str) -> Record:
    """A federated sign-in through IAM Identity Center: MFA happened at the identity provider, not here."""
    event = make_event(rng, ts, account, GLOBAL_REGION, sso_identity(account, user, role, ts), "signin.amazonaws.com",
                       "ConsoleLogin", ip=OFFICE_IPS[hash_index(user, len(OFFICE_IPS))],
                       agent=CONSOLE_AGENTS[hash_index(user, len(CONSOLE_AGENTS))], read_only=False,
                       response={"ConsoleLogin": "Success"}, extra={"additionalEventData": login_fields(ts, None)},
                       event_type="AwsConsoleSignIn", host="signin.aws.amazon.com")
    return event
