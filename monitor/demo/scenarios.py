"""Incidents: one scenario per mission detector (`SCENARIOS`), an attacker storyline that spans several
identities and tactics (`STORYLINES`, monitor/demo/storyline.py), and traps that look alarming but must stay
quiet (`TRAPS`); `example_day` places them in a day of background traffic.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.demo.background import background_events
from monitor.demo.builders import (
    ATTACKER_IPS,
    CLI_AGENT,
    CONSOLE_AGENTS,
    EXAMPLE_ACCOUNTS,
    EXAMPLE_REGIONS,
    EXAMPLE_START,
    EXAMPLE_TRAIL,
    GLOBAL_REGION,
    OFFICE_IPS,
    SSO_ROLES,
    SSO_USERS,
    Builder,
    app_identity,
    hash_index,
    iam_console_login,
    login_fields,
    make_event,
    root_identity,
    service_host,
    service_identity,
    sso_console_login,
    stable_id,
    user_identity,
)
from monitor.demo.storyline import attack_storyline
from monitor.model.event import Record

# --- scenarios: one incident per mission detector ------------------------------------------------

def root_console_login(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION) -> list[Record]:
    """Root signs in to the console, successfully and without MFA."""
    return [make_event(rng, at, account, GLOBAL_REGION, root_identity(account, at, console=False),
                       "signin.amazonaws.com", "ConsoleLogin", ip=rng.choice(ATTACKER_IPS), agent=CONSOLE_AGENTS[1],
                       read_only=False, response={"ConsoleLogin": "Success"},
                       extra={"additionalEventData": login_fields(at, "No")}, event_type="AwsConsoleSignIn",
                       host="signin.aws.amazon.com")]


def console_login_failure_burst(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION,
                                *, user: str = "bob", failures: int = 6) -> list[Record]:
    """Someone guesses one IAM user's password: `failures` failed sign-ins within a few minutes."""
    ip = rng.choice(ATTACKER_IPS)
    events: list[Record] = []
    ts = at
    for _ in range(failures):
        events.append(iam_console_login(rng, ts, account, user, ip, mfa=False, success=False,
                                        agent=CONSOLE_AGENTS[2]))
        ts += rng.randrange(15, 50)
    return events


SPRAY_USERS = ("alice", "bob", "carol", "dave", "erin", "frank")


def console_password_spray(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION,
                           *, users: Sequence[str] = SPRAY_USERS) -> list[Record]:
    """One source IP tries one password against many user names."""
    ip = rng.choice(ATTACKER_IPS)
    events: list[Record] = []
    ts = at
    for user in users:
        events.append(iam_console_login(rng, ts, account, user, ip, mfa=False, success=False,
                                        agent=CONSOLE_AGENTS[0]))
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
                        *, denials: int = 25, role: str = "orders-api-task") -> list[Record]:
    """Stolen role credentials used from outside to enumerate the account: `denials` denied calls."""
    identity = app_identity(account, role, at)
    ip = rng.choice(ATTACKER_IPS)
    events: list[Record] = []
    ts = at
    for index in range(denials):
        source, name, code, request = _RECON_CALLS[index % len(_RECON_CALLS)]
        service = source.split(".")[0]
        where = GLOBAL_REGION if service in ("iam", "organizations") else region
        arn = identity["arn"]
        message = ("You are not authorized to perform this operation." if code.endswith("UnauthorizedOperation")
                   else f"User: {arn} is not authorized to perform: {service}:{name.removesuffix('20150331')} "
                        "because no identity-based policy allows the action")
        events.append(make_event(rng, ts, account, where, identity, source, name, ip=ip, agent=CLI_AGENT,
                                 request=request, error=(code, message), host=service_host(service, where)))
        ts += rng.randrange(2, 9)
    return events


def access_key_created_for_other_user(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION,
                                      *, creator: str = "alice", target: str = "svc-backup") -> list[Record]:
    """An IAM user (signed in with MFA) mints an access key for a different user."""
    identity = user_identity(account, creator, at, console=True, mfa=True)
    created = time.strftime("%b %d, %Y, %I:%M:%S %p", time.gmtime(at))
    event = make_event(rng, at, account, GLOBAL_REGION, identity, "iam.amazonaws.com", "CreateAccessKey",
                       ip=OFFICE_IPS[hash_index(creator, len(OFFICE_IPS))], agent=CONSOLE_AGENTS[0], read_only=False,
                       request={"userName": target},
                       response={"accessKey": {"userName": target,
                                           "accessKeyId": "AKIA" + stable_id(account, target, "new", length=16),
                                           "status": "Active", "createDate": created}},
                       host="iam.amazonaws.com")
    event["sessionCredentialFromConsole"] = "true"
    return [event]


def console_login_without_mfa(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION,
                              *, user: str = "dave") -> list[Record]:
    """An IAM user signs in to the console with a password only."""
    return [iam_console_login(rng, at, account, user, OFFICE_IPS[hash_index(user, len(OFFICE_IPS))], mfa=False)]


def non_mfa_sensitive_calls(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION,
                            *, user: str = "ops-jenkins") -> list[Record]:
    """An IAM user's long-term key (no MFA) grants itself AdministratorAccess, then stops CloudTrail logging."""
    identity = user_identity(account, user, at)
    ip = rng.choice(ATTACKER_IPS)
    trail_arn = f"arn:aws:cloudtrail:{GLOBAL_REGION}:{account}:trail/{EXAMPLE_TRAIL}"
    attach = make_event(rng, at, account, GLOBAL_REGION, identity, "iam.amazonaws.com", "AttachUserPolicy", ip=ip,
                        agent=CLI_AGENT, read_only=False,
                        request={"userName": user, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
                        host="iam.amazonaws.com")
    stop = make_event(rng, at + rng.randrange(20, 90), account, GLOBAL_REGION, identity, "cloudtrail.amazonaws.com",
                      "StopLogging", ip=ip, agent=CLI_AGENT, read_only=False, request={"name": trail_arn},
                      extra={"resources": [{"accountId": account, "type": "AWS::CloudTrail::Trail", "ARN": trail_arn}]},
                      host=service_host("cloudtrail", GLOBAL_REGION))
    return [attach, stop]


def root_api_activity(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION) -> list[Record]:
    """Root, signed in with MFA, browses IAM, EC2 and S3 from the console."""
    identity = root_identity(account, at, console=True, mfa=True)
    ip = OFFICE_IPS[hash_index("root" + account, len(OFFICE_IPS))]
    calls: tuple[tuple[str, str, dict[str, Any] | None], ...] = (
        ("iam.amazonaws.com", "GetAccountSummary", None),
        ("iam.amazonaws.com", "ListUsers", {"maxItems": 1000}),
        ("iam.amazonaws.com", "ListAccessKeys", {"userName": "alice"}),
        ("ec2.amazonaws.com", "DescribeRegions", {"regionSet": {}}),
        ("s3.amazonaws.com", "ListBuckets", {"Host": "s3.amazonaws.com"}),
    )
    events: list[Record] = []
    ts = at
    for source, name, request in calls:
        event = make_event(rng, ts, account, GLOBAL_REGION, identity, source, name, ip=ip, agent=CONSOLE_AGENTS[0],
                           request=request, host=service_host(source.split(".")[0], GLOBAL_REGION))
        event["sessionCredentialFromConsole"] = "true"
        events.append(event)
        ts += rng.randrange(5, 40)
    return events


# --- traps: alarming at first sight, and must stay quiet -----------------------------------------

def log_delivery_access_denied(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION,
                               *, count: int = 30) -> list[Record]:
    """AWS log delivery probing a bucket it may not write to: a flood of denials made by AWS itself."""
    bucket = f"vpc-flow-logs-{account}"
    events: list[Record] = []
    ts = at
    for _ in range(count):
        events.append(make_event(rng, ts, account, region, service_identity("delivery.logs.amazonaws.com"),
                                 "s3.amazonaws.com", "GetBucketAcl", ip="delivery.logs.amazonaws.com",
                                 agent="delivery.logs.amazonaws.com", error=("AccessDenied", "Access Denied"),
                                 request={"bucketName": bucket, "Host": f"{bucket}.s3.amazonaws.com", "acl": ""},
                                 extra={"resources": [{"accountId": account, "type": "AWS::S3::Bucket",
                                                   "ARN": f"arn:aws:s3:::{bucket}"}]}))
        ts += rng.randrange(3, 15)
    return events


def sso_console_sign_ins(rng: random.Random, at: float, account: str, region: str = GLOBAL_REGION,
                         *, count: int = 4) -> list[Record]:
    """A team signing in through IAM Identity Center at the start of the day: no MFA fields, no alert."""
    events: list[Record] = []
    ts = at
    for index in range(count):
        user = SSO_USERS[index % len(SSO_USERS)]
        events.append(sso_console_login(rng, ts, account, user, SSO_ROLES[index % len(SSO_ROLES)]))
        ts += rng.randrange(30, 120)
    return events


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    build: Builder
    # The detector ids expected to alert, one alert each, on this scenario alone...
    detectors: frozenset[str]
    # ...except these, with their number of alerts (a detector that alerts once per identity, say).
    repeats: tuple[tuple[str, int], ...] = ()

    def expected(self) -> Counter[str]:
        """Alerts per detector on this scenario alone."""
        counts = Counter(self.detectors)
        counts.update({detector: alerts - 1 for detector, alerts in self.repeats})
        return counts


SCENARIOS: tuple[Scenario, ...] = (
    # Root without MFA is also a console sign-in without MFA.
    Scenario("root-console-login", root_console_login, frozenset({"root-console-login", "console-login-without-mfa"})),
    Scenario("console-login-failure-burst", console_login_failure_burst, frozenset({"console-login-failure-burst"})),
    Scenario("console-password-spray", console_password_spray, frozenset({"console-password-spray"})),
    # An ECS task's stolen credentials used from outside are also a workload's credentials used elsewhere.
    Scenario("access-denied-burst", access_denied_burst,
             frozenset({"access-denied-burst", "workload-credentials-used-elsewhere"})),
    Scenario("access-key-created", access_key_created_for_other_user, frozenset({"access-key-created"})),
    Scenario("console-login-without-mfa", console_login_without_mfa, frozenset({"console-login-without-mfa"})),
    # Attaching AdministratorAccess and stopping CloudTrail are also CIS changes in their own right.
    Scenario("non-mfa-sensitive-call", non_mfa_sensitive_calls,
             frozenset({"non-mfa-sensitive-call", "admin-policy-attached", "iam-policy-changed",
                        "cloudtrail-logging-stopped"})),
    Scenario("root-activity", root_api_activity, frozenset({"root-activity"})),
)
# The existing detectors page for each link of the chain on its own, and `attack-sequence` ties them into one
# incident: the tool for dana's discovery, the key dana minted, then ops-backup's escalation, blinding and
# sharing; each long-term key changed things without MFA.
STORYLINES: tuple[Scenario, ...] = (
    Scenario("attack-storyline", attack_storyline,
             frozenset({"scanner-user-agent", "access-key-created", "non-mfa-sensitive-call", "admin-policy-attached",
                        "iam-policy-changed", "cloudtrail-logging-stopped", "snapshot-or-image-shared",
                        "attack-sequence"}),
             repeats=(("non-mfa-sensitive-call", 2),)),
)
TRAPS: tuple[Scenario, ...] = (
    Scenario("log-delivery-access-denied", log_delivery_access_denied, frozenset()),
    Scenario("sso-console-sign-ins", sso_console_sign_ins, frozenset()),
)

MISSION_DETECTORS = frozenset().union(*(s.detectors for s in SCENARIOS))


# Where each scenario happens in the example day: (scenario, hours after start, account index, region).
_SCHEDULE: tuple[tuple[str, float, int, str], ...] = (
    ("root-console-login", 2.28, 1, GLOBAL_REGION),
    ("console-login-failure-burst", 3.67, 0, GLOBAL_REGION),
    ("console-password-spray", 5.08, 1, GLOBAL_REGION),
    ("log-delivery-access-denied", 6.0, 0, "eu-west-1"),
    ("access-denied-burst", 7.5, 0, "eu-west-1"),
    ("sso-console-sign-ins", 8.02, 1, GLOBAL_REGION),
    ("access-key-created", 9.2, 0, GLOBAL_REGION),
    ("attack-storyline", 10.5, 0, "eu-west-1"),
    ("console-login-without-mfa", 11.8, 1, GLOBAL_REGION),
    ("non-mfa-sensitive-call", 14.05, 0, GLOBAL_REGION),
    ("root-activity", 16.42, 1, GLOBAL_REGION),
)


def scenario(name: str) -> Scenario:
    for candidate in (*SCENARIOS, *STORYLINES, *TRAPS):
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def example_day(rng: random.Random, *, start: float = EXAMPLE_START, background: int = 3000,
                accounts: Sequence[str] = EXAMPLE_ACCOUNTS, regions: Sequence[str] = EXAMPLE_REGIONS,
                include: Iterable[str] | None = None) -> list[Record]:
    """One day of an organization: background plus the scheduled scenarios (all, or those in `include`)."""
    events = background_events(rng, start, background, accounts, regions, duration=86400.0)
    wanted = None if include is None else set(include)
    for name, hours, account_index, region in _SCHEDULE:
        if wanted is not None and name not in wanted:
            continue
        events.extend(scenario(name).build(rng, start + round(hours * 3600), accounts[account_index], region))
    return events
