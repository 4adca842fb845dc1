"""Realistic, deterministic CloudTrail events: the demo corpus, test fixtures and benchmark input.

Everything here is a pure function of a `random.Random` and explicit times, so
a seed gives the same events (and the same bytes) on every run; nothing reads
the wall clock. Three layers:

- `background_events`: the benign traffic of an organization (roles and SSO
  users reading, S3 data events, services assuming roles and decrypting, a few
  ordinary errors, console sign-ins with MFA). It must never alert.
- scenarios: one incident per mission detector (`SCENARIOS`), plus traps that
  look alarming but must stay quiet (`TRAPS`).
- writers: `cloudtrail_object_key`, `encode_records` and `write_example_corpus`,
  which lays events out the way CloudTrail delivers them to S3, plus the other
  formats `scan` reads.
"""

from __future__ import annotations

import calendar
import functools
import gzip
import hashlib
import random
import string
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from monitor.model.event import Event

EXAMPLE_SEED = 20260301
EXAMPLE_START = float(calendar.timegm((2026, 3, 1, 0, 0, 0)))
EXAMPLE_ACCOUNTS = ("111122223333", "444455556666")
EXAMPLE_REGIONS = ("us-east-1", "eu-west-1")
EXAMPLE_ORGANIZATION = "o-a1b2c3d4e5"
EXAMPLE_TRAIL = "organization-trail"
EXAMPLE_BUCKET = "org-cloudtrail-111122223333"

# Global services (IAM, console sign-in) record their events in us-east-1.
GLOBAL_REGION = "us-east-1"

_ALNUM = string.ascii_letters + string.digits
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

# Documentation address ranges (RFC 5737): offices, application egress, attackers.
_OFFICE_IPS = tuple(f"198.51.100.{n}" for n in range(10, 40))
_APP_IPS = tuple(f"192.0.2.{n}" for n in range(10, 70))
_ATTACKER_IPS = tuple(f"203.0.113.{n}" for n in range(20, 250))

_CONSOLE_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
)
_SDK_AGENTS = (
    "Boto3/1.34.50 md/Botocore#1.34.50 ua/2.0 os/linux#5.10.210-201.852.amzn2.x86_64 md/arch#x86_64 "
    "lang/python#3.12.2 md/pyimpl#CPython exec-env#AWS_ECS_FARGATE cfg/retry-mode#legacy Botocore/1.34.50",
    "aws-sdk-java/2.25.6 Linux/5.10.209-198.858.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 "
    "vendor/Amazon.com_Inc. exec-env/AWS_Lambda_java17 io/sync http/Apache cfg/retry-mode/legacy",
    "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.0 md/GOOS#linux md/GOARCH#amd64 api/s3#1.51.1",
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.4 (+https://www.terraform.io) terraform-provider-aws/5.40.0 "
    "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.50.30 (go1.22.0; linux; amd64)",
)
_CLI_AGENT = (
    "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.1.0-18-amd64 md/arch#x86_64 lang/python#3.11.8 "
    "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#debian.12 md/prompt#off"
)
_S3_CONSOLE_AGENT = ("[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.660 Linux/5.10.210 "
                     "OpenJDK_64-Bit_Server_VM/25.402]")

# People and workloads of every account (an organization repeats its roles across accounts).
_SSO_USERS = ("maria.garcia@example.com", "li.wei@example.com", "sam.okafor@example.com",
              "priya.natarajan@example.com", "jonas.berg@example.com")
_SSO_ROLES = ("AWSReservedSSO_AdministratorAccess_7c2e5b9a1f3d4e60",
              "AWSReservedSSO_ReadOnlyAccess_2b8f0c4d6e1a3957",
              "AWSReservedSSO_PowerUserAccess_9d1c3e5f7a2b4680")
_APP_ROLES = ("orders-api-task", "billing-worker-task", "thumbnailer-lambda", "etl-glue-job", "eks-node-group")
_BUCKETS = ("orders-archive", "media-uploads", "data-lake-raw", "build-artifacts")
_CI_USER = "ci-deployer"
_CONSOLE_USER = "legacy-admin"  # an IAM user who signs in with MFA
_ASSUMING_SERVICES = ("lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "ec2.amazonaws.com", "glue.amazonaws.com")
_KMS_CALLERS = ("secretsmanager.amazonaws.com", "s3.amazonaws.com", "ssm.amazonaws.com", "dynamodb.amazonaws.com")

Builder = Callable[[random.Random, float, str, str], list[Event]]


# --- small helpers -------------------------------------------------------------------------------

def rfc3339(ts: float) -> str:
    """CloudTrail's eventTime format: whole seconds, UTC, "Z"."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def new_event_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _s3_request_id(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016X}"


@functools.lru_cache(maxsize=65536)
def _stable(*parts: str, length: int = 17) -> str:
    """An id that is the same every time for the same parts (principal ids, key ids)."""
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "".join(_BASE32[b % 32] for b in digest[:length])


def _tls(host: str) -> dict[str, str]:
    return {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": host}


def _event(rng: random.Random, ts: float, account: str, region: str, identity: dict[str, Any], source: str,
           name: str, *, ip: str, agent: str, request: dict[str, Any] | None = None,
           response: dict[str, Any] | None = None, read_only: bool | None = True,
           error: tuple[str, str] | None = None, extra: dict[str, Any] | None = None,
           event_type: str = "AwsApiCall", category: str = "Management", host: str | None = None) -> Event:
    """One event with CloudTrail's field order; `extra` adds fields such as resources."""
    event: Event = {
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


def _host(service: str, region: str) -> str:
    return f"{service}.{region}.amazonaws.com"


# --- identities ----------------------------------------------------------------------------------

def role_identity(account: str, role: str, session: str, ts: float, *, path: str = "/", mfa: bool = False,
                  invoked_by: str | None = None) -> dict[str, Any]:
    """An assumed-role session (application role, SSO permission set)."""
    role_id = "AROA" + _stable(account, "role", role)
    identity: dict[str, Any] = {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "accessKeyId": "ASIA" + _stable(account, role, session, str(int(ts // 3600)), length=16),
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


def _app_session(account: str, role: str) -> str:
    if role.endswith("-lambda"):
        return role.removesuffix("-lambda")
    digest = hashlib.sha256(f"{account}/{role}".encode()).hexdigest()
    if role == "eks-node-group":
        return "i-0" + digest[:16]  # an EC2 instance profile session
    return digest[:32]  # an ECS task id


def app_identity(account: str, role: str, ts: float, *, invoked_by: str | None = None) -> dict[str, Any]:
    return role_identity(account, role, _app_session(account, role), ts, invoked_by=invoked_by)


def user_identity(account: str, user: str, ts: float, *, console: bool = False, mfa: bool = False) -> dict[str, Any]:
    """An IAM user: with an access key (API) or a console session (which says whether MFA was used)."""
    identity: dict[str, Any] = {
        "type": "IAMUser",
        "principalId": "AIDA" + _stable(account, "user", user),
        "arn": f"arn:aws:iam::{account}:user/{user}",
        "accountId": account,
    }
    if console:
        identity["accessKeyId"] = "ASIA" + _stable(account, user, "console", str(int(ts // 3600)), length=16)
        identity["userName"] = user
        identity["sessionContext"] = {
            "sessionIssuer": {}, "webIdFederationData": {},
            "attributes": {"creationDate": rfc3339(ts - (ts % 3600)), "mfaAuthenticated": "true" if mfa else "false"},
        }
    else:
        identity["accessKeyId"] = "AKIA" + _stable(account, user, "key", length=16)
        identity["userName"] = user
    return identity


def root_identity(account: str, ts: float, *, console: bool = True, mfa: bool = False) -> dict[str, Any]:
    identity: dict[str, Any] = {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root",
                                "accountId": account}
    if console:
        identity["accessKeyId"] = "ASIA" + _stable(account, "root", str(int(ts // 3600)), length=16)
        identity["sessionContext"] = {
            "sessionIssuer": {}, "webIdFederationData": {},
            "attributes": {"creationDate": rfc3339(ts - 120), "mfaAuthenticated": "true" if mfa else "false"},
        }
    return identity


def service_identity(service: str) -> dict[str, Any]:
    return {"type": "AWSService", "invokedBy": service}


def _role_arn(account: str, role: str) -> str:
    return f"arn:aws:iam::{account}:role/{role}"


def _kms_key_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{uuid.UUID(bytes=hashlib.md5(name.encode()).digest())}"


# --- background traffic --------------------------------------------------------------------------

def _human_or_app(rng: random.Random, account: str, ts: float) -> tuple[dict[str, Any], str, str]:
    """A reading principal with a matching source IP and user agent."""
    if rng.random() < 0.35:
        user = rng.choice(_SSO_USERS)
        return (sso_identity(account, user, rng.choice(_SSO_ROLES), ts),
                _OFFICE_IPS[hash_index(user, len(_OFFICE_IPS))], rng.choice((*_CONSOLE_AGENTS, _CLI_AGENT)))
    role = rng.choice(_APP_ROLES)
    return (app_identity(account, role, ts), _APP_IPS[hash_index(account + role, len(_APP_IPS))],
            rng.choice(_SDK_AGENTS))


@functools.lru_cache(maxsize=4096)
def hash_index(value: str, size: int) -> int:
    """A stable small index for a name (the same user keeps the same office IP)."""
    return int.from_bytes(hashlib.sha256(value.encode()).digest()[:4], "big") % size


_EC2_READS: dict[str, dict[str, Any]] = {
    "DescribeInstances": {"instancesSet": {}, "filterSet": {"items": [
        {"name": "tag:team", "valueSet": {"items": [{"value": "payments"}]}},
        {"name": "instance-state-name", "valueSet": {"items": [{"value": "running"}]}}]}},
    "DescribeSecurityGroups": {"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}},
    "DescribeVolumes": {"volumeSet": {}, "filterSet": {}, "maxResults": 500},
    "DescribeSubnets": {"subnetSet": {}, "filterSet": {"items": [
        {"name": "vpc-id", "valueSet": {"items": [{"value": "vpc-0a1b2c3d"}]}}]}},
    "DescribeVpcs": {"vpcSet": {}, "filterSet": {}},
    "DescribeNetworkInterfaces": {"networkInterfaceIdSet": {}, "filterSet": {}},
}


def _ec2_read(rng: random.Random, ts: float, account: str, region: str) -> Event:
    identity, ip, agent = _human_or_app(rng, account, ts)
    name = rng.choice(tuple(_EC2_READS))
    return _event(rng, ts, account, region, identity, "ec2.amazonaws.com", name, ip=ip, agent=agent,
                  request=_EC2_READS[name], host=_host("ec2", region))


def _s3_object_event(rng: random.Random, ts: float, account: str, region: str, *, write: bool) -> Event:
    role = rng.choice(_APP_ROLES)
    bucket = f"{rng.choice(_BUCKETS)}-{account}-{region}"
    key = f"{rng.choice(('orders', 'images', 'exports', 'raw'))}/2026/{rng.randrange(1, 13):02d}/" \
          f"{rng.getrandbits(48):012x}.{rng.choice(('json', 'parquet', 'jpg', 'csv.gz'))}"
    size = rng.randrange(300, 4_000_000)
    extra: dict[str, Any] = {
        "additionalEventData": {
            "SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
            "bytesTransferredIn": size if write else 0, "AuthenticationMethod": "AuthHeader",
            "x-amz-id-2": f"{rng.getrandbits(192):048x}", "bytesTransferredOut": 0 if write else size,
        },
        "resources": [
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
            {"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ],
    }
    request: dict[str, Any] = {"bucketName": bucket, "Host": f"{bucket}.s3.{region}.amazonaws.com", "key": key}
    response: dict[str, Any] | None = None
    if write:
        request["x-amz-server-side-encryption"] = "aws:kms"
        response = {"x-amz-server-side-encryption-aws-kms-key-id": _kms_key_arn(account, region, bucket),
                    "x-amz-server-side-encryption": "aws:kms", "x-amz-version-id": f"{rng.getrandbits(128):032x}"}
    identity = app_identity(account, role, ts)
    ip, agent = _APP_IPS[hash_index(account + role, len(_APP_IPS))], rng.choice(_SDK_AGENTS)
    if not write and rng.random() < 0.05:  # someone downloading from the S3 console
        user = rng.choice(_SSO_USERS)
        identity = sso_identity(account, user, _SSO_ROLES[2], ts)
        ip, agent = _OFFICE_IPS[hash_index(user, len(_OFFICE_IPS))], _S3_CONSOLE_AGENT
    return _event(rng, ts, account, region, identity, "s3.amazonaws.com", "PutObject" if write else "GetObject",
                  ip=ip, agent=agent, request=request, response=response, read_only=not write, extra=extra,
                  category="Data", host=f"{bucket}.s3.{region}.amazonaws.com")


def _s3_get(rng: random.Random, ts: float, account: str, region: str) -> Event:
    return _s3_object_event(rng, ts, account, region, write=False)


def _s3_put(rng: random.Random, ts: float, account: str, region: str) -> Event:
    return _s3_object_event(rng, ts, account, region, write=True)


def _service_assume_role(rng: random.Random, ts: float, account: str, region: str) -> Event:
    service = rng.choice(_ASSUMING_SERVICES)
    role = rng.choice(_APP_ROLES)
    session = _app_session(account, role)
    role_arn = _role_arn(account, role)
    return _event(
        rng, ts, account, region, service_identity(service), "sts.amazonaws.com", "AssumeRole",
        ip=service, agent=service,
        request={"roleArn": role_arn, "roleSessionName": session, "durationSeconds": 3600},
        response={"credentials": {"accessKeyId": "ASIA" + _stable(account, role, session, str(int(ts // 3600)),
                                                                  length=16),
                                  "expiration": time.strftime("%b %d, %Y, %I:%M:%S %p", time.gmtime(ts + 3600))},
                  "assumedRoleUser": {"assumedRoleId": f"AROA{_stable(account, 'role', role)}:{session}",
                                      "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}"}},
        extra={"resources": [{"accountId": account, "type": "AWS::IAM::Role", "ARN": role_arn}],
               "sharedEventID": new_event_id(rng)},
    )


def _kms_decrypt(rng: random.Random, ts: float, account: str, region: str) -> Event:
    caller = rng.choice(_KMS_CALLERS)
    role = rng.choice(_APP_ROLES)
    key_arn = _kms_key_arn(account, region, caller)
    context = {"SecretARN": f"arn:aws:secretsmanager:{region}:{account}:secret:prod/db-AbCdEf",
               "SecretVersionId": str(uuid.UUID(int=rng.getrandbits(128), version=4))} \
        if caller.startswith("secretsmanager") else {"aws:s3:arn": f"arn:aws:s3:::{rng.choice(_BUCKETS)}-{account}"}
    return _event(rng, ts, account, region, app_identity(account, role, ts, invoked_by=caller), "kms.amazonaws.com",
                  "Decrypt", ip=caller, agent=caller,
                  request={"encryptionContext": context, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
                  extra={"resources": [{"accountId": account, "type": "AWS::KMS::Key", "ARN": key_arn}]})


_APP_READS: tuple[tuple[str, str, Callable[[str, str], dict[str, Any] | None]], ...] = (
    ("lambda.amazonaws.com", "ListFunctions20150331", lambda a, r: {"maxItems": 50}),
    ("lambda.amazonaws.com", "GetFunction20150331v2", lambda a, r: {"functionName": "thumbnailer"}),
    ("dynamodb.amazonaws.com", "DescribeTable", lambda a, r: {"tableName": "orders"}),
    ("logs.amazonaws.com", "DescribeLogGroups", lambda a, r: {"limit": 50}),
    ("ssm.amazonaws.com", "GetParameter", lambda a, r: {"name": "/prod/orders/feature-flags", "withDecryption": True}),
    ("secretsmanager.amazonaws.com", "GetSecretValue",
     lambda a, r: {"secretId": f"arn:aws:secretsmanager:{r}:{a}:secret:prod/db-AbCdEf"}),
    ("ecr.amazonaws.com", "GetAuthorizationToken", lambda a, r: None),
    ("sts.amazonaws.com", "GetCallerIdentity", lambda a, r: None),
    ("cloudformation.amazonaws.com", "DescribeStacks", lambda a, r: {"stackName": "orders-api"}),
    ("elasticloadbalancing.amazonaws.com", "DescribeTargetHealth",
     lambda a, r: {"targetGroupArn": f"arn:aws:elasticloadbalancing:{r}:{a}:targetgroup/orders/0123456789abcdef"}),
)


def _app_read(rng: random.Random, ts: float, account: str, region: str) -> Event:
    source, name, request = rng.choice(_APP_READS)
    identity, ip, agent = _human_or_app(rng, account, ts)
    service = source.split(".")[0]
    return _event(rng, ts, account, region, identity, source, name, ip=ip, agent=agent,
                  request=request(account, region), host=_host(service, region))


_IAM_READS: tuple[tuple[str, Callable[[str], dict[str, Any] | None]], ...] = (
    ("ListRoles", lambda a: {"maxItems": 1000}),
    ("GetRole", lambda a: {"roleName": "orders-api-task"}),
    ("ListAttachedRolePolicies", lambda a: {"roleName": "billing-worker-task"}),
    ("GetPolicy", lambda a: {"policyArn": f"arn:aws:iam::{a}:policy/orders-data-access"}),
    ("ListPolicies", lambda a: {"scope": "Local", "onlyAttached": False, "maxItems": 100}),
    ("GetAccountPasswordPolicy", lambda a: None),
    ("ListUsers", lambda a: {"maxItems": 100}),
)


def _iam_read(rng: random.Random, ts: float, account: str, region: str) -> Event:
    name, request = rng.choice(_IAM_READS)
    if rng.random() < 0.2:
        identity = user_identity(account, _CONSOLE_USER, ts, console=True, mfa=True)
        ip, agent = _OFFICE_IPS[0], _CONSOLE_AGENTS[0]
        extra: dict[str, Any] = {"sessionCredentialFromConsole": "true"}
    else:
        user = rng.choice(_SSO_USERS)
        identity = sso_identity(account, user, rng.choice(_SSO_ROLES), ts)
        ip, agent = _OFFICE_IPS[hash_index(user, len(_OFFICE_IPS))], rng.choice(_CONSOLE_AGENTS)
        extra = {"sessionCredentialFromConsole": "true"}
    event = _event(rng, ts, account, GLOBAL_REGION, identity, "iam.amazonaws.com", name, ip=ip, agent=agent,
                   request=request(account), host="iam.amazonaws.com")
    event.update(extra)
    return event


def _ci_deploy(rng: random.Random, ts: float, account: str, region: str) -> Event:
    """The CI pipeline's IAM user: long-term key, uploads artifacts and reads stacks (nothing sensitive)."""
    identity = user_identity(account, _CI_USER, ts)
    ip = _APP_IPS[hash_index("ci" + account, len(_APP_IPS))]
    if rng.random() < 0.6:
        event = _s3_object_event(rng, ts, account, region, write=True)
        event["userIdentity"] = identity
        event["sourceIPAddress"] = ip
        event["userAgent"] = _CLI_AGENT
        return event
    name = rng.choice(("DescribeStacks", "DescribeStackEvents", "ListStackResources"))
    return _event(rng, ts, account, region, identity, "cloudformation.amazonaws.com", name, ip=ip,
                  agent=_CLI_AGENT, request={"stackName": "orders-api"}, host=_host("cloudformation", region))


def _service_event(rng: random.Random, ts: float, account: str, region: str) -> Event:
    """An event AWS records about itself (eventType AwsServiceEvent)."""
    key_arn = _kms_key_arn(account, region, "rotation")
    return _event(rng, ts, account, region, {"accountId": account, "invokedBy": "kms.amazonaws.com"},
                  "kms.amazonaws.com", "RotateKey", ip="kms.amazonaws.com", agent="kms.amazonaws.com",
                  read_only=False, event_type="AwsServiceEvent",
                  extra={"resources": [{"accountId": account, "type": "AWS::KMS::Key", "ARN": key_arn}],
                         "additionalEventData": {"keyId": key_arn.rsplit("/", 1)[1]}})


_ORDINARY_ERRORS = (
    ("ssm.amazonaws.com", "GetParameter", ("ParameterNotFound", "Parameter /prod/orders/missing not found.")),
    ("dynamodb.amazonaws.com", "DescribeTable", ("ResourceNotFoundException", "Requested resource not found")),
    ("ec2.amazonaws.com", "DescribeInstances", ("Client.InvalidInstanceID.NotFound",
                                                "The instance ID 'i-0fedcba987654321' does not exist")),
    ("lambda.amazonaws.com", "GetFunction20150331v2", ("ResourceNotFoundException", "Function not found")),
    ("s3.amazonaws.com", "GetBucketPolicy", ("NoSuchBucketPolicy", "The bucket policy does not exist")),
    ("s3.amazonaws.com", "GetObject", ("AccessDenied", "Access Denied")),
)


def _ordinary_error(rng: random.Random, ts: float, account: str, region: str) -> Event:
    source, name, (code, message) = rng.choice(_ORDINARY_ERRORS)
    identity, ip, agent = _human_or_app(rng, account, ts)
    return _event(rng, ts, account, region, identity, source, name, ip=ip, agent=agent,
                  request={"name": "/prod/orders/missing"} if source.startswith("ssm") else {},
                  error=(code, message),
                  host=_host(source.split(".")[0], region))


def _console_sign_in(rng: random.Random, ts: float, account: str, region: str) -> Event:
    if rng.random() < 0.8:  # people come through IAM Identity Center: no MFA fields in the member account
        user = rng.choice(_SSO_USERS)
        return sso_console_login(rng, ts, account, user, rng.choice(_SSO_ROLES))
    return _iam_console_login(rng, ts, account, _CONSOLE_USER, _OFFICE_IPS[0], mfa=True)


_Template = Callable[[random.Random, float, str, str], Event]

# (weight, generator); global ones only in GLOBAL_REGION objects, as CloudTrail delivers them.
_REGIONAL: tuple[tuple[float, _Template], ...] = (
    (26, _s3_get), (9, _s3_put), (14, _ec2_read), (12, _app_read), (9, _kms_decrypt), (8, _service_assume_role),
    (5, _ci_deploy), (1.2, _ordinary_error), (0.8, _service_event),
)
_GLOBAL: tuple[tuple[float, _Template], ...] = ((5, _iam_read), (0.4, _console_sign_in))


def _cumulative(templates: Sequence[tuple[float, _Template]]) -> tuple[list[float], list[_Template]]:
    weights: list[float] = []
    total = 0.0
    for weight, _ in templates:
        total += weight
        weights.append(total)
    return weights, [template for _, template in templates]


_REGIONAL_TABLE = _cumulative(_REGIONAL)
_GLOBAL_TABLE = _cumulative((*_REGIONAL, *_GLOBAL))


def background_events(rng: random.Random, start: float, count: int, accounts: Sequence[str],
                      regions: Sequence[str], *, duration: float = 3600.0) -> list[Event]:
    """`count` benign events spread over [start, start + duration), sorted by time."""
    times = sorted(int(start + rng.random() * duration) for _ in range(count))
    events: list[Event] = []
    for ts in times:
        account = rng.choice(accounts)
        region = rng.choice(regions)
        cumulative, templates = _GLOBAL_TABLE if region == GLOBAL_REGION else _REGIONAL_TABLE
        template = rng.choices(templates, cum_weights=cumulative)[0]
        events.append(template(rng, float(ts), account, region))
    return events


# --- console sign-ins ----------------------------------------------------------------------------

def _login_fields(ts: float, mfa_used: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23",
                            "MobileVersion": "No"}
    if mfa_used is not None:
        data["MFAUsed"] = mfa_used
    return data


def _iam_console_login(rng: random.Random, ts: float, account: str, user: str, ip: str, *, mfa: bool,
                       success: bool = True, agent: str | None = None) -> Event:
    identity = {"type": "IAMUser", "principalId": "AIDA" + _stable(account, "user", user),
                "arn": f"arn:aws:iam::{account}:user/{user}", "accountId": account, "accessKeyId": "",
                "userName": user}
    return _event(rng, ts, account, GLOBAL_REGION, identity, "signin.amazonaws.com", "ConsoleLogin", ip=ip,
                  agent=agent or _CONSOLE_AGENTS[hash_index(user, len(_CONSOLE_AGENTS))], read_only=False,
                  response={"ConsoleLogin": "Success" if success else "Failure"},
                  error=None if success else ("", "Failed authentication"),
                  extra={"additionalEventData": _login_fields(ts, "Yes" if mfa else "No")},
                  event_type="AwsConsoleSignIn", host="signin.aws.amazon.com")


def sso_console_login(rng: random.Random, ts: float, account: str, user: str, role: str) -> Event:
    """A federated sign-in through IAM Identity Center: MFA happened at the identity provider, not here."""
    event = _event(rng, ts, account, GLOBAL_REGION, sso_identity(account, user, role, ts), "signin.amazonaws.com",
                   "ConsoleLogin", ip=_OFFICE_IPS[hash_index(user, len(_OFFICE_IPS))],
                   agent=_CONSOLE_AGENTS[hash_index(user, len(_CONSOLE_AGENTS))], read_only=False,
                   response={"ConsoleLogin": "Success"}, extra={"additionalEventData": _login_fields(ts, None)},
                   event_type="AwsConsoleSignIn", host="signin.aws.amazon.com")
    return event


# --- scenarios: one incident per mission detector ------------------------------------------------

def root_console_login(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION) -> list[Event]:
    """Root signs in to the console, successfully and without MFA."""
    return [_event(rng, at, account, GLOBAL_REGION, root_identity(account, at, console=False),
                   "signin.amazonaws.com", "ConsoleLogin", ip=rng.choice(_ATTACKER_IPS), agent=_CONSOLE_AGENTS[1],
                   read_only=False, response={"ConsoleLogin": "Success"},
                   extra={"additionalEventData": _login_fields(at, "No")}, event_type="AwsConsoleSignIn",
                   host="signin.aws.amazon.com")]


def console_login_failure_burst(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION,
                                *, user: str = "bob", failures: int = 6) -> list[Event]:
    """Someone guesses one IAM user's password: `failures` failed sign-ins within a few minutes."""
    ip = rng.choice(_ATTACKER_IPS)
    events: list[Event] = []
    ts = at
    for _ in range(failures):
        events.append(_iam_console_login(rng, ts, account, user, ip, mfa=False, success=False,
                                         agent=_CONSOLE_AGENTS[2]))
        ts += rng.randrange(15, 50)
    return events


SPRAY_USERS = ("alice", "bob", "carol", "dave", "erin", "frank")


def console_password_spray(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION,
                           *, users: Sequence[str] = SPRAY_USERS) -> list[Event]:
    """One source IP tries one password against many user names."""
    ip = rng.choice(_ATTACKER_IPS)
    events: list[Event] = []
    ts = at
    for user in users:
        events.append(_iam_console_login(rng, ts, account, user, ip, mfa=False, success=False,
                                         agent=_CONSOLE_AGENTS[0]))
        ts += rng.randrange(5, 20)
    return events


# What an attacker with stolen role credentials tries first; each is denied.
_RECON_CALLS: tuple[tuple[str, str, str, dict[str, Any] | None], ...] = (
    ("iam.amazonaws.com", "ListUsers", "AccessDenied", {"maxItems": 1000}),
    ("iam.amazonaws.com", "ListRoles", "AccessDenied", None),
    ("iam.amazonaws.com", "GetAccountAuthorizationDetails", "AccessDenied", {"filter": ["User", "Role"]}),
    ("s3.amazonaws.com", "ListBuckets", "AccessDenied", {"Host": "s3.amazonaws.com"}),
    ("ec2.amazonaws.com", "DescribeInstances", "Client.UnauthorizedOperation", {"instancesSet": {}, "filterSet": {}}),
    ("ec2.amazonaws.com", "DescribeSnapshots", "Client.UnauthorizedOperation",
     {"snapshotSet": {}, "ownersSet": {"items": [{"owner": "self"}]}}),
    ("ec2.amazonaws.com", "DescribeKeyPairs", "Client.UnauthorizedOperation", {"keySet": {}}),
    ("secretsmanager.amazonaws.com", "ListSecrets", "AccessDenied", None),
    ("lambda.amazonaws.com", "ListFunctions20150331", "AccessDenied", None),
    ("organizations.amazonaws.com", "DescribeOrganization", "AccessDenied", None),
    ("rds.amazonaws.com", "DescribeDBInstances", "AccessDenied", None),
)


def access_denied_burst(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION,
                        *, denials: int = 25, role: str = "orders-api-task") -> list[Event]:
    """Stolen role credentials used from outside to enumerate the account: `denials` denied calls."""
    identity = app_identity(account, role, at)
    ip = rng.choice(_ATTACKER_IPS)
    events: list[Event] = []
    ts = at
    for index in range(denials):
        source, name, code, request = _RECON_CALLS[index % len(_RECON_CALLS)]
        service = source.split(".")[0]
        where = GLOBAL_REGION if service in ("iam", "organizations") else region
        arn = identity["arn"]
        message = ("You are not authorized to perform this operation." if code.endswith("UnauthorizedOperation")
                   else f"User: {arn} is not authorized to perform: {service}:{name.removesuffix('20150331')} "
                        "because no identity-based policy allows the action")
        events.append(_event(rng, ts, account, where, identity, source, name, ip=ip, agent=_CLI_AGENT,
                             request=request, error=(code, message), host=_host(service, where)))
        ts += rng.randrange(2, 9)
    return events


def access_key_created_for_other_user(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION,
                                      *, creator: str = "alice", target: str = "svc-backup") -> list[Event]:
    """An IAM user (signed in with MFA) mints an access key for a different user."""
    identity = user_identity(account, creator, at, console=True, mfa=True)
    created = time.strftime("%b %d, %Y, %I:%M:%S %p", time.gmtime(at))
    event = _event(rng, at, account, GLOBAL_REGION, identity, "iam.amazonaws.com", "CreateAccessKey",
                   ip=_OFFICE_IPS[hash_index(creator, len(_OFFICE_IPS))], agent=_CONSOLE_AGENTS[0], read_only=False,
                   request={"userName": target},
                   response={"accessKey": {"userName": target,
                                           "accessKeyId": "AKIA" + _stable(account, target, "new", length=16),
                                           "status": "Active", "createDate": created}},
                   host="iam.amazonaws.com")
    event["sessionCredentialFromConsole"] = "true"
    return [event]


def console_login_without_mfa(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION,
                              *, user: str = "dave") -> list[Event]:
    """An IAM user signs in to the console with a password only."""
    return [_iam_console_login(rng, at, account, user, _OFFICE_IPS[hash_index(user, len(_OFFICE_IPS))], mfa=False)]


def non_mfa_sensitive_calls(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION,
                            *, user: str = "ops-jenkins") -> list[Event]:
    """An IAM user's long-term key (no MFA) grants itself AdministratorAccess, then stops CloudTrail logging."""
    identity = user_identity(account, user, at)
    ip = rng.choice(_ATTACKER_IPS)
    trail_arn = f"arn:aws:cloudtrail:{GLOBAL_REGION}:{account}:trail/{EXAMPLE_TRAIL}"
    attach = _event(rng, at, account, GLOBAL_REGION, identity, "iam.amazonaws.com", "AttachUserPolicy", ip=ip,
                    agent=_CLI_AGENT, read_only=False,
                    request={"userName": user, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
                    host="iam.amazonaws.com")
    stop = _event(rng, at + rng.randrange(20, 90), account, GLOBAL_REGION, identity, "cloudtrail.amazonaws.com",
                  "StopLogging", ip=ip, agent=_CLI_AGENT, read_only=False, request={"name": trail_arn},
                  extra={"resources": [{"accountId": account, "type": "AWS::CloudTrail::Trail", "ARN": trail_arn}]},
                  host=_host("cloudtrail", GLOBAL_REGION))
    return [attach, stop]


def root_api_activity(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION) -> list[Event]:
    """Root, signed in with MFA, browses IAM, EC2 and S3 from the console."""
    identity = root_identity(account, at, console=True, mfa=True)
    ip = _OFFICE_IPS[hash_index("root" + account, len(_OFFICE_IPS))]
    calls: tuple[tuple[str, str, dict[str, Any] | None], ...] = (
        ("iam.amazonaws.com", "GetAccountSummary", None),
        ("iam.amazonaws.com", "ListUsers", {"maxItems": 1000}),
        ("iam.amazonaws.com", "ListAccessKeys", {"userName": "alice"}),
        ("ec2.amazonaws.com", "DescribeRegions", {"regionSet": {}}),
        ("s3.amazonaws.com", "ListBuckets", {"Host": "s3.amazonaws.com"}),
    )
    events: list[Event] = []
    ts = at
    for source, name, request in calls:
        event = _event(rng, ts, account, GLOBAL_REGION, identity, source, name, ip=ip, agent=_CONSOLE_AGENTS[0],
                       request=request, host=_host(source.split(".")[0], GLOBAL_REGION))
        event["sessionCredentialFromConsole"] = "true"
        events.append(event)
        ts += rng.randrange(5, 40)
    return events


# --- traps: alarming at first sight, and must stay quiet -----------------------------------------

def log_delivery_access_denied(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION,
                               *, count: int = 30) -> list[Event]:
    """AWS log delivery probing a bucket it may not write to: a flood of denials made by AWS itself."""
    bucket = f"vpc-flow-logs-{account}"
    events: list[Event] = []
    ts = at
    for _ in range(count):
        events.append(_event(rng, ts, account, region, service_identity("delivery.logs.amazonaws.com"),
                             "s3.amazonaws.com", "GetBucketAcl", ip="delivery.logs.amazonaws.com",
                             agent="delivery.logs.amazonaws.com", error=("AccessDenied", "Access Denied"),
                             request={"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com", "acl": ""},
                             extra={"resources": [{"accountId": account, "type": "AWS::S3::Bucket",
                                                   "ARN": f"arn:aws:s3:::{bucket}"}]}))
        ts += rng.randrange(3, 15)
    return events


def sso_console_sign_ins(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION,
                         *, count: int = 4) -> list[Event]:
    """A team signing in through IAM Identity Center at the start of the day: no MFA fields, no alert."""
    events: list[Event] = []
    ts = at
    for index in range(count):
        user = _SSO_USERS[index % len(_SSO_USERS)]
        events.append(sso_console_login(rng, ts, account, user, _SSO_ROLES[index % len(_SSO_ROLES)]))
        ts += rng.randrange(30, 120)
    return events


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    build: Builder
    # The detector ids expected to alert, one alert each, on this scenario alone.
    detectors: frozenset[str]


SCENARIOS: tuple[Scenario, ...] = (
    # Root without MFA is also a console sign-in without MFA.
    Scenario("root-console-login", root_console_login, frozenset({"root-console-login", "console-login-without-mfa"})),
    Scenario("console-login-failure-burst", console_login_failure_burst, frozenset({"console-login-failure-burst"})),
    Scenario("console-password-spray", console_password_spray, frozenset({"console-password-spray"})),
    Scenario("access-denied-burst", access_denied_burst, frozenset({"access-denied-burst"})),
    Scenario("access-key-created", access_key_created_for_other_user, frozenset({"access-key-created"})),
    Scenario("console-login-without-mfa", console_login_without_mfa, frozenset({"console-login-without-mfa"})),
    # Attaching AdministratorAccess and stopping CloudTrail are also CIS changes in their own right.
    Scenario("non-mfa-sensitive-call", non_mfa_sensitive_calls,
             frozenset({"non-mfa-sensitive-call", "admin-policy-attached", "iam-policy-changed",
                        "cloudtrail-logging-stopped"})),
    Scenario("root-activity", root_api_activity, frozenset({"root-activity"})),
)
TRAPS: tuple[Scenario, ...] = (
    Scenario("log-delivery-access-denied", log_delivery_access_denied, frozenset()),
    Scenario("sso-console-sign-ins", sso_console_sign_ins, frozenset()),
)

MISSION_DETECTORS = frozenset().union(*(s.detectors for s in SCENARIOS))


# --- writing CloudTrail's delivery layout --------------------------------------------------------

def cloudtrail_object_key(account: str, region: str, moment: float, rng: random.Random,
                          organization_id: str | None = None) -> str:
    """The S3 key CloudTrail uses for a log file delivered at `moment` (epoch seconds)."""
    stamp = time.gmtime(moment)
    unique = "".join(rng.choice(_ALNUM) for _ in range(16))
    prefix = f"AWSLogs/{organization_id}/{account}" if organization_id else f"AWSLogs/{account}"
    return (f"{prefix}/CloudTrail/{region}/{time.strftime('%Y/%m/%d', stamp)}/"
            f"{account}_CloudTrail_{region}_{time.strftime('%Y%m%dT%H%MZ', stamp)}_{unique}.json.gz")


def encode_records(events: Iterable[Event]) -> bytes:
    """A CloudTrail log file: gzip of {"Records": [...]}. mtime 0 keeps the bytes deterministic."""
    return gzip.compress(orjson.dumps({"Records": list(events)}), compresslevel=6, mtime=0)


def _event_time(event: Event) -> float:
    return float(calendar.timegm(time.strptime(event["eventTime"], "%Y-%m-%dT%H:%M:%SZ")))


def write_s3_objects(directory: Path, events: Iterable[Event], rng: random.Random, *,
                     object_seconds: int = 3600, organization_id: str | None = None) -> list[Path]:
    """Group events into one log file per account, region and delivery period; return the files written."""
    grouped: dict[tuple[int, str, str], list[Event]] = {}
    for event in events:
        slot = int(_event_time(event) // object_seconds)
        grouped.setdefault((slot, event["recipientAccountId"], event["awsRegion"]), []).append(event)
    written: list[Path] = []
    for (slot, account, region), batch in sorted(grouped.items()):
        batch.sort(key=lambda e: e["eventTime"])
        delivered = (slot + 1) * object_seconds + rng.randrange(60, 300)
        path = directory / cloudtrail_object_key(account, region, delivered, rng, organization_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_records(batch))
        written.append(path)
    return written


def _digest(directory: Path, account: str, region: str, start: float, logs: list[Path]) -> Path:
    """A CloudTrail-Digest file listing the log files of one hour (scan skips these)."""
    end = start + 3600
    files = []
    for log in logs:
        data = log.read_bytes()
        times = [e["eventTime"] for e in orjson.loads(gzip.decompress(data))["Records"]]
        files.append({"s3Bucket": EXAMPLE_BUCKET, "s3Object": log.relative_to(directory).as_posix(),
                      "hashValue": hashlib.sha256(data).hexdigest(), "hashAlgorithm": "SHA-256",
                      "newestEventTime": max(times), "oldestEventTime": min(times)})
    stamp = time.gmtime(end + 312)
    prefix = f"AWSLogs/{EXAMPLE_ORGANIZATION}/{account}/CloudTrail-Digest/{region}/{time.strftime('%Y/%m/%d', stamp)}"
    name = f"{account}_CloudTrail-Digest_{region}_{EXAMPLE_TRAIL}_{region}_{time.strftime('%Y%m%dT%H%M%SZ', stamp)}"
    path = directory / prefix / f"{name}.json.gz"
    digest = {
        "awsAccountId": account, "digestStartTime": rfc3339(start), "digestEndTime": rfc3339(end),
        "digestS3Bucket": EXAMPLE_BUCKET, "digestS3Object": f"{prefix}/{name}.json.gz",
        "digestPublicKeyFingerprint": hashlib.md5(b"trailsentry example key").hexdigest(),
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": max((f["newestEventTime"] for f in files), default=None),
        "oldestEventTime": min((f["oldestEventTime"] for f in files), default=None),
        "previousDigestS3Bucket": None, "previousDigestS3Object": None, "previousDigestHashValue": None,
        "previousDigestHashAlgorithm": None, "previousDigestSignature": None, "logFiles": files,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(orjson.dumps(digest), mtime=0))
    return path


def insight_events(rng: random.Random, at: float, account: str, region: str) -> list[Event]:
    """A CloudTrail Insight (unusual API call rate): a Start and an End event."""
    shared = new_event_id(rng)
    events: list[Event] = []
    for state, ts in (("Start", at), ("End", at + 1200)):
        details: dict[str, Any] = {"state": state, "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
                                   "insightType": "ApiCallRateInsight"}
        details["insightContext"] = {"statistics": {"baseline": {"average": 0.0417},
                                                    "insight": {"average": 2.6} if state == "Start" else {},
                                                    "insightDuration": 20, "baselineDuration": 10079}}
        events.append({"eventVersion": "1.08", "eventTime": rfc3339(ts), "awsRegion": region,
                       "eventID": new_event_id(rng), "eventType": "AwsCloudTrailInsight",
                       "recipientAccountId": account, "sharedEventID": shared, "insightDetails": details,
                       "eventCategory": "Insight"})
    return events


# Where each scenario happens in the example day: (scenario, hours after start, account index, region).
_SCHEDULE: tuple[tuple[str, float, int, str], ...] = (
    ("root-console-login", 2.28, 1, GLOBAL_REGION),
    ("console-login-failure-burst", 3.67, 0, GLOBAL_REGION),
    ("console-password-spray", 5.08, 1, GLOBAL_REGION),
    ("log-delivery-access-denied", 6.0, 0, "eu-west-1"),
    ("access-denied-burst", 7.5, 0, "eu-west-1"),
    ("sso-console-sign-ins", 8.02, 1, GLOBAL_REGION),
    ("access-key-created", 9.2, 0, GLOBAL_REGION),
    ("console-login-without-mfa", 11.8, 1, GLOBAL_REGION),
    ("non-mfa-sensitive-call", 14.05, 0, GLOBAL_REGION),
    ("root-activity", 16.42, 1, GLOBAL_REGION),
)


def scenario(name: str) -> Scenario:
    for candidate in (*SCENARIOS, *TRAPS):
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def example_day(rng: random.Random, *, start: float = EXAMPLE_START, background: int = 3000,
                accounts: Sequence[str] = EXAMPLE_ACCOUNTS, regions: Sequence[str] = EXAMPLE_REGIONS,
                include: Iterable[str] | None = None) -> list[Event]:
    """One day of an organization: background plus the scheduled scenarios (all, or those in `include`)."""
    events = background_events(rng, start, background, accounts, regions, duration=86400.0)
    wanted = None if include is None else set(include)
    for name, hours, account_index, region in _SCHEDULE:
        if wanted is not None and name not in wanted:
            continue
        events.extend(scenario(name).build(rng, start + round(hours * 3600), accounts[account_index], region))
    return events


def write_example_corpus(directory: Path, *, seed: int = EXAMPLE_SEED, start: float = EXAMPLE_START) -> list[Path]:
    """The demo corpus: one day of two accounts and two regions in S3 layout with every scenario once,
    plus a JSON Lines file, a JSON array, a CloudWatch Logs export, a digest and an Insight file.

    Every file holds its own events (the engine de-duplicates by eventID across files), and the
    non-S3 formats cover the hour before the day so the scan still reads events in time order.
    """
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    written = write_s3_objects(directory, example_day(rng, start=start), rng, organization_id=EXAMPLE_ORGANIZATION)

    account = EXAMPLE_ACCOUNTS[0]
    first_hour = [p for p in written if f"/{account}/CloudTrail/{GLOBAL_REGION}/" in p.as_posix()
                  and _name_time(p) <= start + 3600 + 300]
    written.append(_digest(directory, account, GLOBAL_REGION, start, first_hour))

    insight_at = start + 12 * 3600
    insight_key = cloudtrail_object_key(account, GLOBAL_REGION, insight_at + 1500, rng, EXAMPLE_ORGANIZATION)
    insight_path = directory / insight_key.replace("/CloudTrail/", "/CloudTrail-Insight/").replace(
        "_CloudTrail_", "_CloudTrail-Insight_")
    insight_path.parent.mkdir(parents=True, exist_ok=True)
    insight_path.write_bytes(encode_records(insight_events(rng, insight_at, account, GLOBAL_REGION)))
    written.append(insight_path)

    exports = directory / "exports"
    exports.mkdir(exist_ok=True)
    before = start - 3600
    jsonl = background_events(rng, before, 120, EXAMPLE_ACCOUNTS, EXAMPLE_REGIONS, duration=1200)
    path = exports / "siem-export.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in jsonl))
    written.append(path)

    array = background_events(rng, before + 1200, 120, EXAMPLE_ACCOUNTS, EXAMPLE_REGIONS, duration=1200)
    path = exports / "athena-query-result.json"
    path.write_bytes(orjson.dumps(array, option=orjson.OPT_INDENT_2))
    written.append(path)

    logged = background_events(rng, before + 2400, 120, EXAMPLE_ACCOUNTS, [GLOBAL_REGION], duration=1200)
    lines = []
    for event in logged:
        ingested = _event_time(event) + rng.randrange(30, 300)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ingested)) + ".000Z"
        lines.append(stamp.encode() + b" " + orjson.dumps(event) + b"\n")
    lines.sort()
    path = exports / "cloudwatch" / f"{account}_CloudTrail_{GLOBAL_REGION}" / "000000.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b"".join(lines), mtime=0))
    written.append(path)
    return written


def _name_time(path: Path) -> float:
    stamp = path.name.split("_")[3]
    return float(calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%MZ")))


__all__ = [
    "EXAMPLE_ACCOUNTS",
    "EXAMPLE_ORGANIZATION",
    "EXAMPLE_REGIONS",
    "EXAMPLE_SEED",
    "EXAMPLE_START",
    "MISSION_DETECTORS",
    "SCENARIOS",
    "TRAPS",
    "Scenario",
    "background_events",
    "cloudtrail_object_key",
    "encode_records",
    "example_day",
    "scenario",
    "write_example_corpus",
    "write_s3_objects",
]
