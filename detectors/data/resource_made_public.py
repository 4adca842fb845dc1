"""A resource other than an S3 bucket opened to everyone.

Fires on a resource policy with an Allow to "Principal": "*" (or {"AWS": "*"}, or NotPrincipal) that no
condition restricts (`_resource_policy.open_statements`: aws:SourceArn, SourceAccount, SourceOwner,
PrincipalOrgID, PrincipalAccount, SourceVpc(e), SourceIp, kms:CallerAccount, kms:ViaService...; "*" or
0.0.0.0/0 as the value, IfExists and Null operators do not restrict), set on:
KMS keys (CreateKey, PutKeyPolicy), SQS queues (CreateQueue, SetQueueAttributes), SNS topics (CreateTopic,
SetTopicAttributes of Policy), ECR repositories (SetRepositoryPolicy), OpenSearch and Elasticsearch domains
(CreateDomain, UpdateDomainConfig and their Elasticsearch names), Secrets Manager secrets
(PutResourcePolicy), EFS file systems (PutFileSystemPolicy), Glacier vaults (SetVaultAccessPolicy) and
AWS Backup vaults (PutBackupVaultAccessPolicy). Also: Lambda function URLs with AuthType NONE, Lambda
layer versions shared with "*" outside an organization, CodeBuild projects made PUBLIC_READ.

Lambda AddPermission for "*" is `lambda-backdoor`'s (one alert per call, not two).
Severity: critical for KMS keys and secrets (a public key decrypts, a public secret is read by anyone),
medium for an OpenSearch domain created with fine-grained access control on (the domain still asks for a
user), quiet for one created inside a VPC; high for everything else.
Params: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from detectors._changes import changed_by_someone, scalar
from detectors._common import ACTOR, call_name
from detectors._fields import member, short_list, walk
from detectors._iam_policy import parse_document
from detectors._resource_policy import open_statements
from monitor.model import Detector, Event, Hit, Severity
from monitor.model.alert import clip

KMS = "kms.amazonaws.com"
SQS = "sqs.amazonaws.com"
SNS = "sns.amazonaws.com"
ECR = "ecr.amazonaws.com"
# OpenSearch Service records its calls as es.amazonaws.com; EventBridge's reference names
# opensearchservice.amazonaws.com. Indexing a source that never appears costs nothing.
DOMAIN_SOURCES = ("es.amazonaws.com", "opensearch.amazonaws.com", "opensearchservice.amazonaws.com")
SECRETS = "secretsmanager.amazonaws.com"
EFS = "elasticfilesystem.amazonaws.com"
GLACIER = "glacier.amazonaws.com"
BACKUP = "backup.amazonaws.com"
LAMBDA = "lambda.amazonaws.com"
CODEBUILD = "codebuild.amazonaws.com"

_DOMAIN_CALLS = ("CreateDomain", "UpdateDomainConfig", "CreateElasticsearchDomain", "UpdateElasticsearchDomainConfig")
# CloudTrail names Lambda calls with their API version, and some without.
_URL_CALLS = frozenset(f"{name}{v}" for name in ("CreateFunctionUrlConfig", "UpdateFunctionUrlConfig")
                       for v in ("", "20211031"))
_LAYER_CALLS = frozenset(f"AddLayerVersionPermission{v}" for v in ("", "20181031"))


def _path(value: object, path: tuple[str, ...]) -> object:
    for key in path:
        value = member(value, key)
    return value


def _text(value: object) -> str:
    return value if type(value) is str else ""


# For each policy-setting call: the kind of resource, and the request paths of its name and of its policy.
_POLICIES: Final[Mapping[tuple[str, str], tuple[str, tuple[str, ...], tuple[str, ...]]]] = {
    (KMS, "CreateKey"): ("KMS key", (), ("policy",)),  # the new key's ARN is in the response
    (KMS, "PutKeyPolicy"): ("KMS key", ("keyId",), ("policy",)),
    (SQS, "CreateQueue"): ("SQS queue", ("queueName",), ("attributes", "Policy")),
    (SQS, "SetQueueAttributes"): ("SQS queue", ("queueUrl",), ("attributes", "Policy")),
    (SNS, "CreateTopic"): ("SNS topic", ("name",), ("attributes", "Policy")),
    (SNS, "SetTopicAttributes"): ("SNS topic", ("topicArn",), ("attributeValue",)),  # when attributeName is Policy
    (ECR, "SetRepositoryPolicy"): ("ECR repository", ("repositoryName",), ("policyText",)),
    (SECRETS, "PutResourcePolicy"): ("Secrets Manager secret", ("secretId",), ("resourcePolicy",)),
    (EFS, "PutFileSystemPolicy"): ("EFS file system", ("fileSystemId",), ("policy",)),
    # Glacier's body is {"policy": {"Policy": "<document>"}}.
    (GLACIER, "SetVaultAccessPolicy"): ("Glacier vault", ("vaultName",), ("policy", "policy")),
    (BACKUP, "PutBackupVaultAccessPolicy"): ("Backup vault", ("backupVaultName",), ("policy",)),
    **{(source, name): ("OpenSearch domain", ("domainName",), ("accessPolicies",))
       for source in DOMAIN_SOURCES for name in _DOMAIN_CALLS},
}
_CRITICAL_KINDS = frozenset({"KMS key", "Secrets Manager secret"})


def _domain_severity(request: dict[str, Any], response: dict[str, Any]) -> Severity | None:
    """None for a domain inside a VPC (reachable only from it); medium with fine-grained access control on
    (every request still needs a user); else the detector's high. The request of CreateDomain says so, and
    the response of either call describes the domain's configuration."""
    found = [*walk(request), *walk(response)]
    if any(key.lower() == "subnetids" and type(value) is list and value for key, value in found):
        return None
    for key, value in found:
        if key.lower() == "advancedsecurityoptions" and any(
                inner.lower() == "enabled" and item is True for inner, item in walk(value)):
            return Severity.MEDIUM
    return Severity.HIGH


def _policy_hit(event: Event, kind: str, resource: object, policy: object, request: dict[str, Any]) -> Hit | None:
    grants = open_statements(parse_document(policy))
    if not grants:
        return None
    severity = Severity.CRITICAL if kind in _CRITICAL_KINDS else Severity.HIGH
    if kind == "OpenSearch domain":
        found = _domain_severity(request, event.response())
        if found is None:
            return None
        severity = found
    actions = list(dict.fromkeys(a for grant in grants for a in grant.actions))
    return Hit(severity=severity, title=f"{kind} made public",
               context={"call": call_name(event), "region": clip(event.awsRegion, 64), "resource_type": kind,
                        "resource": clip(_text(resource), 512), "principal": "*",
                        "actions": short_list(actions), "statement": clip(grants[0].sid, 128)})


def _lambda_url(event: Event, request: dict[str, Any]) -> Hit | None:
    if _text(member(request, "authType")).strip().upper() != "NONE":
        return None
    return Hit(title="Lambda function URL without authentication",
               context={"call": call_name(event), "region": clip(event.awsRegion, 64),
                        "resource_type": "Lambda function URL",
                        "resource": clip(_text(member(request, "functionName")), 512),
                        "qualifier": clip(_text(member(request, "qualifier")), 128), "auth_type": "NONE"})


def _lambda_layer(event: Event, request: dict[str, Any]) -> Hit | None:
    if _text(member(request, "principal")).strip() != "*" or member(request, "organizationId"):
        return None
    return Hit(title="Lambda layer version made public",
               context={"call": call_name(event), "region": clip(event.awsRegion, 64),
                        "resource_type": "Lambda layer version",
                        "resource": clip(_text(member(request, "layerName")), 512),
                        "version": scalar(member(request, "versionNumber")), "principal": "*"})


def _codebuild(event: Event, request: dict[str, Any]) -> Hit | None:
    if _text(member(request, "projectVisibility")).strip().upper() != "PUBLIC_READ":
        return None
    return Hit(title="CodeBuild project made public",
               context={"call": call_name(event), "region": clip(event.awsRegion, 64),
                        "resource_type": "CodeBuild project",
                        "resource": clip(_text(member(request, "projectArn")), 512), "visibility": "PUBLIC_READ"})


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not changed_by_someone(event):
        return None
    request = event.request()
    name = event.eventName
    if event.eventSource == LAMBDA:
        return _lambda_url(event, request) if name in _URL_CALLS else _lambda_layer(event, request)
    if event.eventSource == CODEBUILD:
        return _codebuild(event, request)
    kind, name_path, policy_path = _POLICIES[(event.eventSource, name)]
    if name == "SetTopicAttributes" and _text(member(request, "attributeName")).strip().lower() != "policy":
        return None  # display name, delivery policy, encryption key...
    resource = _path(event.response(), ("keyMetadata", "arn")) if name == "CreateKey" else _path(request, name_path)
    return _policy_hit(event, kind, resource, _path(request, policy_path), request)


DETECTOR = Detector(
    id="resource-made-public",
    title="Resource made public",
    severity=Severity.HIGH,
    mitre=("T1530", "T1537", "T1098"),
    runbook=(
        "A resource policy now lets anyone (any AWS account, or no account at all) use a KMS key, queue, topic, "
        "container repository, search domain, secret, file system or vault, or a Lambda URL, layer or CodeBuild "
        "project is public. Check the resource, the actions granted (context) and who made the change. If not "
        "intended: restore the previous policy (or remove the statement, set the URL's AuthType to AWS_IAM, "
        "the project back to PRIVATE), then look for use by unknown principals since (KMS Decrypt, "
        "GetSecretValue, ReceiveMessage, image pulls in CloudTrail from other accounts). Statements restricted "
        "by source ARN, account, organization, VPC or address, refused calls and AWS's own calls are not "
        "reported; Lambda AddPermission for everyone is reported by lambda-backdoor."
    ),
    match=match,
    events=frozenset({*_POLICIES, *((LAMBDA, name) for name in _URL_CALLS | _LAYER_CALLS),
                      (CODEBUILD, "UpdateProjectVisibility")}),
    group_by=ACTOR,
)
