"""Who calls AWS in the benchmark organization: principals, their user agents and source addresses.

Every member account has people signing in through IAM Identity Center (one session ARN per person and
permission set), workloads (ECS tasks, Lambda functions, EKS pods, Glue jobs), EC2 instance sessions,
service-linked roles, deployment roles (Terraform, GitHub Actions, CloudFormation), a few IAM users,
partners calling from outside (type AWSAccount) and AWS services themselves. Each principal keeps its own
tools and networks, as real ones do, so the first-seen learners of trailsentry see stable behaviour.

Addresses come from the documentation (RFC 5737, RFC 3849) and benchmarking (RFC 2544) ranges and the
private ranges; nothing here names a real organization.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

# Principal kinds; the templates map each API's actor mix onto them.
PERSON, APP, INSTANCE, LINKED, IAC, USER, PARTNER, SERVICE, WEB, SAML, ROOT = (
    "person", "app", "instance", "linked", "iac", "user", "partner", "service", "web", "saml", "root")

_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
PEOPLE = tuple(f"{first}.{last}@example.com" for first, last in (
    ("maria", "garcia"), ("li", "wei"), ("sam", "okafor"), ("priya", "natarajan"), ("jonas", "berg"),
    ("ana", "silva"), ("tom", "novak"), ("yuki", "tanaka"), ("omar", "haddad"), ("eva", "lind"),
    ("raj", "mehta"), ("chloe", "martin"), ("ivan", "petrov"), ("nia", "mensah"), ("lucas", "rossi"),
    ("mei", "chen"), ("david", "cohen"), ("sara", "ahmed"), ("paul", "weber"), ("kim", "lee"),
    ("leo", "dubois"), ("zoe", "brown"), ("ali", "yilmaz"), ("ines", "costa")))
# AWS-managed permission set names, and the short custom ones organizations define.
PERMISSION_SETS = ("AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess", "Developer", "Admin", "ReadOnly",
                   "DataEng", "SecurityAudit")
APPS = ("orders-api", "billing-worker", "thumbnailer", "search-indexer", "auth-service", "payments-api",
        "notifications", "inventory-sync", "reporting-etl", "fraud-scorer", "catalog-api", "media-transcoder",
        "ledger-writer", "recommendations", "audit-exporter", "webhook-relay", "pricing-engine", "chat-gateway",
        "feature-store", "session-cleaner", "geo-lookup", "email-sender", "shipping-quotes", "kyc-checker")
COMPUTE = ("ecs", "lambda", "eks", "ecs", "lambda", "glue")
APPS_PER_ACCOUNT = 10
ROLE_SUFFIX = {"ecs": "task", "lambda": "fn", "eks": "irsa", "glue": "glue"}
# What every workload calls, and what else it may use (each application uses a few of these).
CORE_SERVICES = frozenset({"sts", "kms", "logs", "s3", "secretsmanager", "ssm", "ecr"})
CONTROL_SERVICES = ("ec2", "elasticloadbalancing", "autoscaling", "ecs", "lambda", "sqs", "sns", "dynamodb", "s3",
                    "logs", "monitoring", "ssm", "secretsmanager", "kms", "sts", "states", "events", "glue", "athena",
                    "xray", "kinesis", "firehose", "cognito-idp", "bedrock", "ecr", "rds", "elasticache", "ses")
# Terraform's AWS provider calls these services through the Go SDK v2 (which names the service in its user
# agent), the others through v1.
_TF_V2 = frozenset({"s3", "ec2", "iam", "sts", "lambda", "kms", "ecs", "logs", "ssm", "dynamodb", "sqs", "rds"})
LINKED_ROLES = (("AWSServiceRoleForConfig", "AWSConfig-Describe", "config.amazonaws.com"),
                ("AWSServiceRoleForSecurityHub", "securityhub", "securityhub.amazonaws.com"),
                ("AWSServiceRoleForAmazonGuardDuty", "GuardDutyServiceRole", "guardduty.amazonaws.com"),
                ("AWSServiceRoleForAutoScaling", "AutoScaling", "autoscaling.amazonaws.com"),
                ("AWSServiceRoleForECS", "ecs-service-scheduler", "ecs.amazonaws.com"),
                ("AWSServiceRoleForAccessAnalyzer", "access-analyzer", "access-analyzer.amazonaws.com"),
                ("AWSServiceRoleForAmazonInspector2", "inspector2", "inspector2.amazonaws.com"),
                ("AWSServiceRoleForTrustedAdvisor", "TrustedAdvisor", "trustedadvisor.amazonaws.com"))
SERVICE_HOSTS = ("ecs-tasks.amazonaws.com", "lambda.amazonaws.com", "ec2.amazonaws.com", "glue.amazonaws.com",
                 "cloudformation.amazonaws.com", "states.amazonaws.com", "events.amazonaws.com",
                 "elasticloadbalancing.amazonaws.com", "backup.amazonaws.com", "delivery.logs.amazonaws.com",
                 "cloudtrail.amazonaws.com", "config.amazonaws.com", "eks.amazonaws.com", "sagemaker.amazonaws.com")
PARTNER_ACCOUNTS = ("999988887777", "888877776666", "777766665555")
INVOKING_SERVICES = ("secretsmanager.amazonaws.com", "s3.amazonaws.com", "ssm.amazonaws.com",
                     "dynamodb.amazonaws.com", "sqs.amazonaws.com", "lambda.amazonaws.com", "ebs.amazonaws.com",
                     "rds.amazonaws.com", "logs.amazonaws.com", "sns.amazonaws.com")


def stable(*parts: str, length: int = 16, alphabet: str = _B32) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


def stable_int(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("/".join(parts).encode()).digest()[:8], "big")


def hexid(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# --- user agents -----------------------------------------------------------------------------------

_OS = ("Macintosh; Intel Mac OS X 10_15_7", "Windows NT 10.0; Win64; x64", "X11; Linux x86_64")
_KERNELS = ("5.10.213-201.855.amzn2.x86_64", "6.1.84-99.169.amzn2023.x86_64", "5.10.210-201.852.amzn2.x86_64",
            "6.1.79-99.167.amzn2023.x86_64", "6.5.0-1017-aws", "5.15.0-1056-aws")
_PY = ("3.9.18", "3.10.13", "3.11.8", "3.11.9", "3.12.2", "3.12.3")
_CLI_OS = ("macos#23.4.0", "macos#23.3.0", "macos#22.6.0", "linux#6.5.0-28-generic", "linux#6.1.0-18-amd64",
           "windows#10", "linux#6.8.0-31-generic")
_CLI_SERVICES = {"monitoring": "cloudwatch", "elasticloadbalancing": "elbv2", "sso-oidc": "sso-oidc",
                 "tagging": "resourcegroupstaggingapi", "elasticfilesystem": "efs", "states": "stepfunctions"}


def browser(n: int) -> str:
    version = 118 + n % 7
    os_ = _OS[n % 3]
    kind = (n // 3) % 4
    if kind == 1:
        return f"Mozilla/5.0 ({os_}; rv:{version}.0) Gecko/20100101 Firefox/{version}.0".replace(
            "Intel Mac OS X 10_15_7", "Intel Mac OS X 10.15")
    if kind == 2 and os_.startswith("Macintosh"):
        return (f"Mozilla/5.0 ({os_}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.{n % 5} "
                "Safari/605.1.15")
    edge = f" Edg/{version}.0.2365.{52 + n % 40}" if kind == 3 else ""
    return f"Mozilla/5.0 ({os_}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{version}.0.0.0 Safari/537.36{edge}"


def cli_base(n: int, *, server: bool = False) -> str:
    minor, patch = 13 + n % 5, (n * 7) % 40
    os_ = f"linux#{_KERNELS[n % len(_KERNELS)]}" if server else _CLI_OS[n % len(_CLI_OS)]
    installer = "md/installer#exe" if "linux" in os_ else ("md/installer#source" if n % 4 == 0 else "")
    distrib = " md/distrib#amzn.2023" if server else ""
    return (f"aws-cli/2.{minor}.{patch} md/awscrt#0.{19 + n % 3}.{n % 10} ua/2.0 os/{os_} md/arch#x86_64 "
            f"lang/python#3.11.{6 + n % 4} md/pyimpl#CPython cfg/retry-mode#standard {installer}{distrib} "
            "md/prompt#off").replace("  ", " ")


# What people run from the AWS CLI (its user agent names the command); s3 is the high-level `aws s3`.
CLI_CALLS = {"ListObjects": "s3.ls", "ListBuckets": "s3.ls", "GetObject": "s3.cp", "PutObject": "s3.cp",
             "HeadObject": "s3.cp", "GetCallerIdentity": "", "DescribeInstances": "", "DescribeSecurityGroups": "",
             "DescribeSubnets": "", "DescribeVpcs": "", "FilterLogEvents": "logs.tail", "DescribeLogGroups": "",
             "GetParameter": "", "GetParametersByPath": "", "StartSession": "", "ListFunctions20150331": "",
             "Invoke": "", "DescribeServices": "", "ListTasks": "", "DescribeTasks": "", "DescribeCluster": "",
             "DescribeStacks": "", "DescribeStackEvents": "", "GetRole": "", "ListRoles": "", "GetSecretValue": "",
             "GetAuthorizationToken": "ecr.get-login-password", "ReceiveMessage": "", "GetItem": "", "Query": "",
             "Decrypt": "", "AssumeRole": "", "DescribeDBInstances": ""}


def cli_command(base: str, service: str, name: str) -> str:
    command = CLI_CALLS.get(name) or "".join("-" + c.lower() if c.isupper() else c for c in name.rstrip(
        "0123456789v")).lstrip("-")
    if "." not in command:
        command = f"{_CLI_SERVICES.get(service, service)}.{command}"
    return f"{base} md/command#{command}"


def sdk_template(n: int, compute: str = "") -> str:
    """An SDK user agent; "{api}" is replaced by the called service (Go v2 and JS v3 name it)."""
    kernel = _KERNELS[n % len(_KERNELS)]
    lang = n % 10
    runtime = ("python3.12", "python3.11", "java17", "", "nodejs20.x", "", "python3.9", "", "nodejs18.x",
               "java11")[lang]
    exec_env = {"lambda": f"AWS_Lambda_{runtime}" if runtime else "", "ecs": "AWS_ECS_FARGATE"}.get(compute, "")
    # Older SDK generations, still common: shorter user agents without the ua/2.0 metadata.
    if lang == 6:
        env = f" exec-env/{exec_env}" if exec_env else ""
        return f"Boto3/1.26.{n % 160} Python/3.9.{16 + n % 3} Linux/{kernel}{env} Botocore/1.29.{n % 160}"
    if lang == 7:
        return f"aws-sdk-go/1.{44 + n % 6}.{(n * 7) % 300} (go1.{19 + n % 3}.{n % 10}; linux; amd64)"
    if lang == 8:
        env = f" exec-env/{exec_env}" if exec_env else ""
        return f"aws-sdk-nodejs/2.{1400 + (n * 3) % 190}.0 linux/v18.18.2{env} promise"
    if lang == 9:
        return (f"aws-sdk-java/1.12.{500 + n % 200} Linux/{kernel} OpenJDK_64-Bit_Server_VM/11.0.{20 + n % 3}+8-LTS "
                f"java/11.0.{20 + n % 3} vendor/Amazon.com_Inc. cfg/retry-mode/standard")
    if lang in (0, 1):
        version = f"1.{28 + n % 8}.{(n * 13) % 140}"
        env = f" exec-env#{exec_env}" if exec_env else ""
        return (f"Boto3/{version} md/Botocore#{version} ua/2.0 os/linux#{kernel} md/arch#x86_64 "
                f"lang/python#{_PY[n % len(_PY)]} md/pyimpl#CPython{env} cfg/retry-mode#"
                f"{('legacy', 'standard', 'adaptive')[n % 3]} Botocore/{version}")
    if lang == 2:
        version = f"2.{20 + n % 6}.{(n * 11) % 60}"
        java = ("11.0.22", "17.0.10", "21.0.2")[n % 3]
        return (f"aws-sdk-java/{version} Linux/{kernel} OpenJDK_64-Bit_Server_VM/{java}+7-LTS Java/{java} "
                f"vendor/Amazon.com_Inc.{' exec-env/' + exec_env if exec_env else ''} io/sync http/Apache "
                "cfg/retry-mode/legacy")
    if lang == 3:
        return (f"aws-sdk-go-v2/1.{24 + n % 4}.{n % 9} os/linux lang/go#1.{21 + n % 2}.{n % 8} md/GOOS#linux "
                "md/GOARCH#amd64 api/{api}#1." + f"{40 + n % 30}.{n % 6}")
    if lang == 4:
        node = ("18.19.1", "20.11.1", "20.12.2")[n % 3]
        env = f" exec-env/{exec_env}" if exec_env else ""
        return (f"aws-sdk-js/3.{500 + (n * 17) % 90}.0 ua/2.0 os/linux#{kernel} lang/js md/nodejs#{node}"
                f"{env} api/" + "{api}" + f"#3.{500 + (n * 17) % 90}.0")
    return (f"aws-sdk-dotnet-coreclr/3.7.{300 + n % 50}.{n % 9} aws-sdk-dotnet-core/3.7.{300 + n % 50}.{n % 9} "
            f".NET_Core/{('6.0.27', '8.0.3')[n % 2]} OS/Linux_{kernel} ClientAsync")


def terraform_template(n: int) -> str:
    return (f"APN/1.0 HashiCorp/1.0 Terraform/1.{6 + n % 3}.{n % 6} (+https://www.terraform.io) "
            f"terraform-provider-aws/5.{38 + n % 8}.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
            f"aws-sdk-go-v2/1.{25 + n % 3}.{n % 5} ua/2.0 os/linux lang/go#1.22.{n % 4} md/GOOS#linux "
            "md/GOARCH#amd64 api/{api}#1." + f"{30 + n % 20}.{n % 4}")


def format_agent(template: str, service: str) -> str:
    """A user agent for a call to `service` ("{api}" names the service in Go v2 and JS v3 agents)."""
    if template.startswith("APN/") and service not in _TF_V2:
        return template.split(" aws-sdk-go-v2/")[0] + " aws-sdk-go/1.51.21 (go1.22.2; linux; amd64)"
    return template.replace("{api}", service.replace("-", ""))


SSM_AGENT = "aws-sdk-go/1.50.{} (go1.21.{}; linux; amd64) amazon-ssm-agent/3.3.{}.0"
ECS_AGENT = "aws-sdk-go/1.51.{} (go1.21.{}; linux; amd64) Amazon ECS Agent - v1.82.{} (*{})"
CW_AGENT = "CWAgent/1.300037.{} (go1.22.{}; linux; amd64) ip-10-{}"
S3_CONSOLE = ("[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.{} Linux/5.10.{}-{}.amzn2int.x86_64 "
              "OpenJDK_64-Bit_Server_VM/25.402-b08 java/1.8.0_402 vendor/Oracle_Corporation cfg/retry-mode/standard]")


# --- principals ------------------------------------------------------------------------------------

@dataclass(slots=True)
class Principal:
    kind: str
    account: str
    arn: str  # "" for identities without one (AWSService, AWSAccount, SAML and web identity users)
    weight: float
    identity: dict[str, Any]  # the identity of the current session; attributes filled per session
    agents: tuple[str, ...] = ()  # templates: "{api}" is the called service
    ips: tuple[str, ...] = ()
    vpc: bool = False  # calls supported services through VPC endpoints from these private ips
    offset: int = 0  # seconds into the hour the sessions start
    services: frozenset[str] = frozenset()  # the control-plane services a workload calls (empty: any)
    sessions: dict[int, dict[str, Any]] = field(default_factory=dict)

    def at(self, ts: int) -> dict[str, Any]:
        """The identity as CloudTrail records it at `ts` (a new session, with new keys, every hour)."""
        context = self.identity.get("sessionContext")
        if context is None:
            return self.identity
        start = (ts - self.offset) // 3600 * 3600 + self.offset
        found = self.sessions.get(start)
        if found is None:
            found = dict(self.identity)
            found["accessKeyId"] = "ASIA" + stable(self.arn, str(start))
            context = dict(context)
            context["attributes"] = dict(context["attributes"], creationDate=rfc3339(start))
            found["sessionContext"] = context
            if len(self.sessions) > 8:
                self.sessions.clear()
            self.sessions[start] = found
        return found


def _role_session(account: str, role: str, session: str, *, path: str = "/", mfa: bool = False,
                  extra: dict[str, Any] | None = None, web: dict[str, Any] | None = None) -> dict[str, Any]:
    role_id = "AROA" + stable(account, "role", role, length=17)
    attributes: dict[str, Any] = {"creationDate": "", "mfaAuthenticated": "true" if mfa else "false"}
    context: dict[str, Any] = {
        "sessionIssuer": {"type": "Role", "principalId": role_id, "arn": f"arn:aws:iam::{account}:role{path}{role}",
                          "accountId": account, "userName": role},
        "webIdFederationData": web or {}, "attributes": attributes}
    if extra:
        context.update(extra)
    return {"type": "AssumedRole", "principalId": f"{role_id}:{session}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}", "accountId": account,
            "accessKeyId": "", "sessionContext": context}


def _user(account: str, name: str) -> dict[str, Any]:
    return {"type": "IAMUser", "principalId": "AIDA" + stable(account, "user", name, length=17),
            "arn": f"arn:aws:iam::{account}:user/{name}", "accountId": account,
            "accessKeyId": "AKIA" + stable(account, name, "key"), "userName": name}


def _office(n: int) -> str:
    return f"198.51.100.{10 + n % 200}"


def _home(n: int) -> str:
    return f"2001:db8:{0x4a00 + n:x}:{n % 7 + 1}::{n % 50 + 2:x}"


def nat_ip(account_index: int, region_index: int, n: int = 0) -> str:
    return f"198.18.{account_index * 16 + region_index * 4 + n % 2}.{17 + (n * 37) % 200}"


def private_ip(account_index: int, n: int) -> str:
    return f"10.{account_index * 8 + n % 4}.{(n * 7) % 64 + 16}.{(n * 29) % 250 + 4}"


def account_principals(index: int, account: str) -> list[Principal]:
    """The principals of member account `index`: about 45 ARNs plus the ARN-less identities."""
    out: list[Principal] = []
    people = [PEOPLE[(index * 5 + k) % len(PEOPLE)] for k in range(7)]
    for k, person in enumerate(people):
        first = (index % 2) * 3 + (index + k) % 4
        sets = PERMISSION_SETS[first:first + 1 + (k % 3 == 0)]
        n = stable_int(person) % 1000
        for permission_set in sets:
            role = f"AWSReservedSSO_{permission_set}_{hexid(account, permission_set, length=16)}"
            identity = _role_session(account, role, person, path="/aws-reserved/sso.amazonaws.com/")
            agents: tuple[str, ...] = (browser(n), browser(n + 3), cli_base(n % 6))  # a few managed CLI installs
            out.append(Principal(PERSON, account, identity["arn"], 1.0 + (k < 3), identity, agents,
                                 (_office(n), _office(n + 1), _home(n)), offset=n * 7 % 3600))
    admin = _user(account, "break-glass-admin" if index % 2 else "legacy-admin")
    admin = dict(admin, accessKeyId="", sessionContext={
        "sessionIssuer": {}, "webIdFederationData": {}, "attributes": {"creationDate": "", "mfaAuthenticated": "true"}})
    out.append(Principal(PERSON, account, admin["arn"], 0.4, admin, (browser(index + 40),), (_office(index + 60),)))
    for k in range(APPS_PER_ACCOUNT):
        app = APPS[(index * 7 + k) % len(APPS)]
        compute = COMPUTE[(index + k) % len(COMPUTE)]
        role = f"{app}-{ROLE_SUFFIX[compute]}"
        n = stable_int(app)  # the same build, so the same SDK, in every account
        app_agents = (sdk_template(n % 997, compute),)
        services = CORE_SERVICES | {CONTROL_SERVICES[(n >> s) % len(CONTROL_SERVICES)] for s in range(0, 48, 8)}
        if compute == "lambda":
            sessions = [app]
            ips = tuple(f"198.19.{index * 8 + j % 8}.{(n + j * 41) % 250 + 3}" for j in range(24))
        elif compute == "glue":
            sessions = ["GlueJobRunnerSession"]
            ips = (nat_ip(index, 0, n),)
        elif compute == "eks":
            sessions = [f"botocore-session-{1709250000 + n % 86400}"]
            ips = tuple(private_ip(index, n + j) for j in range(4))
        else:
            sessions = [hexid(account, app, str(j), length=32) for j in range(2 if k % 2 else 1)]
            ips = tuple(private_ip(index, n + j) for j in range(6))
        for session in sessions:
            web = None
            if compute == "eks":
                web = {"federatedProvider": f"arn:aws:iam::{account}:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/"
                                            f"{hexid(account, 'eks', length=32).upper()}", "attributes": {}}
            identity = _role_session(account, role, session, web=web)
            out.append(Principal(APP, account, identity["arn"], 3.0 / len(sessions) * (1.5 if k < 4 else 1.0),
                                 identity, app_agents, ips, vpc=compute in ("ecs", "eks"), offset=n % 3600,
                                 services=services))
    for k in range(4):
        role = ("eks-nodes", "web-asg", "batch", "kafka")[k]
        instance = "i-0" + hexid(account, role, str(k), length=16)
        n = stable_int(role) % 997
        identity = _role_session(account, f"{role}-ec2", instance, extra={"ec2RoleDelivery": "2.0"})
        tool = sdk_template(10 * (n % 40) + (0, 7, 9)[k % 3]) if k % 2 else cli_base(n, server=True)
        own = stable_int(instance) % 997  # agents update themselves, instance by instance
        instance_agents = (tool, SSM_AGENT.format(own % 90, own % 9, 100 + own % 60),
                           ECS_AGENT.format(own % 60, own % 9, own % 5, hexid(instance, length=8)),
                           CW_AGENT.format(own % 50, own % 6, own))
        out.append(Principal(INSTANCE, account, identity["arn"], 2.0, identity, instance_agents,
                             (private_ip(index, n), nat_ip(index, 0, n)), vpc=True, offset=n % 3600))
    for role, session, host in LINKED_ROLES:
        path = f"/aws-service-role/{host.split('.')[0]}.amazonaws.com/"
        identity = _role_session(account, role, session, path=path)
        weight = 6.0 if "Config" in role else 1.5
        out.append(Principal(LINKED, account, identity["arn"], weight, identity, (host,), (host,)))
    for k, person in enumerate(people[:2]):
        n = k  # one pipeline image for the whole organization
        identity = _role_session(account, "terraform-deployer", f"terraform-{person.split('@')[0]}",
                                 extra={"sourceIdentity": person})
        out.append(Principal(IAC, account, identity["arn"], 1.5, identity, (terraform_template(n),),
                             (f"198.18.200.{20 + k}",)))
    for k, repo in enumerate(("orders", "platform-infra")):
        identity = _role_session(account, f"gha-deploy-{repo}", "GitHubActions")
        n = stable_int(repo) % 997
        out.append(Principal(IAC, account, identity["arn"], 1.0, identity, (sdk_template(10 * k + (0, 6)[k % 2]),
                                                                            terraform_template(2 + k)),
                             tuple(f"198.18.{210 + j % 6}.{(n + 17 * j) % 250 + 2}" for j in range(16))))
    cfn = _role_session(account, "cloudformation-exec", "AWSCloudFormation")
    cfn["invokedBy"] = "cloudformation.amazonaws.com"
    out.append(Principal(IAC, account, cfn["arn"], 1.0, cfn, ("cloudformation.amazonaws.com",),
                         ("cloudformation.amazonaws.com",)))
    for k, name in enumerate(("backup-agent", "vendor-readonly")):
        n = stable_int(account, name) % 997
        out.append(Principal(USER, account, f"arn:aws:iam::{account}:user/{name}", 1.0, _user(account, name),
                             (sdk_template(10 * (n % 40) + (0, 7, 5)[k % 3]),), (f"203.0.113.{5 + index * 3 + k}",)))
    for partner in PARTNER_ACCOUNTS[:2]:
        identity = {"type": "AWSAccount", "principalId": "AROA" + stable(partner, "role", length=17) + ":partner-sync",
                    "accountId": partner}
        out.append(Principal(PARTNER, account, "", 1.0, identity, (sdk_template(10 * (stable_int(partner) % 40) + 6),),
                             (f"198.18.{230 + index}.{stable_int(partner) % 250}",)))
    for host in SERVICE_HOSTS:
        out.append(Principal(SERVICE, account, "", 1.0, {"type": "AWSService", "invokedBy": host}, (host,), (host,)))
    if index % 3 == 0:  # a legacy federation broker and an ADFS trust in some accounts
        broker = _user(account, "federation-broker")
        for person in people[3:5]:
            name = person.split("@")[0]
            identity = {"type": "FederatedUser", "principalId": f"{account}:{name}",
                        "arn": f"arn:aws:sts::{account}:federated-user/{name}", "accountId": account,
                        "accessKeyId": "", "sessionContext": {
                            "sessionIssuer": {k: broker[k] for k in ("principalId", "arn", "accountId", "userName")}
                            | {"type": "IAMUser"}, "webIdFederationData": {},
                            "attributes": {"creationDate": "", "mfaAuthenticated": "false"}}}
            n = stable_int(person) % 1000
            out.append(Principal(PERSON, account, identity["arn"], 0.3, identity, (browser(n + 1),), (_office(n),)))
        provider = stable(account, "adfs", length=28, alphabet="abcdefghijklmnopqrstuvwxyz0123456789") + "="
        for person in people[5:7]:
            identity = {"type": "SAMLUser", "principalId": f"{provider}:{person}", "userName": person,
                        "identityProvider": provider}
            out.append(Principal(SAML, account, "", 1.0, identity, (browser(stable_int(person) % 1000),),
                                 (_office(stable_int(person) % 1000),)))
    for k, subject in enumerate(("repo:acme/orders:ref:refs/heads/main", "repo:acme/platform-infra:environment:prod",
                                 "repo:acme/data-pipelines:ref:refs/heads/main")):
        provider = f"arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com"
        identity = {"type": "WebIdentityUser", "principalId": f"{provider}:sts.amazonaws.com:{subject}",
                    "userName": subject, "identityProvider": provider}
        out.append(Principal(WEB, account, "", 1.0, identity, (f"aws-sdk-js/3.5{k}0.0 ua/2.1 os/linux#6.5.0-1016-azure "
                                                                f"lang/js md/nodejs#20.11.1 api/sts#3.5{k}0.0",),
                             tuple(f"198.18.{210 + j % 6}.{(k * 50 + 17 * j) % 250 + 2}" for j in range(16))))
    root = {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root", "accountId": account,
            "accessKeyId": ""}
    out.append(Principal(ROOT, account, root["arn"], 1.0, root, ("AWS Internal",), ("AWS Internal",)))
    return out
