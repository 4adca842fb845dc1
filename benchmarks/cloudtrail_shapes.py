"""requestParameters, responseElements and the other call-specific fields of the benchmark events.

`shape(api)` returns the builder for one call: bespoke ones for the calls that dominate real trails
(AssumeRole, KMS, S3 objects, parameters and secrets, ECR pulls, DynamoDB items, EC2 describes...) and
generic ones derived from the call's name for the long tail (a read of one resource, a paged list, a
write with tags and settings). Values vary per event: resource names, ids, keys, page tokens, sizes.
"""

from __future__ import annotations

import random
import time
import uuid
import zlib
from typing import Any

from benchmarks.cloudtrail_catalog import Api
from benchmarks.cloudtrail_large import TAG_KEYS, LargeShapes, Parts, Shape, token
from benchmarks.cloudtrail_org import APP, APPS, APPS_PER_ACCOUNT, IAC, PARTNER, SERVICE, Principal, hexid, stable

_VERBS = ("Describe", "List", "Get", "Create", "Delete", "Update", "Put", "Modify", "Start", "Stop", "BatchGet",
          "BatchCheck", "Batch", "Tag", "Untag", "Set", "Register", "Deregister", "Attach", "Detach", "Associate",
          "Enable", "Disable", "Reboot", "Terminate", "Run", "Cancel", "Request", "Copy", "Publish", "Submit",
          "Send", "Execute", "Record", "Complete", "Add", "Remove", "Change", "Assign", "Unassign", "Allocate",
          "Release", "Validate", "Search", "Lookup", "Head", "Filter", "Retrieve", "Check", "Generate", "Refresh",
          "Apply", "Rotate", "Restore", "Label", "Detect", "Signal", "Acknowledge", "Poll", "Archive", "Unarchive",
          "Initiate", "Upload", "Download", "Admin", "Simulate", "Is", "Select", "Abort", "Export", "Provision")
_KEY_STYLE = {"ec2": "Id", "iam": "Name", "rds": "Identifier", "elasticache": "Id", "route53": "Id",
              "cloudfront": "Id", "apigateway": "Id", "ecs": "", "eks": "Name", "glue": "Name", "lambda": "Name",
              "dynamodb": "Name", "logs": "Name", "events": "Name", "states": "Arn", "sns": "Arn", "sqs": "Url",
              "guardduty": "Id", "securityhub": "Arn", "config": "Name", "cloudformation": "Name",
              "elasticloadbalancing": "Arn", "ecr": "Name", "ssm": "Name", "secretsmanager": "Id", "kms": "Id"}
_CONFIG_WORDS = ("enabled", "mode", "retentionInDays", "description", "timeoutSeconds", "memorySize",
                 "desiredCount", "schedule", "priority", "encryption", "version", "storageClass")


def split_name(name: str) -> tuple[str, str]:
    """("Describe", "Instance") for DescribeInstances; API version suffixes dropped (Lambda)."""
    base = name.rstrip("0123456789v") if name[-1].isdigit() else name
    verb = next((v for v in _VERBS if base.startswith(v) and len(base) > len(v)), "")
    noun = base[len(verb):] or "Resource"
    if noun.endswith("ies"):
        noun = noun[:-3] + "y"
    elif noun.endswith(("sses", "xes", "ches")) or noun.endswith("Aliases"):
        noun = noun[:-2]
    elif noun.endswith("s") and not noun.endswith(("ss", "us", "Status", "Details", "Settings")):
        noun = noun[:-1]
    return verb, noun


def _lower_first(noun: str) -> str:
    return noun[0].lower() + noun[1:] if noun[:2] != noun[:2].upper() else noun.lower()


_PARAMETERS = ("db-url", "api-key", "feature-flags", "queue-url")


class Shapes(LargeShapes):
    """Builders sharing one organization's resource names."""

    def __init__(self, accounts: tuple[str, ...]) -> None:
        self.apps = {a: tuple(APPS[(i * 7 + k) % len(APPS)] for k in range(APPS_PER_ACCOUNT))
                     for i, a in enumerate(accounts)}
        self.cache: dict[tuple[str, str], Shape] = {}
        self.owners: dict[str, str] = {}

    # --- helpers ---------------------------------------------------------------------------------

    def app(self, rng: random.Random, account: str) -> str:
        apps = self.apps[account]
        return apps[min(int(rng.paretovariate(1.2)) - 1, len(apps) - 1)]

    def owner(self, rng: random.Random, account: str, arn: str) -> str:
        """The application whose buckets, keys and secrets a principal works with: a workload's own, one
        fixed application for other principals (nobody reads every secret), any one for AWS services."""
        if not arn:
            return self.app(rng, account)
        found = self.owners.get(arn)
        if found is None:
            apps = self.apps[account]
            found = next((app for app in apps if f"/{app}-" in arn), apps[zlib.crc32(arn.encode()) % len(apps)])
            self.owners[arn] = found
        return found

    def key_arn(self, account: str, region: str, app: str) -> str:
        return f"arn:aws:kms:{region}:{account}:key/{uuid.UUID(hexid(account, region, app, length=32))}"

    def bucket(self, rng: random.Random, account: str, region: str, arn: str) -> str:
        app = self.owner(rng, account, arn)
        return f"{app}-{('data', 'artifacts', 'uploads', 'exports')[rng.getrandbits(2)]}-{account[-4:]}"

    def resource_value(self, rng: random.Random, api: Api, account: str, region: str, noun: str) -> tuple[str, str]:
        style = _KEY_STYLE.get(api.service, "Name" if len(noun) % 2 else "Arn")
        app = self.app(rng, account)
        key = _lower_first(noun) + style if style else _lower_first(noun)
        if style == "Id":
            value = f"{noun[:3].lower()}-0{rng.getrandbits(64):016x}"[:21]
        elif style == "Arn":
            value = f"arn:aws:{api.service}:{region}:{account}:{_lower_first(noun)}/{app}"
        elif style == "Url":
            value = f"https://sqs.{region}.amazonaws.com/{account}/{app}-{rng.choice(('events', 'jobs', 'dlq'))}"
        else:
            value = f"{app}-{rng.choice(('prod', 'prod', 'staging', 'shared'))}"
        return key, value

    # --- bespoke shapes ----------------------------------------------------------------------------

    def s3_object(self, rng: random.Random, api: Api, account: str, region: str, p: Principal, ts: int) -> Parts:
        bucket = self.bucket(rng, account, region, p.arn)
        host = f"{bucket}.s3.{region}.amazonaws.com"
        depth = rng.choice((1, 1, 1, 2, 2, 3))
        key = "/".join(rng.choice(("orders", "images", "exports", "raw", "2026", "03", "tenant", "v2", "batch",
                                   "parquet", "thumbnails", "reports", "daily")) for _ in range(depth))
        key += f"/{rng.getrandbits(64):016x}.{rng.choice(('json', 'parquet', 'jpg', 'csv.gz', 'png', 'avro'))}"
        write = api.name.startswith(("Put", "Upload", "Create", "Complete", "Copy", "Delete", "Abort", "Restore"))
        size = int(rng.lognormvariate(9, 2.5))
        extra: dict[str, Any] = {
            "additionalEventData": {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                                    "bytesTransferredIn": size if write else 0, "AuthenticationMethod": "AuthHeader",
                                    "x-amz-id-2": token(rng, 76), "bytesTransferredOut": 0 if write else size},
            "resources": [{"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
                          {"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]}
        request: dict[str, Any] = {"bucketName": bucket, "Host": host, "key": key}
        response = None
        if api.name == "ListObjects":
            request = {"bucketName": bucket, "Host": host, "list-type": "2", "prefix": key.rsplit("/", 1)[0] + "/",
                       "delimiter": "/", "encoding-type": "url", "max-keys": "1000"}
            del extra["resources"][0]
        elif write:
            request["x-amz-server-side-encryption"] = "aws:kms"
            if api.name == "UploadPart":
                request |= {"partNumber": str(rng.randint(1, 40)), "uploadId": token(rng, 64)}
            response = {"x-amz-server-side-encryption-aws-kms-key-id": self.key_arn(account, region, bucket),
                        "x-amz-server-side-encryption": "aws:kms", "x-amz-version-id": token(rng, 32)}
        return request, response, extra

    def s3_bucket(self, rng: random.Random, api: Api, account: str, region: str, p: Principal, ts: int) -> Parts:
        if api.name == "ListBuckets":
            return {"Host": "s3.amazonaws.com"}, None, {"additionalEventData": {
                "SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "AuthenticationMethod": "AuthHeader", "x-amz-id-2": token(rng, 76)}}
        bucket = self.bucket(rng, account, region, p.arn)
        sub = split_name(api.name)[1].removeprefix("Bucket").lower() or "location"
        request: dict[str, Any] = {"bucketName": bucket, "Host": f"{bucket}.s3.{region}.amazonaws.com", sub: ""}
        if api.name.startswith("Put"):
            request[f"{split_name(api.name)[1]}Configuration"] = {
                "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
                "Rule": [{"ID": f"{sub}-{i}", "Status": "Enabled"} for i in range(rng.randint(1, 4))]}
        return request, None, {
            "additionalEventData": {"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256",
                                    "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader",
                                    "x-amz-id-2": token(rng, 76), "bytesTransferredOut": rng.randint(0, 900)},
            "resources": [{"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}]}

    def crypto(self, rng: random.Random, api: Api, account: str, region: str, p: Principal, ts: int) -> Parts:
        app = self.owner(rng, account, p.arn)
        key = self.key_arn(account, region, app)
        r = rng.random()
        if r < 0.4:
            context: dict[str, Any] = {"aws:s3:arn": f"arn:aws:s3:::{app}-data-{account}-{region}/"
                                                     f"{rng.getrandbits(48):012x}"}
        elif r < 0.65:
            context = {"SecretARN": f"arn:aws:secretsmanager:{region}:{account}:secret:prod/{app}/db-{token(rng, 6)}",
                       "SecretVersionId": str(uuid.UUID(int=rng.getrandbits(128), version=4))}
        elif r < 0.8:
            context = {"PARAMETER_ARN": f"arn:aws:ssm:{region}:{account}:parameter/prod/{app}/api-key"}
        elif r < 0.9:
            context = {"aws:dynamodb:tableName": f"{app}-items", "aws:dynamodb:subscriberId": account}
        else:
            context = {"aws:lambda:FunctionArn": f"arn:aws:lambda:{region}:{account}:function:{app}"}
        request: dict[str, Any] = {"encryptionContext": context, "encryptionAlgorithm": "SYMMETRIC_DEFAULT"}
        if api.name != "Decrypt":
            request = {"keyId": key, "encryptionContext": context} | (
                {"keySpec": "AES_256"} if api.name.startswith("GenerateDataKey") else {})
        return request, None, {"resources": [{"accountId": account, "type": "AWS::KMS::Key", "ARN": key}]}

    def assume(self, rng: random.Random, api: Api, account: str, region: str, p: Principal, ts: int) -> Parts:
        app = self.owner(rng, account, p.arn)
        if p.kind == SERVICE:  # a service fetching a workload's credentials
            role = f"{app}-{('task', 'fn', 'task')[rng.getrandbits(8) % 3]}"
        elif p.kind == IAC:
            role = "terraform-deployer" if "terraform" in p.arn else f"{app}-deploy"
        elif p.kind == APP:
            role = f"{app}-cross-account"
        else:
            role = rng.choice((f"{app}-readonly", f"{app}-support", "OrganizationAccountAccessRole"))
        session = (p.arn.rsplit("/", 1)[-1] if p.arn else f"{rng.getrandbits(64):016x}")[:64]
        role_arn = f"arn:aws:iam::{account}:role/{role}"
        role_id = "AROA" + stable(account, "role", role, length=17)
        expiration = time.strftime("%b %d, %Y, %I:%M:%S %p", time.gmtime(ts + 3600))
        credentials: dict[str, Any] = {"accessKeyId": "ASIA" + token(rng, 16).upper().replace("+", "Q").replace(
            "/", "Z"), "expiration": expiration}
        if p.kind == SERVICE:  # AWS services assuming roles: CloudTrail records the session token
            credentials["sessionToken"] = "IQoJb3JpZ2luX2Vj" + token(rng, rng.randint(300, 700))
        request: dict[str, Any] = {"roleArn": role_arn, "roleSessionName": session}
        if rng.random() < 0.5:
            request["durationSeconds"] = rng.choice((900, 3600, 3600, 43200))
        response: dict[str, Any] = {"credentials": credentials,
                                    "assumedRoleUser": {"assumedRoleId": f"{role_id}:{session}",
                                                        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}"}}
        if api.name == "AssumeRoleWithWebIdentity":
            response |= {"subjectFromWebIdentityToken": "system:serviceaccount:prod:" + app,
                         "audience": "sts.amazonaws.com",
                         "provider": f"arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com"}
            request = {"roleArn": role_arn, "roleSessionName": session}
        elif api.name == "AssumeRoleWithSAML":
            request = {"sAMLAssertionID": "_" + hexid(str(ts), session, length=32), "roleSessionName": session,
                       "principalArn": f"arn:aws:iam::{account}:saml-provider/adfs", "roleArn": role_arn,
                       "durationSeconds": 3600}
            response |= {"subjectType": "persistent", "issuer": "http://adfs.example.com/adfs/services/trust",
                         "audience": "https://signin.aws.amazon.com/saml", "nameQualifier": token(rng, 28) + "="}
        extra: dict[str, Any] = {"resources": [{"accountId": account, "type": "AWS::IAM::Role", "ARN": role_arn}]}
        if p.kind == PARTNER:  # recorded in both accounts
            extra["sharedEventID"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        return request, response, extra

    def parameter(self, rng: random.Random, api: Api, account: str, region: str, p: Principal, ts: int) -> Parts:
        app = self.owner(rng, account, p.arn)
        if api.name == "GetSecretValue":
            return {"secretId": f"arn:aws:secretsmanager:{region}:{account}:secret:prod/{app}/db-AbCdEf"}, None, None
        if api.name == "GetParameter":
            name = f"/prod/{app}/{_PARAMETERS[rng.getrandbits(2)]}"
            return {"name": name, "withDecryption": rng.random() < 0.6}, None, None
        # A program reads its configuration as one batch, the same one every time.
        names = [f"/prod/{app}/{name}" for name in _PARAMETERS[:2 + zlib.crc32(p.arn.encode()) % 3]]
        return {"names": names, "withDecryption": True}, None, None

    def ec2_describe(self, rng: random.Random, api: Api, account: str, region: str, p: Principal, ts: int) -> Parts:
        noun = _lower_first(split_name(api.name)[1])
        request: dict[str, Any] = {f"{noun}Set": {}, "filterSet": {}}
        r = rng.random()
        if r < 0.3:
            ids = [{f"{noun}Id": f"{noun[:3]}-0{rng.getrandbits(64):016x}"[:21]}
                   for _ in range(min(int(rng.paretovariate(1.05)), 60))]
            request[f"{noun}Set"] = {"items": ids}
        elif r < 0.75:
            filters = [{"name": rng.choice(("tag:Name", "tag:team", "vpc-id", "instance-state-name",
                                            "tag:aws:autoscaling:groupName", "availability-zone", "owner-id")),
                        "valueSet": {"items": [{"value": self.app(rng, account)}
                                               for _ in range(min(int(rng.paretovariate(1.6)), 30))]}}
                       for _ in range(1 + (rng.random() < 0.3))]
            request["filterSet"] = {"items": filters}
        if rng.random() < 0.4:
            request["maxResults"] = rng.choice((5, 100, 1000))
        return request, None, None

    def log_stream(self, rng: random.Random, api: Api, account: str, region: str, p: Principal, ts: int) -> Parts:
        app = self.owner(rng, account, p.arn)
        group = rng.choice((f"/aws/lambda/{app}", f"/ecs/{app}", f"/aws/eks/{app}/containers"))
        stream = time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime(ts)) + f"{rng.getrandbits(128):032x}"
        return {"logGroupName": group, "logStreamName": stream}, None, None

    def console_login(self, rng: random.Random, api: Api, account: str, region: str, p: Principal, ts: int) -> Parts:
        data: dict[str, Any] = {"LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode"
                                           "=true", "MobileVersion": "No"}
        arn = p.arn
        if ":user/" in arn:
            data["MFAUsed"] = "Yes"
        if api.name == "ConsoleLogin":
            return None, {"ConsoleLogin": "Success"}, {"additionalEventData": data}
        if api.name == "SwitchRole":
            return None, {"SwitchRole": "Success"}, {"additionalEventData": {
                "SwitchFrom": arn, "RedirectTo": f"https://{region}.console.aws.amazon.com/console/home"}}
        return None, {api.name: "Success"}, {"additionalEventData": {"CredentialType": "PASSWORD" if
                                                                        ":user/" in arn else "SSO"}}

    def nothing(self, rng: random.Random, api: Api, account: str, region: str, p: Principal, ts: int) -> Parts:
        return None, None, None

    # --- generic shapes from the call's name ---------------------------------------------------------

    def generic(self, rng: random.Random, api: Api, account: str, region: str, p: Principal, ts: int) -> Parts:
        verb, noun = split_name(api.name)
        if api.read_only:
            if verb in ("List", "Describe", "Search", "Lookup") or api.name.endswith("s"):
                r = rng.random()
                if r < 0.35:
                    return None, None, None
                page = rng.choice(("maxResults", "maxItems", "limit", "MaxResults", "maxRecords"))
                request: dict[str, Any] = {page: rng.choice((20, 50, 100, 1000))}
                if r > 0.88:
                    request["nextToken"] = token(rng, rng.choice((44, 88, 172, 344)))
                if r > 0.9:
                    request["filters"] = [{"name": rng.choice(TAG_KEYS), "values": [self.app(rng, account)]}
                                          for _ in range(min(int(rng.paretovariate(1.4)), 12))]
                return request, None, None
            key, value = self.resource_value(rng, api, account, region, noun)
            return {key: value}, None, None
        key, value = self.resource_value(rng, api, account, region, noun)
        request = {key: value}
        size = min(int(rng.paretovariate(1.25)), 40)
        if verb in ("Create", "Put", "Update", "Modify", "Register", "Start", "Run", "Set"):
            for word in rng.sample(_CONFIG_WORDS, min(size, 4)):
                request[word] = rng.choice((True, 30, 128, "ENABLED", "standard", "rate(5 minutes)"))
            if size > 3:
                request["tags"] = [{"key": TAG_KEYS[i % len(TAG_KEYS)], "value": f"{self.app(rng, account)}-{i}"}
                                   for i in range(size)]
        response: dict[str, Any] | None = None
        if verb in ("Create", "Start", "Run", "Register", "Request", "Copy", "Publish", "Allocate", "Execute"):
            response = {f"{_lower_first(noun)}Arn": f"arn:aws:{api.service}:{region}:{account}:"
                                                    f"{_lower_first(noun)}/{value.rsplit('/', 1)[-1]}",
                        f"{_lower_first(noun)}Id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        "creationTime": time.strftime("%b %d, %Y, %I:%M:%S %p", time.gmtime(ts))}
            if size > 6:
                response["status"] = {"state": "PENDING", "reason": token(rng, size * 12)}
        elif verb in ("Update", "Modify", "Put") and rng.random() < 0.5:
            response = {"return": True} if api.service == "ec2" else {key: value, "lastModified": ts}
        return request, response, None

    def shape(self, api: Api) -> Shape:
        found = self.cache.get((api.service, api.name))
        if found is None:
            found = self._pick(api)
            self.cache[(api.service, api.name)] = found
        return found

    def _pick(self, api: Api) -> Shape:
        if api.service == "s3":
            objects = api.data or api.name in ("PutObject", "GetObject", "HeadObject")
            return self.s3_object if objects else self.s3_bucket
        if api.service == "kms" and (api.name in ("Decrypt", "Encrypt", "ReEncrypt")
                                     or api.name.startswith("GenerateDataKey")):
            return self.crypto
        if api.name.startswith("AssumeRole"):
            return self.assume
        if api.name in ("GetParameter", "GetParameters", "GetSecretValue"):
            return self.parameter
        if api.service == "ec2" and api.name.startswith("Describe") and api.name.endswith("s"):
            return self.ec2_describe
        if api.service == "signin":
            return self.console_login
        if api.name == "CreateLogStream":
            return self.log_stream
        if api.name == "GetMetricData":
            return self.metric_data
        if api.name in ("PutEvaluations", "BatchImportFindings"):
            return self.evaluations
        if api.actors == "agent":
            return self.instance_agent
        if api.name == "RunInstances":
            return self.run_instances
        if api.name in ("GetCallerIdentity", "GetAuthorizationToken", "DiscoverPollEndpoint"):
            return self.nothing
        return self.generic
