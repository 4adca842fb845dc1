"""The benign traffic of an organization: it must never alert.

Roles and SSO users reading, S3 data events, services assuming roles and
decrypting, CI deployments, a few ordinary errors, console sign-ins with MFA;
`background_events` draws them by weight over a time span.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from monitor.demo.builders import (
    APP_IPS,
    APP_ROLES,
    ASSUMING_SERVICES,
    BUCKETS,
    CI_USER,
    CLI_AGENT,
    CONSOLE_AGENTS,
    CONSOLE_USER,
    GLOBAL_REGION,
    KMS_CALLERS,
    OFFICE_IPS,
    S3_CONSOLE_AGENT,
    SDK_AGENTS,
    SSO_ROLES,
    SSO_USERS,
    app_identity,
    app_session,
    hash_index,
    iam_console_login,
    kms_key_arn,
    make_event,
    new_event_id,
    role_arn,
    service_host,
    service_identity,
    sso_console_login,
    sso_identity,
    stable_id,
    user_identity,
)
from monitor.model.event import Record


def _human_or_app(rng: random.Random, account: str, ts: float) -> tuple[dict[str, Any], str, str]:
    """A reading principal with a matching source IP and user agent."""
    if rng.random() < 0.35:
        user = rng.choice(SSO_USERS)
        return (sso_identity(account, user, rng.choice(SSO_ROLES), ts),
                OFFICE_IPS[hash_index(user, len(OFFICE_IPS))], rng.choice((*CONSOLE_AGENTS, CLI_AGENT)))
    role = rng.choice(APP_ROLES)
    return (app_identity(account, role, ts), APP_IPS[hash_index(account + role, len(APP_IPS))],
            rng.choice(SDK_AGENTS))


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


def _ec2_read(rng: random.Random, ts: float, account: str, region: str) -> Record:
    identity, ip, agent = _human_or_app(rng, account, ts)
    name = rng.choice(tuple(_EC2_READS))
    return make_event(rng, ts, account, region, identity, "ec2.amazonaws.com", name, ip=ip, agent=agent,
                      request=_EC2_READS[name], host=service_host("ec2", region))


def _s3_object_event(rng: random.Random, ts: float, account: str, region: str, *, write: bool) -> Record:
    role = rng.choice(APP_ROLES)
    bucket = f"{rng.choice(BUCKETS)}-{account}-{region}"
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
        response = {"x-amz-server-side-encryption-aws-kms-key-id": kms_key_arn(account, region, bucket),
                    "x-amz-server-side-encryption": "aws:kms", "x-amz-version-id": f"{rng.getrandbits(128):032x}"}
    identity = app_identity(account, role, ts)
    ip, agent = APP_IPS[hash_index(account + role, len(APP_IPS))], rng.choice(SDK_AGENTS)
    if not write and rng.random() < 0.05:  # someone downloading from the S3 console
        user = rng.choice(SSO_USERS)
        identity = sso_identity(account, user, SSO_ROLES[2], ts)
        ip, agent = OFFICE_IPS[hash_index(user, len(OFFICE_IPS))], S3_CONSOLE_AGENT
    return make_event(rng, ts, account, region, identity, "s3.amazonaws.com", "PutObject" if write else "GetObject",
                      ip=ip, agent=agent, request=request, response=response, read_only=not write, extra=extra,
                      category="Data", host=f"{bucket}.s3.{region}.amazonaws.com")


def _s3_get(rng: random.Random, ts: float, account: str, region: str) -> Record:
    return _s3_object_event(rng, ts, account, region, write=False)


def _s3_put(rng: random.Random, ts: float, account: str, region: str) -> Record:
    return _s3_object_event(rng, ts, account, region, write=True)


def _service_assume_role(rng: random.Random, ts: float, account: str, region: str) -> Record:
    service = rng.choice(ASSUMING_SERVICES)
    role = rng.choice(APP_ROLES)
    session = app_session(account, role)
    assumed = role_arn(account, role)
    return make_event(
        rng, ts, account, region, service_identity(service), "sts.amazonaws.com", "AssumeRole",
        ip=service, agent=service,
        request={"roleArn": assumed, "roleSessionName": session, "durationSeconds": 3600},
        response={"credentials": {"accessKeyId": "ASIA" + stable_id(account, role, session, str(int(ts // 3600)),
                                                                    length=16),
                                  "expiration": time.strftime("%b %d, %Y, %I:%M:%S %p", time.gmtime(ts + 3600))},
                      "assumedRoleUser": {"assumedRoleId": f"AROA{stable_id(account, 'role', role)}:{session}",
                                      "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}"}},
        extra={"resources": [{"accountId": account, "type": "AWS::IAM::Role", "ARN": assumed}],
               "sharedEventID": new_event_id(rng)},
    )


def _kms_decrypt(rng: random.Random, ts: float, account: str, region: str) -> Record:
    caller = rng.choice(KMS_CALLERS)
    role = rng.choice(APP_ROLES)
    key_arn = kms_key_arn(account, region, caller)
    context = {"SecretARN": f"arn:aws:secretsmanager:{region}:{account}:secret:prod/db-AbCdEf",
               "SecretVersionId": str(uuid.UUID(int=rng.getrandbits(128), version=4))} \
        if caller.startswith("secretsmanager") else {"aws:s3:arn": f"arn:aws:s3:::{rng.choice(BUCKETS)}-{account}"}
    return make_event(rng, ts, account, region, app_identity(account, role, ts, invoked_by=caller), "kms.amazonaws.com",
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


def _app_read(rng: random.Random, ts: float, account: str, region: str) -> Record:
    source, name, request = rng.choice(_APP_READS)
    identity, ip, agent = _human_or_app(rng, account, ts)
    service = source.split(".")[0]
    return make_event(rng, ts, account, region, identity, source, name, ip=ip, agent=agent,
                      request=request(account, region), host=service_host(service, region))


_IAM_READS: tuple[tuple[str, Callable[[str], dict[str, Any] | None]], ...] = (
    ("ListRoles", lambda a: {"maxItems": 1000}),
    ("GetRole", lambda a: {"roleName": "orders-api-task"}),
    ("ListAttachedRolePolicies", lambda a: {"roleName": "billing-worker-task"}),
    ("GetPolicy", lambda a: {"policyArn": f"arn:aws:iam::{a}:policy/orders-data-access"}),
    ("ListPolicies", lambda a: {"scope": "Local", "onlyAttached": False, "maxItems": 100}),
    ("GetAccountPasswordPolicy", lambda a: None),
    ("ListUsers", lambda a: {"maxItems": 100}),
)


def _iam_read(rng: random.Random, ts: float, account: str, region: str) -> Record:
    name, request = rng.choice(_IAM_READS)
    if rng.random() < 0.2:
        identity = user_identity(account, CONSOLE_USER, ts, console=True, mfa=True)
        ip, agent = OFFICE_IPS[0], CONSOLE_AGENTS[0]
        extra: dict[str, Any] = {"sessionCredentialFromConsole": "true"}
    else:
        user = rng.choice(SSO_USERS)
        identity = sso_identity(account, user, rng.choice(SSO_ROLES), ts)
        ip, agent = OFFICE_IPS[hash_index(user, len(OFFICE_IPS))], rng.choice(CONSOLE_AGENTS)
        extra = {"sessionCredentialFromConsole": "true"}
    event = make_event(rng, ts, account, GLOBAL_REGION, identity, "iam.amazonaws.com", name, ip=ip, agent=agent,
                       request=request(account), host="iam.amazonaws.com")
    event.update(extra)
    return event


def _ci_deploy(rng: random.Random, ts: float, account: str, region: str) -> Record:
    """The CI pipeline's IAM user: long-term key, uploads artifacts and reads stacks (nothing sensitive)."""
    identity = user_identity(account, CI_USER, ts)
    ip = APP_IPS[hash_index("ci" + account, len(APP_IPS))]
    if rng.random() < 0.6:
        event = _s3_object_event(rng, ts, account, region, write=True)
        event["userIdentity"] = identity
        event["sourceIPAddress"] = ip
        event["userAgent"] = CLI_AGENT
        return event
    name = rng.choice(("DescribeStacks", "DescribeStackEvents", "ListStackResources"))
    return make_event(rng, ts, account, region, identity, "cloudformation.amazonaws.com", name, ip=ip,
                      agent=CLI_AGENT, request={"stackName": "orders-api"}, host=service_host("cloudformation", region))


def _service_event(rng: random.Random, ts: float, account: str, region: str) -> Record:
    """An event AWS records about itself (eventType AwsServiceEvent)."""
    key_arn = kms_key_arn(account, region, "rotation")
    return make_event(rng, ts, account, region, {"accountId": account, "invokedBy": "kms.amazonaws.com"},
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


def _ordinary_error(rng: random.Random, ts: float, account: str, region: str) -> Record:
    source, name, (code, message) = rng.choice(_ORDINARY_ERRORS)
    identity, ip, agent = _human_or_app(rng, account, ts)
    return make_event(rng, ts, account, region, identity, source, name, ip=ip, agent=agent,
                      request={"name": "/prod/orders/missing"} if source.startswith("ssm") else {},
                      error=(code, message),
                      host=service_host(source.split(".")[0], region))


def _console_sign_in(rng: random.Random, ts: float, account: str, region: str) -> Record:
    if rng.random() < 0.8:  # people come through IAM Identity Center: no MFA fields in the member account
        user = rng.choice(SSO_USERS)
        return sso_console_login(rng, ts, account, user, rng.choice(SSO_ROLES))
    return iam_console_login(rng, ts, account, CONSOLE_USER, OFFICE_IPS[0], mfa=True)


_Template = Callable[[random.Random, float, str, str], Record]

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
                      regions: Sequence[str], *, duration: float = 3600.0) -> list[Record]:
    """`count` benign events spread over [start, start + duration), sorted by time."""
    times = sorted(int(start + rng.random() * duration) for _ in range(count))
    events: list[Record] = []
    for ts in times:
        account = rng.choice(accounts)
        region = rng.choice(regions)
        cumulative, templates = _GLOBAL_TABLE if region == GLOBAL_REGION else _REGIONAL_TABLE
        template = rng.choices(templates, cum_weights=cumulative)[0]
        events.append(template(rng, float(ts), account, region))
    return events
