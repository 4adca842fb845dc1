"""deploy/aws: the CloudFormation stack passes cfn-lint, and the monitor's IAM policy is least privilege."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.tools import DEPLOY, REPO, require_module

TEMPLATE = DEPLOY / "aws" / "trailsentry.yaml"
POLICY = DEPLOY / "aws" / "monitor-policy.json"

# Exactly what the monitor may do.
EXPECTED_ACTIONS = {
    "s3:GetObject", "s3:ListBucket", "kms:Decrypt",
    "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
    "sns:Publish", "logs:FilterLogEvents", "logs:StartLiveTail", "logs:DescribeLogGroups",
}
# AWS operations the code calls -> the IAM action that authorizes them.
OPERATION_ACTIONS = {
    ("s3", "GetObject"): "s3:GetObject",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("sqs", "ReceiveMessage"): "sqs:ReceiveMessage",
    ("sqs", "DeleteMessage"): "sqs:DeleteMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibility"): "sqs:ChangeMessageVisibility",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("sqs", "GetQueueAttributes"): "sqs:GetQueueAttributes",
    ("sns", "Publish"): "sns:Publish",
    ("logs", "FilterLogEvents"): "logs:FilterLogEvents",
    ("logs", "StartLiveTail"): "logs:StartLiveTail",
    ("logs", "DescribeLogGroups"): "logs:DescribeLogGroups",
}
# Calls that need no permission in this policy: AssumeRole into another account's role (`aws.role_arn`) is
# granted by that role's trust policy and, where wanted, an sts:AssumeRole statement naming that role.
NOT_IN_POLICY = {("sts", "AssumeRole")}


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    statements = policy["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _template() -> dict[str, Any]:
    require_module("cfnlint", "cfn-lint")
    from cfnlint.decode import cfn_yaml

    template: dict[str, Any] = cfn_yaml.load(str(TEMPLATE))
    return template


def _cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    require_module("cfnlint", "cfn-lint")
    executable = Path(sys.executable).parent / "cfn-lint"
    assert executable.exists(), executable
    return subprocess.run([str(executable), "--regions", "us-east-1", "eu-west-1", "ap-southeast-2", "--",
                           str(path)], capture_output=True, text=True, timeout=300, check=False)


def test_template_passes_cfn_lint() -> None:
    result = _cfn_lint(TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_rejects_a_broken_template(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(TEMPLATE.read_text(encoding="utf-8").replace("VisibilityTimeout: 300", "VisibilityTimout: 300"),
                      encoding="utf-8")
    result = _cfn_lint(broken)
    assert result.returncode != 0
    assert "VisibilityTimout" in result.stdout


def test_template_wires_trail_bucket_notifications_queue_and_alerts() -> None:
    resources = _template()["Resources"]
    types = {name: r["Type"] for name, r in resources.items()}
    trail = resources["Trail"]["Properties"]
    assert types["Trail"] == "AWS::CloudTrail::Trail"
    assert trail["IsOrganizationTrail"] == {"Fn::If": ["IsOrganizationTrail", True, False]}
    assert trail["IsMultiRegionTrail"] is True and trail["EnableLogFileValidation"] is True
    assert trail["S3BucketName"] == {"Ref": "TrailBucket"}
    assert resources["Trail"]["DependsOn"] == "TrailBucketPolicy"
    # The bucket policy lets CloudTrail check the ACL and write, for the account and (organization) the org.
    bucket_policy = resources["TrailBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    plain = [s for s in bucket_policy if "Sid" in s]
    by_sid = {s["Sid"]: s for s in plain}
    assert by_sid["CloudTrailAclCheck"]["Action"] == "s3:GetBucketAcl"
    assert by_sid["CloudTrailWritesAccountLogs"]["Action"] == "s3:PutObject"
    assert by_sid["CloudTrailWritesAccountLogs"]["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    [organization] = [s for s in bucket_policy if "Fn::If" in s]
    assert organization["Fn::If"][0] == "IsOrganizationTrail"
    assert "${OrganizationId}" in organization["Fn::If"][1]["Resource"]["Fn::Sub"]
    assert by_sid["DenyInsecureTransport"]["Effect"] == "Deny"
    # New objects: bucket -> SNS topic -> SQS queue (raw), with a dead-letter queue after 5 receives.
    [notification] = resources["TrailBucket"]["Properties"]["NotificationConfiguration"]["TopicConfigurations"]
    assert notification["Topic"] == {"Ref": "TrailObjectTopic"}
    assert notification["Event"] == "s3:ObjectCreated:*"
    subscription = resources["CloudTrailQueueSubscription"]["Properties"]
    assert subscription["Protocol"] == "sqs" and subscription["RawMessageDelivery"] is True
    assert subscription["Endpoint"] == {"Fn::GetAtt": ["CloudTrailQueue", "Arn"]}
    redrive = resources["CloudTrailQueue"]["Properties"]["RedrivePolicy"]
    assert redrive == {"deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}, "maxReceiveCount": 5}
    assert types["DeadLetterQueue"] == "AWS::SQS::Queue"
    assert types["AlertTopic"] == "AWS::SNS::Topic"
    # The monitor's role: IRSA (web identity for the service account) or EC2 with an instance profile.
    trust = resources["MonitorRole"]["Properties"]["AssumeRolePolicyDocument"]["Fn::If"]
    assert trust[0] == "UseIrsa"
    irsa = trust[1]["Fn::Sub"]
    assert '"sts:AssumeRoleWithWebIdentity"' in irsa and "system:serviceaccount:${ServiceAccountNamespace}:" in irsa
    assert '"${OidcIssuer}:aud": "sts.amazonaws.com"' in irsa
    assert trust[2]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert resources["MonitorInstanceProfile"]["Condition"] == "UseInstanceProfile"
    assert set(_template()["Parameters"]["MonitorTrust"]["AllowedValues"]) == {"irsa", "instance-profile"}
    assert set(_template()["Parameters"]["TrailScope"]["AllowedValues"]) == {"account", "organization"}


def test_policy_is_least_privilege() -> None:
    policy = json.loads(POLICY.read_text(encoding="utf-8"))
    assert policy["Version"] == "2012-10-17"
    statements = _statements(policy)
    actions: set[str] = set()
    for statement in statements:
        where = statement.get("Sid", statement)
        assert statement["Effect"] == "Allow", where
        assert not {"NotAction", "NotResource", "Principal", "NotPrincipal"} & set(statement), where
        for action in _list(statement["Action"]):
            assert "*" not in action and "?" not in action, f"{where}: wildcard action {action}"
            actions.add(action)
        for resource in _list(statement["Resource"]):
            assert resource != "*" and resource.startswith("arn:aws:"), f"{where}: resource {resource}"
            if resource.endswith("*"):
                # Wildcards only below a named prefix: objects under the trail's prefix, streams of a named log
                # group, and DescribeLogGroups, which AWS authorizes against the account's log groups.
                assert (resource.endswith("/AWSLogs/*") or re.search(r":log-group:[^*:]+:\*$", resource)
                        or _list(statement["Action"]) == ["logs:DescribeLogGroups"]), f"{where}: {resource}"
    assert actions == EXPECTED_ACTIONS
    by_action = {action: s for s in statements for action in _list(s["Action"])}
    get_object = by_action["s3:GetObject"]
    assert all(r.startswith("arn:aws:s3:::") and r.endswith("/AWSLogs/*") for r in _list(get_object["Resource"]))
    listing = by_action["s3:ListBucket"]
    assert all(re.fullmatch(r"arn:aws:s3:::[a-z0-9.-]+", r) for r in _list(listing["Resource"]))
    assert listing["Condition"]["StringLike"]["s3:prefix"].endswith("/AWSLogs/*")
    decrypt = by_action["kms:Decrypt"]
    assert re.fullmatch(r"arn:aws:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]{36}", decrypt["Resource"])
    region = decrypt["Resource"].split(":")[3]
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"):
        assert re.fullmatch(r"arn:aws:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+", by_action[action]["Resource"])
    assert re.fullmatch(r"arn:aws:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+", by_action["sns:Publish"]["Resource"])
    for action in ("logs:FilterLogEvents", "logs:StartLiveTail"):
        for resource in _list(by_action[action]["Resource"]):
            assert re.fullmatch(r"arn:aws:logs:[a-z0-9-]+:\d{12}:log-group:[^*]+(:\*)?", resource), resource
    assert by_action["logs:DescribeLogGroups"]["Resource"].endswith(":log-group:*")


def test_the_stack_grants_the_role_the_same_statements() -> None:
    policy = json.loads(POLICY.read_text(encoding="utf-8"))
    [inline] = _template()["Resources"]["MonitorRole"]["Properties"]["Policies"]
    stack = {s["Sid"]: s for s in _statements(inline["PolicyDocument"])}
    standalone = {s["Sid"]: s for s in _statements(policy)}
    assert stack.keys() == standalone.keys()
    for sid, statement in standalone.items():
        assert sorted(_list(stack[sid]["Action"])) == sorted(_list(statement["Action"])), sid
        assert stack[sid]["Effect"] == statement["Effect"], sid
        assert len(_list(stack[sid]["Resource"])) == len(_list(statement["Resource"])), sid
        assert _condition_keys(stack[sid]) == _condition_keys(statement), sid
        assert stack[sid]["Resource"] != "*", sid


def _condition_keys(statement: dict[str, Any]) -> set[tuple[str, str]]:
    return {(operator, key) for operator, block in statement.get("Condition", {}).items() for key in block}


def test_the_policy_covers_every_aws_call_the_service_makes() -> None:
    botocore_session = pytest.importorskip("botocore.session")
    from botocore import xform_name

    session = botocore_session.get_session()
    operations: dict[str, list[tuple[str, str]]] = {}
    for service in ("s3", "sqs", "sns", "logs", "sts"):
        for operation in session.get_service_model(service).operation_names:
            operations.setdefault(xform_name(operation), []).append((service, operation))
    called: dict[tuple[str, str], set[str]] = {}
    code = [*sorted((REPO / "monitor" / "sources").glob("*.py")), *sorted((REPO / "monitor" / "alerts").glob("*.py"))]
    for path in code:
        for match in re.finditer(r"\.([a-z][a-z0-9_]*)\(", path.read_text(encoding="utf-8")):
            for service_operation in operations.get(match.group(1), []):
                called.setdefault(service_operation, set()).add(path.name)
    assert ("sqs", "ReceiveMessage") in called and ("s3", "GetObject") in called  # the scan finds calls
    unknown = {op: sorted(files) for op, files in called.items() if op not in OPERATION_ACTIONS
               and op not in NOT_IN_POLICY}
    assert not unknown, f"AWS calls without a policy decision (add to the policy and this table): {unknown}"
    policy = json.loads(POLICY.read_text(encoding="utf-8"))
    policy_actions = {action for statement in _statements(policy) for action in _list(statement["Action"])}
    for operation in called.keys() - NOT_IN_POLICY:
        assert OPERATION_ACTIONS[operation] in policy_actions, operation


# The optional state cache of several replicas, and what only it may create.
CACHE_RESOURCES = {
    "RedisAuthSecret": "AWS::SecretsManager::Secret",
    "RedisSubnetGroup": "AWS::ElastiCache::SubnetGroup",
    "RedisSecurityGroup": "AWS::EC2::SecurityGroup",
    "RedisClientSecurityGroup": "AWS::EC2::SecurityGroup",
    "RedisIngressFromMonitor": "AWS::EC2::SecurityGroupIngress",
    "RedisParameterGroup": "AWS::ElastiCache::ParameterGroup",
    "RedisReplicationGroup": "AWS::ElastiCache::ReplicationGroup",
}


def _conditions_of(template: dict[str, Any], name: str) -> set[str]:
    """The condition and the conditions it is built on (through Fn::And / Condition)."""
    found = {name}
    pending = [template["Conditions"][name]]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if "Condition" in node and node["Condition"] not in found:
                found.add(node["Condition"])
                pending.append(template["Conditions"][node["Condition"]])
            pending.extend(v for k, v in node.items() if k in ("Fn::And", "Fn::Equals", "Fn::Not"))
        elif isinstance(node, list):
            pending.extend(node)
    return found


def test_the_state_cache_exists_only_when_asked_for() -> None:
    template = _template()
    parameter = template["Parameters"]["CreateRedis"]
    assert parameter["Default"] == "false" and set(parameter["AllowedValues"]) == {"true", "false"}
    assert {"Fn::Equals": [{"Ref": "CreateRedis"}, "true"]} in template["Conditions"]["CreateRedis"]["Fn::And"]
    resources = template["Resources"]
    cache_types = set(CACHE_RESOURCES.values())
    conditional = {name: r["Type"] for name, r in resources.items()
                   if r["Type"] in cache_types or r["Type"].startswith("AWS::ElastiCache::")}
    assert conditional == CACHE_RESOURCES
    for name in conditional:
        assert "CreateRedis" in _conditions_of(template, resources[name]["Condition"]), name
    outputs = {name: o for name, o in template["Outputs"].items() if name.startswith("Redis")}
    assert set(outputs) == {"RedisPrimaryEndpointAddress", "RedisPrimaryEndpointPort", "RedisAuthSecretArn",
                            "RedisClientSecurityGroupId"}
    for name, output in outputs.items():
        assert "CreateRedis" in _conditions_of(template, output["Condition"]), name
    assert outputs["RedisPrimaryEndpointAddress"]["Value"] == \
        {"Fn::GetAtt": ["RedisReplicationGroup", "PrimaryEndPoint.Address"]}
    assert outputs["RedisPrimaryEndpointPort"]["Value"] == \
        {"Fn::GetAtt": ["RedisReplicationGroup", "PrimaryEndPoint.Port"]}
    assert outputs["RedisAuthSecretArn"]["Value"] == {"Ref": "RedisAuthSecret"}
    # Asked for without a network, the stack refuses to start rather than fail half-way.
    rule = template["Rules"]["RedisNeedsNetwork"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "CreateRedis"}, "true"]}
    assert len(rule["Assertions"]) == 2


def test_the_state_cache_is_replicated_encrypted_and_authenticated() -> None:
    resources = _template()["Resources"]
    group = resources["RedisReplicationGroup"]["Properties"]
    assert group["Engine"] == "valkey"
    assert group["TransitEncryptionEnabled"] is True and group["AtRestEncryptionEnabled"] is True
    assert group["AutomaticFailoverEnabled"] is True and group["MultiAZEnabled"] is True
    assert group["NumCacheClusters"] == 2 and group["Port"] == 6379
    assert group["CacheSubnetGroupName"] == {"Ref": "RedisSubnetGroup"}
    assert group["SecurityGroupIds"] == [{"Fn::GetAtt": ["RedisSecurityGroup", "GroupId"]}]
    assert resources["RedisReplicationGroup"]["DeletionPolicy"] == "Snapshot"
    # The AUTH token is generated into Secrets Manager and resolved by CloudFormation: never a literal.
    assert group["AuthToken"] == {"Fn::Sub": "{{resolve:secretsmanager:${RedisAuthSecret}:SecretString}}"}
    secret = resources["RedisAuthSecret"]["Properties"]
    assert "SecretString" not in secret
    generate = secret["GenerateSecretString"]
    assert 16 <= generate["PasswordLength"] <= 128
    # Redis AUTH tokens refuse '/', '"', '@' and spaces (only !&#$^<>- of the punctuation is allowed).
    assert generate.get("ExcludePunctuation") is True or set('/"@') <= set(generate.get("ExcludeCharacters", ""))
    assert generate.get("IncludeSpace", False) is False
    # A full cache refuses writes instead of evicting detection state.
    parameters = resources["RedisParameterGroup"]["Properties"]
    assert parameters["Properties"] == {"maxmemory-policy": "noeviction"}
    assert group["CacheParameterGroupName"] == {"Ref": "RedisParameterGroup"}
    # No append-only file on Multi-AZ ElastiCache: the README says what keeps the state instead.
    readme = (DEPLOY / "aws" / "README.md").read_text(encoding="utf-8")
    for words in ("`appendonly`", "Multi-AZ", "automatic failover", "last second"):
        assert words in readme, words


def test_only_the_monitor_reaches_the_cache_and_only_on_6379() -> None:
    resources = _template()["Resources"]
    cache_group = resources["RedisSecurityGroup"]["Properties"]
    assert "SecurityGroupIngress" not in cache_group, "ingress is the one rule below"
    assert cache_group["SecurityGroupEgress"] == [{"IpProtocol": "-1", "CidrIp": "127.0.0.1/32",
                                                  "Description": "No egress"}]
    ingresses = {name: r["Properties"] for name, r in resources.items()
                 if r["Type"] == "AWS::EC2::SecurityGroupIngress"}
    assert set(ingresses) == {"RedisIngressFromMonitor"}
    ingress = ingresses["RedisIngressFromMonitor"]
    assert ingress["GroupId"] == {"Fn::GetAtt": ["RedisSecurityGroup", "GroupId"]}
    assert (ingress["IpProtocol"], ingress["FromPort"], ingress["ToPort"]) == ("tcp", 6379, 6379)
    assert not {"CidrIp", "CidrIpv6", "SourcePrefixListId"} & set(ingress)
    assert ingress["SourceSecurityGroupId"] == {"Fn::If": [
        "HasMonitorSecurityGroup", {"Ref": "MonitorSecurityGroupId"},
        {"Fn::GetAtt": ["RedisClientSecurityGroup", "GroupId"]}]}
    client = resources["RedisClientSecurityGroup"]
    assert "SecurityGroupIngress" not in client["Properties"]
    assert "HasMonitorSecurityGroup" in _conditions_of(_template(), client["Condition"])
