"""The attacker storyline: one intrusion told across identities, for `attack-sequence` to tie together.

An IAM user's long-term access key (dana's) has leaked. From an address dana never used, with a tool
dana never used (the AWS CLI on Kali), the attacker:

1. checks whose key it is (`sts:GetCallerIdentity`);
2. enumerates the account for a minute and a half: about 240 IAM, S3, EC2, CloudTrail and other
   `List*` / `Describe*` / `Get*` calls, a dozen of them refused;
3. mints an access key for another user, ops-backup (`iam:CreateAccessKey`; the response carries the new
   key's id, never its secret);
4. switches to that key, from 203.0.113.7 with a boto3 script: every later call is made by
   user/ops-backup with the new key id in `userIdentity.accessKeyId`; checks it (`GetCallerIdentity`),
   then attaches AdministratorAccess to ops-backup itself;
5. blinds the account's own audit trail (`PutEventSelectors`: read-only management events from now on;
   the organization trail, which a member account cannot change, still records, which is why we see
   the rest);
6. shares an EBS snapshot with an account outside the organization (`ModifySnapshotAttribute`).

The whole story takes under four minutes of event time, so the live demo (which writes records five
minutes behind the wall clock) never writes a record from the future. IAM, STS and CloudTrail calls are
recorded in us-east-1; EC2 calls in the region the demo draws.
"""

from __future__ import annotations

import hashlib
import random
import time
from typing import Any

from monitor.demo.builders import (
    APP_ROLES,
    ATTACKER_IPS,
    BUCKETS,
    CI_USER,
    CONSOLE_USER,
    EXAMPLE_REGIONS,
    GLOBAL_REGION,
    SSO_ROLES,
    make_event,
    service_host,
    stable_id,
    user_identity,
)
from monitor.model.event import Record

VICTIM = "dana"
NEW_KEY_USER = "ops-backup"
KEY_USE_IP = "203.0.113.7"
OUTSIDE_ACCOUNT = "999988887777"
AUDIT_TRAIL = "security-audit-trail"
ADMIN_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"
# The AWS CLI on a Kali Linux box: a tool dana has never used (and one scanner-user-agent names).
ATTACK_AGENT = ("aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0-kali3-amd64 md/arch#x86_64 "
                "lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off")
# The minted key is used from a rented cloud machine by a script: another address, another tool.
KEY_USE_AGENT = ("Boto3/1.34.50 md/Botocore#1.34.50 ua/2.0 os/linux#5.15.0-1051-aws md/arch#x86_64 "
                 "lang/python#3.10.12 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.50")
# Seconds after the start; the whole story fits the live demo's five-minute delay with room to spare.
RECON_START, RECON_SECONDS = 6, 92
CREATE_KEY_AT = 112
KEY_USE_AT = 151
ATTACH_AT = 163
SELECTORS_AT = 189
SHARE_AT = 214

# The users and roles the enumeration walks (the account's own, plus ones only IAM knows of).
_USERS = (VICTIM, NEW_KEY_USER, CI_USER, CONSOLE_USER, "alice", "bob", "carol", "dave", "erin", "frank", "ops-jenkins",
          "svc-backup", "svc-reporting", "svc-monitoring", "svc-etl", "svc-mailer", "terraform-state", "grafana-reader",
          "datadog-integration", "build-bot", "release-bot", "qa-automation", "support-readonly", "finance-export",
          "legacy-ftp", "vendor-audit", "break-glass", "sftp-ingest", "billing-reader", "security-scanner")
_ROLES = (*APP_ROLES, *SSO_ROLES, "OrganizationAccountAccessRole", "AWSServiceRoleForSupport",
          "AWSServiceRoleForTrustedAdvisor", "cloudformation-deploy", "github-actions-deploy", "backup-operator",
          "lambda-edge-logs", "rds-monitoring-role", "vpc-flow-logs-writer", "config-recorder", "ssm-maintenance",
          "eks-cluster-role", "datadog-integration-role", "security-audit-readonly")


def new_key_id(account: str) -> str:
    """The access key id CreateAccessKey returns for ops-backup (stable for an account, like every demo id)."""
    return "AKIA" + stable_id(account, NEW_KEY_USER, "minted", length=16)


def _denied(service: str, name: str, arn: str) -> tuple[str, str]:
    action = name.removesuffix("20150331")
    return ("AccessDenied", f"User: {arn} is not authorized to perform: {service}:{action} because no "
                            "identity-based policy allows the action")


Call = tuple[str, str, str, dict[str, Any] | None, bool]  # eventSource, eventName, region, request, refused


def _recon_calls(account: str, region: str) -> list[Call]:
    """The enumeration, in the order a tool makes it. IAM, STS, Organizations and CloudTrail calls go to
    us-east-1 (the CLI's region), EC2 and the rest to `region`, S3 bucket calls to the bucket's region."""
    iam, home = "iam.amazonaws.com", GLOBAL_REGION
    calls: list[Call] = [
        (iam, "GetAccountAuthorizationDetails", home, {"filter": ["User", "Role", "Group"]}, True),
        (iam, "GetAccountSummary", home, None, False),
        (iam, "ListUsers", home, {"maxItems": 1000}, False),
    ]
    for user in _USERS:
        calls += [(iam, name, home, {"userName": user}, False)
                  for name in ("ListAccessKeys", "ListAttachedUserPolicies", "ListUserPolicies", "ListGroupsForUser",
                               "ListMFADevices")]
    calls.append((iam, "ListRoles", home, {"maxItems": 1000}, False))
    for role in _ROLES:
        calls += [(iam, name, home, {"roleName": role}, False)
                  for name in ("ListAttachedRolePolicies", "ListRolePolicies")]
    calls.append(("s3.amazonaws.com", "ListBuckets", home, {"Host": "s3.amazonaws.com"}, False))
    for index, (bucket, where) in enumerate((f"{b}-{account}-{r}", r) for b in BUCKETS for r in EXAMPLE_REGIONS):
        host = f"{bucket}.s3.{where}.amazonaws.com"
        calls += [("s3.amazonaws.com", "GetBucketAcl", where, {"bucketName": bucket, "Host": host, "acl": ""}, False),
                  ("s3.amazonaws.com", "GetBucketPolicy", where, {"bucketName": bucket, "Host": host, "policy": ""},
                   index % 3 == 0)]
    ec2 = "ec2.amazonaws.com"
    calls += [
        (ec2, "DescribeRegions", region, {"regionSet": {}}, False),
        (ec2, "DescribeInstances", region, {"instancesSet": {}, "filterSet": {}}, False),
        (ec2, "DescribeVolumes", region, {"volumeSet": {}, "filterSet": {}}, False),
        (ec2, "DescribeSnapshots", region, {"snapshotSet": {}, "ownersSet": {"items": [{"owner": "self"}]},
                                            "filterSet": {}}, False),
        (ec2, "DescribeSecurityGroups", region, {"securityGroupSet": {}, "filterSet": {}}, False),
        (ec2, "DescribeKeyPairs", region, {"keySet": {}}, False),
        ("cloudtrail.amazonaws.com", "DescribeTrails", home, {"includeShadowTrails": True}, False),
        ("cloudtrail.amazonaws.com", "GetEventSelectors", home, {"trailName": AUDIT_TRAIL}, False),
        ("cloudtrail.amazonaws.com", "GetTrailStatus", home, {"name": AUDIT_TRAIL}, False),
        ("secretsmanager.amazonaws.com", "ListSecrets", region, None, True),
        ("kms.amazonaws.com", "ListKeys", region, None, False),
        ("lambda.amazonaws.com", "ListFunctions20150331", region, None, False),
        ("rds.amazonaws.com", "DescribeDBInstances", region, None, True),
        ("guardduty.amazonaws.com", "ListDetectors", region, None, True),
        ("organizations.amazonaws.com", "DescribeOrganization", home, None, True),
        ("organizations.amazonaws.com", "ListAccounts", home, None, True),
    ]
    return calls


def attack_storyline(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION) -> list[Record]:
    """dana's leaked key: discovery, a key minted for ops-backup, then that key escalating, blinding and
    sharing data out. Events in time order."""
    dana = user_identity(account, VICTIM, at)
    ip = rng.choice(ATTACKER_IPS)
    events: list[Record] = [
        make_event(rng, at, account, GLOBAL_REGION, dana, "sts.amazonaws.com", "GetCallerIdentity", ip=ip,
                   agent=ATTACK_AGENT, host=service_host("sts", GLOBAL_REGION)),
    ]
    calls = _recon_calls(account, region)
    for index, (source, name, where, request, refused) in enumerate(calls):
        ts = at + RECON_START + index * RECON_SECONDS // len(calls)
        service = source.split(".")[0]
        host = request["Host"] if request and "Host" in request else service_host(service, where)
        events.append(make_event(rng, ts, account, where, dana, source, name, ip=ip, agent=ATTACK_AGENT,
                                 request=request, error=_denied(service, name, dana["arn"]) if refused else None,
                                 host=host))

    key_id = new_key_id(account)
    created = time.strftime("%b %d, %Y, %I:%M:%S %p", time.gmtime(at + CREATE_KEY_AT))
    events.append(make_event(rng, at + CREATE_KEY_AT, account, GLOBAL_REGION, dana, "iam.amazonaws.com",
                             "CreateAccessKey", ip=ip, agent=ATTACK_AGENT, read_only=False,
                             request={"userName": NEW_KEY_USER},
                             response={"accessKey": {"userName": NEW_KEY_USER, "accessKeyId": key_id,
                                                     "status": "Active", "createDate": created}},
                             host="iam.amazonaws.com"))

    # From here on: ops-backup's identity, with the key dana just minted.
    backup = user_identity(account, NEW_KEY_USER, at)
    backup["accessKeyId"] = key_id
    events.append(make_event(rng, at + KEY_USE_AT, account, GLOBAL_REGION, backup, "sts.amazonaws.com",
                             "GetCallerIdentity", ip=KEY_USE_IP, agent=KEY_USE_AGENT,
                             host=service_host("sts", GLOBAL_REGION)))
    events.append(make_event(rng, at + ATTACH_AT, account, GLOBAL_REGION, backup, "iam.amazonaws.com",
                             "AttachUserPolicy", ip=KEY_USE_IP, agent=KEY_USE_AGENT, read_only=False,
                             request={"userName": NEW_KEY_USER, "policyArn": ADMIN_POLICY}, host="iam.amazonaws.com"))
    trail_arn = f"arn:aws:cloudtrail:{GLOBAL_REGION}:{account}:trail/{AUDIT_TRAIL}"
    selectors = [{"readWriteType": "ReadOnly", "includeManagementEvents": True, "dataResources": [],
                  "excludeManagementEventSources": []}]
    events.append(make_event(rng, at + SELECTORS_AT, account, GLOBAL_REGION, backup, "cloudtrail.amazonaws.com",
                             "PutEventSelectors", ip=KEY_USE_IP, agent=KEY_USE_AGENT, read_only=False,
                             request={"trailName": trail_arn, "eventSelectors": selectors},
                             response={"trailARN": trail_arn, "eventSelectors": selectors},
                             extra={"resources": [{"accountId": account, "type": "AWS::CloudTrail::Trail",
                                                   "ARN": trail_arn}]},
                             host=service_host("cloudtrail", GLOBAL_REGION)))
    snapshot = "snap-0" + hashlib.sha256(f"{account}/{region}/orders-db".encode()).hexdigest()[:16]
    share = make_event(rng, at + SHARE_AT, account, region, backup, "ec2.amazonaws.com", "ModifySnapshotAttribute",
                       ip=KEY_USE_IP, agent=KEY_USE_AGENT, read_only=False,
                       request={"snapshotId": snapshot, "attributeType": "CREATE_VOLUME_PERMISSION",
                                "createVolumePermission": {"add": {"items": [{"userId": OUTSIDE_ACCOUNT}]}}},
                       host=service_host("ec2", region))
    share["responseElements"] = {"requestId": share["requestID"], "_return": True}
    events.append(share)
    return events
