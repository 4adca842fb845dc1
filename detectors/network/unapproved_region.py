"""Resource creation or reconnaissance in a region outside the configured allowlist.

Attackers mine, hide instances and keys, and probe in regions nobody watches. Indexed, not run on every
event: the calls in `REGIONAL_CALLS` are the ones that start something in a region (instances, spot
requests, key pairs, networks and open security groups, functions, containers and clusters, notebooks and
training jobs, model invocations) plus the first recon calls of a client configured for that region. Extend
them with the detector's `extra_events` setting.

- Creating calls fire whether they succeeded or were refused: a denied RunInstances in ap-east-1 (for
  example blocked by a region-deny SCP) still means someone tried to use that region. Context says which.
- Recon reads fire only when they succeeded and were not made by the console (`sessionCredentialFromConsole`
  or a console user agent): the console and scanners sweep every region and get refused in disabled ones.
- Global services (IAM, Organizations, CloudFront, Route 53, support, billing, ...) record us-east-1 or
  another fixed region whatever the caller chose: they never fire, even when added with `extra_events`.
  STS is regional with a global endpoint recorded as us-east-1: an STS call in us-east-1 never fires.
- AWS's own activity (service events, service principals, service-linked roles) is excluded; a resource a
  service such as CloudFormation created for someone counts, recon reads through a service do not.

Params:
- `allowed_regions` (list of region names, e.g. ["eu-west-1", "eu-central-1"]; globs like "eu-*" work).
  Empty (the default): the detector is quiet.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Final

from detectors._common import aws_made, aws_own, call_name
from detectors._configured import matches_any, param, string_tuple
from monitor.model import Detector, Event, Hit, Severity, keys
from monitor.model.alert import clip

# Calls that create, start or open something in the region they are made in.
CREATING_CALLS: Final[Mapping[str, tuple[str, ...]]] = {
    "ec2.amazonaws.com": (
        "RunInstances", "RequestSpotInstances", "RequestSpotFleet", "CreateFleet", "CreateLaunchTemplate",
        "ImportKeyPair", "CreateKeyPair", "CreateVpc", "CreateSubnet", "CreateInternetGateway",
        "CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "CreateImage", "CopyImage", "CopySnapshot",
        "ImportImage", "ImportSnapshot", "AllocateAddress",
    ),
    "lambda.amazonaws.com": ("CreateFunction20150331", "CreateFunction", "CreateFunctionUrlConfig"),
    "ecs.amazonaws.com": ("CreateCluster", "RegisterTaskDefinition", "RunTask", "CreateService"),
    "eks.amazonaws.com": ("CreateCluster", "CreateNodegroup"),
    "sagemaker.amazonaws.com": ("CreateNotebookInstance", "CreateTrainingJob", "CreateEndpoint", "CreateProcessingJob"),
    "bedrock.amazonaws.com": ("InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream"),
    "lightsail.amazonaws.com": ("CreateInstances", "CreateKeyPair", "ImportKeyPair"),
    "batch.amazonaws.com": ("CreateComputeEnvironment", "SubmitJob"),
    "ecr.amazonaws.com": ("CreateRepository",),
    "cloudformation.amazonaws.com": ("CreateStack",),
    "glue.amazonaws.com": ("CreateDevEndpoint", "CreateJob"),
    "apprunner.amazonaws.com": ("CreateService",),
    "amplify.amazonaws.com": ("CreateApp",),
}

# What a client configured for a region asks first; only successful, non-console calls count.
RECON_CALLS: Final[Mapping[str, tuple[str, ...]]] = {
    "ec2.amazonaws.com": ("DescribeInstances", "DescribeVpcs", "DescribeSecurityGroups", "DescribeKeyPairs"),
    "lambda.amazonaws.com": ("ListFunctions20150331", "ListFunctions"),
    "sts.amazonaws.com": ("GetCallerIdentity",),
    "bedrock.amazonaws.com": ("ListFoundationModels",),
}

_RECON: Final = frozenset((source, name) for source, names in RECON_CALLS.items() for name in names)

# Services whose calls are recorded in a fixed region whatever the caller's configuration.
GLOBAL_SOURCES: Final = frozenset({
    "iam.amazonaws.com", "organizations.amazonaws.com", "cloudfront.amazonaws.com", "route53.amazonaws.com",
    "route53domains.amazonaws.com", "support.amazonaws.com", "billingconsole.amazonaws.com",
    "billing.amazonaws.com", "ce.amazonaws.com", "account.amazonaws.com", "health.amazonaws.com",
    "signin.amazonaws.com", "globalaccelerator.amazonaws.com", "shield.amazonaws.com",
    "waf.amazonaws.com", "tax.amazonaws.com", "budgets.amazonaws.com", "networkmanager.amazonaws.com",
    "artifact.amazonaws.com",
})
_STS = "sts.amazonaws.com"


def _approved(region: str, allowed: tuple[str, ...]) -> bool:
    # Region names are short; a hostile long value is judged without being remembered.
    return _remembered(region, allowed) if len(region) <= 64 else matches_any(region, allowed)


@functools.lru_cache(maxsize=256)
def _remembered(region: str, allowed: tuple[str, ...]) -> bool:
    return matches_any(region, allowed)


def _from_console(event: Event) -> bool:
    if event.sessionCredentialFromConsole.lower() == "true":
        return True
    agent = event.userAgent
    return agent.startswith(("console.", "signin.amazonaws.com", "AWS Internal")) or ".console." in agent


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    allowed = string_tuple(param(params, "allowed_regions", []))
    if not allowed:
        return None
    region = event.awsRegion
    if not region or _approved(region, allowed):
        return None
    source = event.eventSource
    if source in GLOBAL_SOURCES or (source == _STS and region == "us-east-1") or aws_own(event):
        return None
    error = event.errorCode or ""
    denied = bool(error)
    if (source, event.eventName) in _RECON and (denied or _from_console(event) or aws_made(event)):
        return None  # a sweep, or a service reading for its caller: not the caller's recon
    return Hit(context={"region": clip(region, 64), "first_call": call_name(event), "denied": denied,
                        "error_code": clip(error, 64)})


DETECTOR = Detector(
    id="unapproved-region",
    title="Activity in an unapproved region",
    severity=Severity.MEDIUM,
    mitre=("T1535",),
    runbook=(
        "A principal created something (instances, keys, functions, clusters, model invocations) or ran its "
        "first recon calls in a region outside `allowed_regions` (context: region, first call, and whether "
        "it was refused). Attackers use unwatched regions for crypto-mining and persistence. Check with the "
        "principal's owner; list what exists in that region (instances, spot requests, key pairs, functions) "
        "and terminate what nobody owns. Contain with a region-deny SCP (aws:RequestedRegion) and revoke the "
        "principal's credentials if the activity is not theirs. A refused call still shows intent. Global "
        "services, STS in us-east-1, console region sweeps and AWS's own activity are excluded."
    ),
    match=match,
    inert=lambda params: not string_tuple(param(params, "allowed_regions", [])),  # quiet until allowed_regions is set
    events=frozenset((source, name) for calls in (CREATING_CALLS, RECON_CALLS)
                     for source, names in calls.items() for name in names),
    group_by=keys("account", "region", "principal"),
    episode_seconds=3600,
    params={"allowed_regions": []},
)
