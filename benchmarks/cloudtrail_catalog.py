"""The API calls of the benchmark corpus: which services, which event names, and how often each is called.

Written for trailsentry's benchmark from the public AWS API names; no third-party data. Each service
lists its event names roughly in order of frequency (reads first, the rare writes last) and gets a share
of the traffic; within a service the share falls off with rank (Zipf), and a few very common calls
(`HOT`) get explicit shares, so a handful of reads dominate and hundreds of calls form a long tail.

Calls that only attackers make in this organization (stopping CloudTrail, deleting detectors, opening
buckets, minting keys for others...) are left out of the background: the incidents bring those.
"""

from __future__ import annotations

from dataclasses import dataclass

# Actor mixes (see cloudtrail_templates.ACTORS): who makes a call.
READ, WRITE, DATA, AGENT, PERSON, SERVICE = "read", "write", "data", "agent", "person", "service"

_READ_PREFIXES = ("Describe", "List", "Get", "Head", "Lookup", "Search", "Select", "BatchGet", "BatchCheck", "Check",
                  "Estimate", "Query", "Scan", "Validate", "Simulate", "Preview", "Download", "Filter",
                  "Retrieve", "Discover", "Is", "Verify", "Decode", "Generate", "Test", "AdminGet")


@dataclass(frozen=True, slots=True)
class Service:
    prefix: str  # the endpoint prefix: <prefix>.<region>.amazonaws.com
    source: str  # eventSource
    share: float  # percent of all events, HOT calls excluded
    names: str  # event names, most frequent first
    global_: bool = False  # recorded in us-east-1 only (IAM, Organizations, Route 53, ...)


@dataclass(frozen=True, slots=True)
class Api:
    service: str
    source: str
    name: str
    weight: float
    read_only: bool
    data: bool  # eventCategory Data (S3 objects, Lambda Invoke, DynamoDB items)
    global_: bool
    actors: str


SERVICES: tuple[Service, ...] = (
    Service("ec2", "ec2.amazonaws.com", 5.0, """
        DescribeInstanceStatus DescribeImages DescribeAvailabilityZones DescribeRouteTables
        DescribeLaunchTemplates DescribeAccountAttributes DescribeInstanceTypes DescribeAddresses
        DescribeVpcEndpoints DescribeSnapshots DescribeNatGateways DescribeLaunchTemplateVersions
        DescribeKeyPairs DescribeRegions DescribeInternetGateways DescribeNetworkAcls
        DescribeSecurityGroupRules DescribeVolumeStatus DescribeSpotPriceHistory DescribePrefixLists
        DescribeManagedPrefixLists DescribeFlowLogs DescribeVpcAttribute DescribeDhcpOptions
        DescribeTransitGateways DescribeTransitGatewayAttachments DescribeVpcPeeringConnections
        DescribeIamInstanceProfileAssociations DescribeCapacityReservations
        DescribeInstanceCreditSpecifications DescribeVolumesModifications DescribeHosts
        DescribeSnapshotAttribute DescribeImageAttribute DescribeFleets DescribeSpotInstanceRequests
        CreateTags DeleteTags CreateNetworkInterface DeleteNetworkInterface AttachNetworkInterface
        DetachNetworkInterface AssignPrivateIpAddresses UnassignPrivateIpAddresses RunInstances
        TerminateInstances StartInstances StopInstances RebootInstances CreateVolume AttachVolume"""),
    Service("s3", "s3.amazonaws.com", 3.0, """
        ListObjects GetBucketLocation HeadBucket GetObjectTagging ListBuckets GetBucketAcl GetBucketPolicy
        GetBucketVersioning GetBucketEncryption GetBucketTagging GetBucketPolicyStatus GetBucketLogging
        GetBucketLifecycle GetBucketReplication GetBucketCors GetBucketWebsite GetBucketNotification
        GetBucketOwnershipControls GetBucketPublicAccessBlock DeleteObject DeleteObjects CopyObject
        CreateMultipartUpload UploadPart CompleteMultipartUpload AbortMultipartUpload PutObjectTagging"""),
    Service("iam", "iam.amazonaws.com", 2.2, """
        GetRole ListRoles GetPolicy GetPolicyVersion ListAttachedRolePolicies ListRolePolicies GetRolePolicy
        GetUser ListUsers ListPolicies GetInstanceProfile ListInstanceProfilesForRole GetAccountSummary
        ListAccountAliases ListGroups ListAttachedUserPolicies ListUserPolicies ListGroupsForUser
        ListAccessKeys GetAccessKeyLastUsed ListMFADevices ListRoleTags ListUserTags ListPolicyTags
        ListEntitiesForPolicy ListPolicyVersions GetGroup ListAttachedGroupPolicies TagRole UntagRole
        UpdateRoleDescription CreateServiceLinkedRole TagPolicy TagUser UntagUser""", global_=True),
    Service("sts", "sts.amazonaws.com", 0.4, "GetSessionToken DecodeAuthorizationMessage GetAccessKeyInfo"),
    Service("kms", "kms.amazonaws.com", 1.6, """
        DescribeKey ReEncrypt ListAliases GenerateDataKeyPair Sign Verify GetPublicKey GenerateRandom
        ListKeys GetKeyPolicy GetKeyRotationStatus ListResourceTags CreateGrant"""),
    Service("lambda", "lambda.amazonaws.com", 1.6, """
        GetFunction20150331v2 ListFunctions20150331 GetFunctionConfiguration20150331v2
        ListVersionsByFunction20150331 ListAliases20150331 GetPolicy20150331v2
        ListEventSourceMappings20150331 GetEventSourceMapping20150331 ListTags20170331
        GetFunctionConcurrency GetFunctionCodeSigningConfig UpdateFunctionConfiguration20150331v2
        PublishVersion20150331 UpdateAlias20150331 CreateAlias20150331"""),
    Service("logs", "logs.amazonaws.com", 1.6, """
        DescribeLogGroups DescribeLogStreams CreateLogGroup FilterLogEvents GetLogEvents StartQuery
        GetQueryResults DescribeSubscriptionFilters DescribeMetricFilters PutRetentionPolicy
        ListTagsLogGroup StopQuery DescribeQueries DescribeResourcePolicies ListTagsForResource TagLogGroup"""),
    Service("monitoring", "monitoring.amazonaws.com", 1.4, """
        GetMetricStatistics ListMetrics DescribeAlarmsForMetric DescribeAlarmHistory GetDashboard
        ListDashboards DescribeAnomalyDetectors GetMetricWidgetImage PutMetricAlarm SetAlarmState
        PutDashboard"""),
    Service("ssm", "ssm.amazonaws.com", 1.6, """
        DescribeInstanceInformation GetParametersByPath DescribeParameters PutInventory PutComplianceItems
        UpdateInstanceAssociationStatus GetDocument DescribeAssociation ListAssociations
        GetDeployablePatchSnapshotForInstance DescribeDocument ListDocuments GetParameterHistory
        ListCommands ListCommandInvocations GetCommandInvocation PutParameter LabelParameterVersion
        AddTagsToResource"""),
    Service("secretsmanager", "secretsmanager.amazonaws.com", 0.6, """
        DescribeSecret ListSecrets GetResourcePolicy ListSecretVersionIds GetRandomPassword PutSecretValue
        UpdateSecretVersionStage ValidateResourcePolicy"""),
    Service("rds", "rds.amazonaws.com", 1.1, """
        DescribeDBInstances DescribeDBClusters DescribeDBSnapshots DescribeDBClusterSnapshots
        DescribeDBEngineVersions DescribeDBParameterGroups DescribeDBClusterParameterGroups
        DescribeDBParameters DescribeDBSubnetGroups DescribeEvents DescribeEventSubscriptions
        DescribeOptionGroups DescribeOrderableDBInstanceOptions CreateDBSnapshot CreateDBClusterSnapshot
        DeleteDBSnapshot ModifyDBInstance ModifyDBCluster RebootDBInstance"""),
    Service("dynamodb", "dynamodb.amazonaws.com", 1.2, """
        UpdateItem BatchGetItem BatchWriteItem DescribeTable DeleteItem Scan TransactWriteItems
        TransactGetItems ListTables DescribeTimeToLive DescribeContinuousBackups ListTagsOfResource
        DescribeLimits DescribeEndpoints DescribeTableReplicaAutoScaling DescribeKinesisStreamingDestination
        DescribeContributorInsights"""),
    Service("sqs", "sqs.amazonaws.com", 0.9, """
        GetQueueAttributes GetQueueUrl ListQueues ListQueueTags ListDeadLetterSourceQueues
        SetQueueAttributes TagQueue"""),
    Service("sns", "sns.amazonaws.com", 0.7, """
        Publish GetTopicAttributes ListTopics ListSubscriptionsByTopic ListSubscriptions
        GetSubscriptionAttributes ListTagsForResource GetSMSAttributes PublishBatch Subscribe"""),
    Service("ecs", "ecs.amazonaws.com", 1.3, """
        SubmitTaskStateChange SubmitContainerStateChange DescribeServices DescribeTasks
        DescribeTaskDefinition ListTasks DescribeClusters ListServices DescribeContainerInstances
        ListClusters ListTaskDefinitions ListTaskDefinitionFamilies ListContainerInstances
        SubmitAttachmentStateChanges RegisterContainerInstance UpdateService"""),
    Service("eks", "eks.amazonaws.com", 0.5, """
        DescribeCluster ListClusters ListNodegroups DescribeNodegroup ListAddons DescribeAddon
        DescribeAddonVersions ListFargateProfiles DescribeFargateProfile ListIdentityProviderConfigs
        UpdateNodegroupConfig UpdateNodegroupVersion UpdateAddon UpdateClusterConfig"""),
    Service("ecr", "ecr.amazonaws.com", 1.0, """
        BatchCheckLayerAvailability DescribeRepositories DescribeImages ListImages DescribeImageScanFindings
        GetLifecyclePolicy GetRepositoryPolicy DescribeRegistry GetRegistryPolicy PutImage
        InitiateLayerUpload UploadLayerPart"""),
    Service("elasticloadbalancing", "elasticloadbalancing.amazonaws.com", 0.8, """
        DescribeLoadBalancers DescribeTargetGroups DescribeListeners DescribeRules
        DescribeLoadBalancerAttributes DescribeTargetGroupAttributes DescribeListenerCertificates
        DescribeSSLPolicies RegisterTargets DeregisterTargets ModifyTargetGroup ModifyRule"""),
    Service("autoscaling", "autoscaling.amazonaws.com", 0.7, """
        DescribeAutoScalingInstances DescribeLaunchConfigurations DescribeScalingActivities DescribePolicies
        DescribeScheduledActions DescribeLifecycleHooks DescribeWarmPool DescribeInstanceRefreshes
        RecordLifecycleActionHeartbeat CompleteLifecycleAction SetDesiredCapacity UpdateAutoScalingGroup"""),
    Service("cloudformation", "cloudformation.amazonaws.com", 0.8, """
        DescribeStacks DescribeStackEvents ListStackResources DescribeStackResources DescribeStackResource
        ListStacks GetTemplate GetTemplateSummary DescribeChangeSet ListChangeSets ListExports ListImports
        DetectStackDrift CreateChangeSet ExecuteChangeSet DeleteChangeSet UpdateStack"""),
    Service("config", "config.amazonaws.com", 0.7, """
        PutEvaluations DescribeConfigRules DescribeConfigurationRecorderStatus
        DescribeComplianceByConfigRule GetComplianceDetailsByConfigRule DescribeConfigurationRecorders
        DescribeDeliveryChannels DescribeDeliveryChannelStatus DescribeComplianceByResource
        GetComplianceDetailsByResource DescribeConfigRuleEvaluationStatus StartConfigRulesEvaluation
        PutConfigRule DeleteEvaluationResults"""),
    Service("guardduty", "guardduty.amazonaws.com", 0.5, """
        ListDetectors GetDetector ListFindings GetFindings GetFindingsStatistics ListFilters GetFilter
        ListMembers GetMembers GetAdministratorAccount GetMasterAccount ArchiveFindings UnarchiveFindings
        UpdateFindingsFeedback CreateFilter"""),
    Service("securityhub", "securityhub.amazonaws.com", 0.6, """
        BatchImportFindings GetFindings BatchUpdateFindings DescribeHub GetEnabledStandards
        DescribeStandards DescribeStandardsControls ListEnabledProductsForImport DescribeProducts
        GetInsights GetInsightResults UpdateStandardsControl"""),
    Service("organizations", "organizations.amazonaws.com", 0.35, """
        DescribeOrganization ListAccounts DescribeAccount ListRoots ListOrganizationalUnitsForParent
        ListChildren ListParents DescribeOrganizationalUnit ListPoliciesForTarget DescribePolicy
        ListTargetsForPolicy""", global_=True),
    Service("sso", "sso.amazonaws.com", 0.35, """
        ListAccountRoles GetRoleCredentials ListPermissionSets DescribePermissionSet ListAccountAssignments
        ListAccountsForProvisionedPermissionSet ListInstances ListPermissionSetsProvisionedToAccount
        Federate Logout CreateAccountAssignment ProvisionPermissionSet"""),
    Service("identitystore", "identitystore.amazonaws.com", 0.15, """
        DescribeUser ListGroupMembershipsForMember IsMemberInGroups DescribeGroup ListGroupMemberships
        GetUserId GetGroupId"""),
    Service("sso-oidc", "sso-oauth.amazonaws.com", 0.1, "CreateToken"),
    Service("signin", "signin.amazonaws.com", 0.25, "ConsoleLogin SwitchRole CheckMfa",
            global_=True),
    Service("route53", "route53.amazonaws.com", 0.35, """
        ListHostedZones GetHostedZone ListResourceRecordSets GetChange ChangeResourceRecordSets
        ListHealthChecks GetHealthCheckStatus GetHealthCheck ListTagsForResources ChangeTagsForResource
        CreateHealthCheck""", global_=True),
    Service("route53resolver", "route53resolver.amazonaws.com", 0.1, """
        ListResolverEndpoints ListResolverRules ListResolverRuleAssociations ListResolverQueryLogConfigs
        GetResolverQueryLogConfig GetFirewallConfig ListFirewallRuleGroups"""),
    Service("cloudfront", "cloudfront.amazonaws.com", 0.25, """
        ListDistributions GetDistribution GetDistributionConfig ListInvalidations GetInvalidation
        CreateInvalidation ListCachePolicies GetCachePolicy ListOriginRequestPolicies
        ListResponseHeadersPolicies UpdateDistribution""",
            global_=True),
    Service("apigateway", "apigateway.amazonaws.com", 0.4, """
        GetRestApis GetRestApi GetResources GetStages GetStage GetDeployments GetAuthorizers GetDomainNames
        GetBasePathMappings GetApiKeys GetUsagePlans CreateDeployment UpdateStage PutIntegration PutMethod
        CreateResource"""),
    Service("glue", "glue.amazonaws.com", 0.8, """
        GetTable GetPartitions GetDatabase GetTables BatchGetPartition GetPartition GetDatabases GetJobRun
        GetJob GetJobRuns GetJobs GetCrawler GetCrawlers StartJobRun StartCrawler BatchCreatePartition
        CreatePartition UpdatePartition UpdateTable"""),
    Service("athena", "athena.amazonaws.com", 0.6, """
        GetQueryExecution StartQueryExecution GetQueryResults GetWorkGroup BatchGetQueryExecution
        ListQueryExecutions GetDataCatalog ListWorkGroups ListDataCatalogs ListDatabases StopQueryExecution
        CreateNamedQuery"""),
    Service("bedrock", "bedrock.amazonaws.com", 0.3, """
        Converse ListFoundationModels GetFoundationModel ListInferenceProfiles GetInferenceProfile
        ListGuardrails GetGuardrail ListCustomModels ListModelInvocationJobs ApplyGuardrail"""),
    Service("cloudtrail", "cloudtrail.amazonaws.com", 0.25, """
        LookupEvents DescribeTrails GetTrailStatus GetEventSelectors GetInsightSelectors ListTrails GetTrail
        ListEventDataStores"""),
    Service("elasticfilesystem", "elasticfilesystem.amazonaws.com", 0.15, """
        DescribeFileSystems DescribeMountTargets DescribeAccessPoints DescribeBackupPolicy
        DescribeLifecycleConfiguration DescribeFileSystemPolicy DescribeMountTargetSecurityGroups
        CreateAccessPoint"""),
    Service("backup", "backup.amazonaws.com", 0.15, """
        ListBackupJobs ListBackupPlans GetBackupPlan ListBackupVaults DescribeBackupVault
        ListRecoveryPointsByBackupVault DescribeBackupJob StartBackupJob"""),
    Service("elasticache", "elasticache.amazonaws.com", 0.2, """
        DescribeCacheClusters DescribeReplicationGroups DescribeCacheSubnetGroups
        DescribeCacheParameterGroups DescribeServerlessCaches DescribeUpdateActions
        DescribeReservedCacheNodes ModifyReplicationGroup"""),
    Service("kinesis", "kinesis.amazonaws.com", 0.15, """
        DescribeStreamSummary ListShards DescribeStreamConsumer ListStreamConsumers RegisterStreamConsumer"""),
    Service("firehose", "firehose.amazonaws.com", 0.1, "DescribeDeliveryStream ListDeliveryStreams UpdateDestination"),
    Service("states", "states.amazonaws.com", 0.4, """
        StartExecution DescribeExecution SendTaskSuccess GetExecutionHistory ListExecutions
        DescribeStateMachine ListStateMachines DescribeStateMachineForExecution"""),
    Service("events", "events.amazonaws.com", 0.3, """
        ListRules DescribeRule ListTargetsByRule DescribeEventBus ListEventBuses ListArchives PutRule
        PutTargets"""),
    Service("scheduler", "scheduler.amazonaws.com", 0.05, """
        ListSchedules GetSchedule ListScheduleGroups CreateSchedule"""),
    Service("access-analyzer", "access-analyzer.amazonaws.com", 0.15, """
        ListAnalyzers GetAnalyzer ListFindingsV2 GetFindingV2 ValidatePolicy ListArchiveRules
        StartResourceScan ListAccessPreviews"""),
    Service("tagging", "tagging.amazonaws.com", 0.2, """
        GetResources GetTagKeys GetTagValues TagResources UntagResources"""),
    Service("health", "health.amazonaws.com", 0.15, """
        DescribeEventAggregates DescribeEventDetails DescribeAffectedEntities DescribeEventTypes
        DescribeEventsForOrganization"""),
    Service("ce", "ce.amazonaws.com", 0.1, """
        GetCostAndUsage GetCostForecast GetDimensionValues GetReservationUtilization
        GetSavingsPlansUtilization GetRightsizingRecommendation GetAnomalies DescribeCostCategoryDefinition""",
            global_=True),
    Service("servicequotas", "servicequotas.amazonaws.com", 0.05, """
        ListServiceQuotas GetServiceQuota ListAWSDefaultServiceQuotas GetAWSDefaultServiceQuota
        ListRequestedServiceQuotaChangeHistory"""),
    Service("acm", "acm.amazonaws.com", 0.15, """
        ListCertificates DescribeCertificate GetCertificate ListTagsForCertificate RequestCertificate"""),
    Service("wafv2", "wafv2.amazonaws.com", 0.15, """
        GetWebACLForResource GetWebACL ListWebACLs ListRuleGroups GetIPSet GetLoggingConfiguration
        ListLoggingConfigurations UpdateIPSet"""),
    Service("codebuild", "codebuild.amazonaws.com", 0.15, """
        BatchGetBuilds BatchGetProjects ListBuildsForProject ListProjects ListBuilds ListReportGroups
        StartBuild"""),
    Service("codepipeline", "codepipeline.amazonaws.com", 0.15, """
        PollForJobs GetPipelineState GetPipeline ListPipelines ListPipelineExecutions GetPipelineExecution
        PutJobSuccessResult"""),
    Service("sagemaker", "sagemaker.amazonaws.com", 0.1, """
        ListNotebookInstances DescribeNotebookInstance ListEndpoints DescribeEndpoint ListTrainingJobs
        DescribeTrainingJob ListModels ListDomains"""),
    Service("redshift", "redshift.amazonaws.com", 0.1, """
        DescribeClusterSnapshots DescribeLoggingStatus GetClusterCredentials DescribeClusterParameters
        DescribeClusterSubnetGroups"""),
    Service("redshift-data", "redshift-data.amazonaws.com", 0.05, """
        ExecuteStatement DescribeStatement GetStatementResult"""),
    Service("inspector2", "inspector2.amazonaws.com", 0.1, """
        BatchGetAccountStatus ListCoverageStatistics GetConfiguration ListFindingAggregations
        BatchGetFindingDetails"""),
    Service("support", "support.amazonaws.com", 0.05, """
        DescribeTrustedAdvisorChecks DescribeTrustedAdvisorCheckResult DescribeCases DescribeSeverityLevels
        RefreshTrustedAdvisorCheck""", global_=True),
    Service("cloudshell", "cloudshell.amazonaws.com", 0.05, """
        CreateEnvironment GetEnvironmentStatus CreateSession DescribeEnvironments"""),
    Service("ram", "ram.amazonaws.com", 0.05, """
        GetResourceShares GetResourceShareAssociations ListResources ListPrincipals
        GetResourceShareInvitations ListResourceTypes"""),
    Service("account", "account.amazonaws.com", 0.03, "GetAlternateContact GetContactInformation ListRegions",
            global_=True),
    Service("compute-optimizer", "compute-optimizer.amazonaws.com", 0.03, """
        GetEnrollmentStatus GetEC2InstanceRecommendations GetRecommendationSummaries"""),
    Service("cognito-idp", "cognito-idp.amazonaws.com", 0.1, """
        ListUserPools DescribeUserPool DescribeUserPoolClient ListUserPoolClients GetUserPoolMfaConfig
        AdminGetUser"""),
    Service("cognito-identity", "cognito-identity.amazonaws.com", 0.1, """
        GetId GetCredentialsForIdentity GetOpenIdToken ListIdentityPools DescribeIdentityPool"""),
    Service("xray", "xray.amazonaws.com", 0.2, "GetSamplingRules GetSamplingTargets GetServiceGraph GetTraceSummaries"),
    Service("application-autoscaling", "application-autoscaling.amazonaws.com", 0.1, """
        DescribeScalableTargets DescribeScalingPolicies DescribeScheduledActions RegisterScalableTarget"""),
    Service("es", "es.amazonaws.com", 0.1, """
        DescribeDomain DescribeDomains ListDomainNames DescribeDomainConfig GetCompatibleVersions ListTags"""),
    Service("ses", "ses.amazonaws.com", 0.05, """
        GetSendQuota ListIdentities GetIdentityVerificationAttributes ListEmailIdentities GetEmailIdentity"""),
)

# The calls that dominate real trails, with their own shares (percent of all events) and actors.
HOT: tuple[tuple[str, str, float, str], ...] = (
    ("sts", "AssumeRole", 11.0, "assume"),
    ("kms", "Decrypt", 18.0, "crypto"),
    ("s3", "GetObject", 4.0, DATA),
    ("kms", "GenerateDataKey", 6.0, "crypto"),
    ("s3", "PutObject", 2.0, DATA),
    ("ec2", "DescribeInstances", 3.0, READ),
    ("s3", "HeadObject", 1.5, DATA),
    ("sts", "GetCallerIdentity", 2.2, READ),
    ("ssm", "GetParameter", 1.8, DATA),
    ("secretsmanager", "GetSecretValue", 1.6, DATA),
    ("ecr", "GetDownloadUrlForLayer", 1.4, DATA),
    ("logs", "CreateLogStream", 1.3, DATA),
    ("ssm", "UpdateInstanceInformation", 1.2, AGENT),
    ("lambda", "Invoke", 1.2, DATA),
    ("ecr", "BatchGetImage", 1.0, DATA),
    ("ecr", "GetAuthorizationToken", 1.0, DATA),
    ("dynamodb", "GetItem", 1.0, DATA),
    ("sts", "AssumeRoleWithWebIdentity", 0.9, "web"),
    ("ecs", "DiscoverPollEndpoint", 0.9, AGENT),
    ("ssm", "ListInstanceAssociations", 0.8, AGENT),
    ("ec2", "DescribeNetworkInterfaces", 0.8, READ),
    ("ec2", "DescribeSecurityGroups", 0.8, READ),
    ("monitoring", "GetMetricData", 1.0, READ),
    ("dynamodb", "Query", 0.8, DATA),
    ("kms", "Encrypt", 1.0, "crypto"),
    ("ec2", "DescribeSubnets", 0.6, READ),
    ("elasticloadbalancing", "DescribeTargetHealth", 0.6, READ),
    ("ssm", "GetParameters", 0.6, DATA),
    ("dynamodb", "PutItem", 0.6, DATA),
    ("ec2", "DescribeVolumes", 0.5, READ),
    ("ec2", "DescribeTags", 0.5, READ),
    ("autoscaling", "DescribeAutoScalingGroups", 0.5, READ),
    ("ec2", "DescribeVpcs", 0.4, READ),
    ("monitoring", "DescribeAlarms", 0.4, READ),
    ("sqs", "ReceiveMessage", 0.4, DATA),
    ("sqs", "SendMessage", 0.3, DATA),
    ("sqs", "DeleteMessage", 0.3, DATA),
    ("ecs", "ListTasks", 0.3, READ),
    ("kms", "GenerateDataKeyWithoutPlaintext", 0.2, "crypto"),
    ("bedrock", "InvokeModel", 0.15, DATA),
    ("sts", "AssumeRoleWithSAML", 0.05, "saml"),
)

# Names made only by agents on instances (SSM, ECS), by people, or by AWS for itself.
_AGENT_CALLS = frozenset({"PutInventory", "PutComplianceItems", "UpdateInstanceAssociationStatus",
                          "GetDeployablePatchSnapshotForInstance", "SubmitTaskStateChange",
                          "SubmitContainerStateChange", "SubmitAttachmentStateChanges", "RegisterContainerInstance"})
_SERVICE_CALLS = frozenset({"PutEvaluations", "BatchImportFindings", "SendTaskSuccess", "SendTaskHeartbeat",
                            "PollForJobs", "AcknowledgeJob", "PutJobSuccessResult", "RecordLifecycleActionHeartbeat",
                            "CompleteLifecycleAction", "GetSamplingRules", "GetSamplingTargets"})
_DATA_CALLS = frozenset({"UpdateItem", "BatchGetItem", "BatchWriteItem", "DeleteItem", "TransactWriteItems",
                         "TransactGetItems", "Scan", "DeleteObject", "DeleteObjects", "CopyObject",
                         "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload",
                         "ListObjects", "GetObjectTagging", "PutObjectTagging", "GetObjectAcl", "GetObjectAttributes",
                         "ListObjectVersions", "ListMultipartUploads", "GetObjectRetention", "RestoreObject",
                         "SelectObjectContent", "Publish", "PublishBatch", "Converse"})
_DATA_SERVICES = frozenset({"s3", "dynamodb", "lambda"})
# Writes that read-only principals never make but that an organization's automation does all day.
_READ_ONLY_WRITES = frozenset({"GenerateServiceLastAccessedDetails", "GenerateCredentialReport", "StartQuery",
                               "StopQuery", "StartLiveTail", "StartQueryExecution", "StopQueryExecution",
                               "StartResourceScan", "CreateToken", "RegisterClient", "StartDeviceAuthorization",
                               "GetRoleCredentials", "Federate", "GenerateRandom", "GenerateMac"})


_CRYPTO = ("Decrypt", "Encrypt", "ReEncrypt", "GenerateDataKey", "Sign", "Verify", "GenerateMac", "VerifyMac")


def is_read_only(name: str) -> bool:
    if name.startswith(_CRYPTO):  # KMS records cryptographic operations as read-only
        return True
    if name in _READ_ONLY_WRITES:
        return name.startswith(("Generate", "GetRole"))
    return name.startswith(_READ_PREFIXES) and not name.startswith(("GenerateDataKey", "GenerateCredential"))


def _actors(service: str, name: str, read_only: bool) -> str:
    if service in ("signin", "sso", "identitystore", "sso-oidc", "cloudshell", "ce", "support"):
        return PERSON
    if name in _AGENT_CALLS:
        return AGENT
    if name in _SERVICE_CALLS:
        return SERVICE
    if name in _DATA_CALLS:
        return DATA
    return READ if read_only else WRITE


def catalog(tail_exponent: float = 1.7) -> list[Api]:
    """Every call with its weight (percent of all events)."""
    by_name = {s.prefix: s for s in SERVICES}
    apis: list[Api] = []
    for prefix, name, share, actors in HOT:
        service = by_name[prefix]
        apis.append(Api(prefix, service.source, name, share, is_read_only(name) or name.startswith("Assume"),
                        prefix in _DATA_SERVICES and actors == DATA, service.global_, actors))
    hot = {(prefix, name) for prefix, name, _, _ in HOT}
    for service in SERVICES:
        names = [n for n in service.names.split() if (service.prefix, n) not in hot]
        assert len(set(names)) == len(names), service.prefix
        ranks = [1.0 / (rank + 1) ** tail_exponent for rank in range(len(names))]
        scale = service.share / sum(ranks)
        for name, rank_weight in zip(names, ranks, strict=True):
            read_only = is_read_only(name)
            actors = _actors(service.prefix, name, read_only)
            data = service.prefix in _DATA_SERVICES and actors == DATA
            apis.append(Api(service.prefix, service.source, name, rank_weight * scale, read_only, data,
                            service.global_, actors))
    return apis
