"""Logs removed: VPC flow logs, Route 53 Resolver query logging, CloudWatch log groups, S3 access logging,
Bedrock model-invocation logging.

Severity: high for flow logs, resolver query logging, S3 access logging turned off, model-invocation
logging, and log groups (or streams in them) whose name matches `critical_log_groups`; medium for any
other log group deleted. Deleting a log stream is reported only in a critical group (streams rotate).
Params: `critical_log_groups` (case-insensitive globs, default CloudTrail, flow-log and resolver groups).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import changed_by_someone
from detectors._common import ACTOR, call_name
from detectors._fields import matches_any, param, short_list, walk
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

EC2 = "ec2.amazonaws.com"
RESOLVER = "route53resolver.amazonaws.com"
LOGS = "logs.amazonaws.com"
S3 = "s3.amazonaws.com"
BEDROCK = "bedrock.amazonaws.com"
CRITICAL_GROUPS = ["*cloudtrail*", "*flowlog*", "*flow-log*", "*flow_log*", "*vpc-flow*", "*resolver*"]


def _flow_logs(event: Event) -> Hit:
    ids = [v for _, v in walk(event.request()) if type(v) is str and v.startswith("fl-")]
    return Hit(title="VPC flow logs deleted",
               context={"call": call_name(event), "flow_logs": short_list(ids, limit=64)})


def _resolver(event: Event) -> Hit:
    req = event.request()
    return Hit(title="Route 53 Resolver query logging removed",
               context={"call": call_name(event),
                        "query_log_config": clip(f.nested_text(req, "resolverQueryLogConfigId"), 128),
                        "vpc": clip(f.nested_text(req, "resourceId"), 128)})


def _log_group(event: Event, params: Mapping[str, Any]) -> Hit | None:
    req = event.request()
    group = f.nested_text(req, "logGroupName") or f.nested_text(req, "logGroupIdentifier")
    critical = matches_any(group, param(params, "critical_log_groups", CRITICAL_GROUPS), fold=True)
    context = {"call": call_name(event), "log_group": clip(group, 512)}
    if event.eventName == "DeleteLogStream":
        if not critical:
            return None
        context["log_stream"] = clip(f.nested_text(req, "logStreamName"), 512)
        return Hit(severity=Severity.HIGH, title="Log stream deleted from a security log group", context=context)
    if critical:
        return Hit(severity=Severity.HIGH, title="Security log group deleted", context=context)
    return Hit(severity=Severity.MEDIUM, title="CloudWatch log group deleted", context=context)


def _bucket_logging(event: Event) -> Hit | None:
    req = event.request()
    status = req.get("BucketLoggingStatus")
    if type(status) is not dict or status.get("LoggingEnabled"):
        return None  # enabling or changing the target, or a record we cannot read
    return Hit(title="S3 server access logging turned off",
               context={"call": call_name(event), "bucket": clip(f.nested_text(req, "bucketName"), 256)})


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not changed_by_someone(event):
        return None
    source = event.eventSource
    if source == EC2:
        return _flow_logs(event)
    if source == RESOLVER:
        return _resolver(event)
    if source == LOGS:
        return _log_group(event, params)
    if source == S3:
        return _bucket_logging(event)
    return Hit(title="Bedrock model-invocation logging deleted", context={"call": call_name(event)})


DETECTOR = Detector(
    id="logging-deleted",
    title="Logging removed",
    severity=Severity.HIGH,
    mitre=("T1562.008", "T1070"),
    runbook=(
        "Network, DNS, application, access or model-invocation logs were removed: intruders do this to hide "
        "what they do next. Check what was removed (context) and whether a change ticket or a stack deletion "
        "explains it. If not: recreate the flow logs, query logging association, log group or bucket logging "
        "from infrastructure code, review what the caller did before and after, and deny these calls outside "
        "the pipeline with an SCP. Refused calls and AWS's own activity are not reported; a stack "
        "deletion that removes logging is, naming the service (made_through) and the caller it acted for. "
        "Add names of log groups that matter to critical_log_groups."
    ),
    match=match,
    events=frozenset({
        (EC2, "DeleteFlowLogs"),
        (RESOLVER, "DeleteResolverQueryLogConfig"), (RESOLVER, "DisassociateResolverQueryLogConfig"),
        (LOGS, "DeleteLogGroup"), (LOGS, "DeleteLogStream"),
        (S3, "PutBucketLogging"),
        (BEDROCK, "DeleteModelInvocationLoggingConfiguration"),
    }),
    group_by=ACTOR,
    params={"critical_log_groups": CRITICAL_GROUPS},
)
