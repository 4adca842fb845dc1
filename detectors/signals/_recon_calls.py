"""The calls that enumerate an account (Pacu, enumerate-iam, CloudFox, ScoutSuite, Prowler walk them service
by service): what `recon-burst` is indexed by.

Not a detector: the registry skips modules whose name starts with `_`. Indexed calls cost nothing for every
other event, which is why this is a list and not "every List/Describe/Get". The calls applications and
agents poll all day (DescribeInstances, GetCallerIdentity, GetRole, DescribeLogGroups, SSM's
DescribeInstanceInformation, DescribeSecurityGroups and the network lookups, GetBucketLocation,
DescribeStacks, DescribeAlarms...) are left out on purpose: they would cost on a large share of all
events and say nothing about a sweep that the listings below do not already say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

RECON_CALLS: Final[Mapping[str, tuple[str, ...]]] = {
    "iam.amazonaws.com": (
        "ListUsers", "ListRoles", "ListGroups", "ListPolicies", "ListAttachedUserPolicies", "ListAttachedRolePolicies",
        "ListAttachedGroupPolicies", "ListUserPolicies", "ListRolePolicies", "ListGroupPolicies", "ListGroupsForUser",
        "ListAccessKeys", "ListMFADevices", "ListVirtualMFADevices", "ListInstanceProfiles", "ListSAMLProviders",
        "ListOpenIDConnectProviders", "ListServerCertificates", "ListSigningCertificates", "ListSSHPublicKeys",
        "ListEntitiesForPolicy", "ListPolicyVersions", "ListAccountAliases", "GetAccountAuthorizationDetails",
        "GetAccountSummary", "GetAccountPasswordPolicy", "GetUser", "GetGroup", "GetUserPolicy", "GetLoginProfile",
        "GetCredentialReport", "GenerateCredentialReport",
    ),
    "sts.amazonaws.com": ("GetAccessKeyInfo",),
    "organizations.amazonaws.com": ("ListAccounts", "ListRoots", "ListOrganizationalUnitsForParent", "ListPolicies",
                                    "DescribeAccount"),
    "s3.amazonaws.com": ("ListBuckets", "GetBucketPolicy", "GetBucketAcl", "GetBucketPolicyStatus",
                         "GetAccountPublicAccessBlock"),
    "ec2.amazonaws.com": (
        "DescribeRegions", "DescribeSnapshots", "DescribeKeyPairs", "DescribeInstanceAttribute", "DescribeFlowLogs",
        "DescribeVpcPeeringConnections", "DescribeVpnConnections", "DescribeCustomerGateways",
        "DescribeTransitGateways", "DescribeIamInstanceProfileAssociations", "GetEbsEncryptionByDefault",
        "DescribeSnapshotAttribute", "DescribeImageAttribute", "DescribeLaunchTemplateVersions",
    ),
    "lambda.amazonaws.com": ("ListFunctions20150331", "ListFunctions", "ListLayers", "ListFunctionUrlConfigs",
                             "GetAccountSettings20160819", "GetAccountSettings"),
    "secretsmanager.amazonaws.com": ("ListSecrets",),
    "ssm.amazonaws.com": ("DescribeParameters", "ListDocuments", "ListCommands", "DescribeSessions"),
    "kms.amazonaws.com": ("ListKeys", "ListGrants", "GetKeyPolicy"),
    "rds.amazonaws.com": ("DescribeDBSnapshots", "DescribeDBClusterSnapshots"),
    "dynamodb.amazonaws.com": ("ListTables", "ListBackups", "ListGlobalTables"),
    "cloudtrail.amazonaws.com": ("DescribeTrails", "GetTrailStatus", "GetEventSelectors", "ListTrails"),
    "guardduty.amazonaws.com": ("ListDetectors", "GetDetector", "ListFindings"),
    "securityhub.amazonaws.com": ("DescribeHub", "GetEnabledStandards"),
    "config.amazonaws.com": ("DescribeConfigurationRecorders", "DescribeConfigurationRecorderStatus",
                             "DescribeDeliveryChannels"),
    "access-analyzer.amazonaws.com": ("ListAnalyzers",),
    "logs.amazonaws.com": ("DescribeSubscriptionFilters", "DescribeMetricFilters"),
    "sns.amazonaws.com": ("ListTopics", "ListSubscriptions"),
    "sqs.amazonaws.com": ("ListQueues",),
    "ecr.amazonaws.com": ("GetRepositoryPolicy",),
    "ecs.amazonaws.com": ("ListClusters", "ListTaskDefinitions"),
    "eks.amazonaws.com": ("ListClusters",),
    "cloudformation.amazonaws.com": ("ListStacks",),
    "route53.amazonaws.com": ("ListHostedZones",),
    "cloudfront.amazonaws.com": ("ListDistributions",),
    "elasticbeanstalk.amazonaws.com": ("DescribeEnvironments", "DescribeApplications"),
    "es.amazonaws.com": ("ListDomainNames",),
    "glue.amazonaws.com": ("GetDatabases", "GetConnections"),
    "states.amazonaws.com": ("ListStateMachines",),
    "codebuild.amazonaws.com": ("ListProjects",),
    "codecommit.amazonaws.com": ("ListRepositories",),
    "sso.amazonaws.com": ("ListInstances", "ListPermissionSets"),
    "identitystore.amazonaws.com": ("ListUsers", "ListGroups"),
    "cognito-idp.amazonaws.com": ("ListUserPools",),
    "bedrock.amazonaws.com": ("ListFoundationModels", "ListCustomModels", "GetModelInvocationLoggingConfiguration"),
    "sagemaker.amazonaws.com": ("ListNotebookInstances",),
    "acm.amazonaws.com": ("ListCertificates",),
    "backup.amazonaws.com": ("ListBackupVaults", "ListBackupPlans"),
}

RECON_EVENTS: Final = frozenset((source, name) for source, names in RECON_CALLS.items() for name in names)
