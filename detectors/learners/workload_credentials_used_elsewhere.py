"""ECS task and Lambda function role credentials used from somewhere other than their workload.

The instance detector's sibling (`instance-credentials-used-elsewhere` follows EC2 instance sessions).
A task's credentials are served by the ECS agent's endpoint and a function's sit in its environment
variables: code injection or SSRF hands them out, and they keep the workload's session name wherever they
are used (see `_workload_sessions.py` for which sessions are followed). So:

- a client that is not an SDK running in the workload (curl, a browser, an attack tool, an SDK on macOS):
  one call fires, high;
- with AWS's published ranges configured (`rules.aws_ip_ranges_file`, handed over as `aws_ranges`): a
  public address outside them, from the session's first call, high. Tasks and functions call from AWS
  addresses (their public IP, a NAT gateway) or from their VPC;
- an ECS task's session from a second public address within the hour (its first is learned), medium:
  a task has one network interface. A Lambda function's session is shared by all its execution
  environments, each with its own address, so functions (and `workload_roles`) have no such rule, and
  without the ranges only the client signal covers them.

Never counted: private and shared addresses, VPC endpoint calls (`vpcEndpointId`), `instance_networks`
(the CIDRs of egress outside AWS, e.g. an on-premises proxy), AWS services acting with the role.

Params: `workload_roles` (role name or ARN globs whose sessions are workloads: Lambda execution roles not
made by the console, CodeBuild or Batch roles), `instance_networks`, `aws_ranges` (filled by the config
code from the file; a short list of CIDRs also works). `window_seconds` sets the history (3600).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from detectors._aws_ranges import address_in_ranges, ranges_param
from detectors._configured import address_in, string_tuple
from detectors.learners._instance_sessions import OUTSIDE_AWS
from detectors.learners._workload_sessions import ECS_TASK, WorkloadPlace, workload_place
from monitor.model import Detector, Event, FirstSeen, Hit, Severity, keys
from monitor.model.detector import TASK_OR_FUNCTION_SESSION

_ELSEWHERE = "more than one public source IP"
_MEMO_MAX_LENGTH = 1024


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    """Key: the workload's session; value: the call's public address, or its client signal."""
    found = workload_place(event, params.get("workload_roles"))
    if found is None:
        return None
    if found.signal:
        return _hit(found, found.place, True)
    own = params.get("instance_networks")
    if own and address_in(found.place, string_tuple(own)):
        return Hit(key=found.session, value=found.place, quiet=True)  # the workload's own egress
    ranges = ranges_param(params.get("aws_ranges"))
    if ranges is not None and not address_in_ranges(found.place, ranges):
        return _hit(found, OUTSIDE_AWS, True)
    if found.workload.kind != ECS_TASK:
        return None  # a function's environments call from many AWS addresses: no second-address rule
    return _hit(found, _ELSEWHERE, False)


def _hit(found: WorkloadPlace, reason: str, alone: bool) -> Hit:
    if len(found.session) > _MEMO_MAX_LENGTH:
        return _build(found, reason, alone)
    return _memo_build(found, reason, alone)


def _build(found: WorkloadPlace, reason: str, alone: bool) -> Hit:
    # The role, call and user agent are the alert's own fields (principal, event_name, user_agent).
    context = {"workload": found.workload.kind, "workload_name": found.workload.name[:128], "reason": reason}
    if alone:
        return Hit(key=found.session, value=found.place, standalone=True, severity=Severity.HIGH, context=context)
    return Hit(key=found.session, value=found.place, context=context)


# A session calls from one place nearly always: the same Hit serves its calls (the engine copies context).
_memo_build = functools.lru_cache(maxsize=8192)(_build)


def _sessions(params: Mapping[str, Any]) -> frozenset[str]:
    return frozenset({"AssumedRole"}) if params.get("workload_roles") else frozenset({TASK_OR_FUNCTION_SESSION})


DETECTOR = Detector(
    id="workload-credentials-used-elsewhere",
    title="ECS task or Lambda function credentials used elsewhere",
    severity=Severity.MEDIUM,
    mitre=("T1552.005", "T1078.004"),
    runbook=(
        "An ECS task's or a Lambda function's role session (principal; context: workload, workload_name, "
        "reason) was used by a client that is not an SDK in the workload (curl, browser, attack tool, an SDK "
        "on macOS), from an address outside AWS's published ranges (rules.aws_ip_ranges_file), or, for a "
        "task, from a second public IP within the hour: its credentials were probably taken (SSRF against "
        "the task credentials endpoint, code injection reading the function's environment) and used "
        "elsewhere. Check the source IPs and what the calls did (event ids). Contain: revoke the role's "
        "sessions issued before now ('Revoke active sessions'), stop the task or redeploy the function, "
        "investigate the workload's code and dependencies, and restrict the role with aws:SourceVpc / "
        "aws:SourceVpce conditions. Private addresses, VPC endpoint calls, instance_networks and AWS "
        "services acting with the role never count."
    ),
    match=match,
    all_events=True,
    # Task and function sessions, told by their names; with roles listed, every role session.
    identity_types=frozenset({TASK_OR_FUNCTION_SESSION}),
    identity_types_for=_sessions,
    group_by=keys(),
    episode_seconds=3600,
    # A task session's first place is its own (learned); a second within the hour, or a single-call signal alerts.
    state=FirstSeen(label="places", history_seconds=3600, learning_seconds=0, fold_repeats=True),
    params={"workload_roles": [], "instance_networks": [], "aws_ranges": []},
)
