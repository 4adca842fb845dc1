"""EC2 instance-role credentials used from somewhere other than their instance.

An instance's role session is named after the instance (`assumed-role/<role>/i-0123...`, principalId
`AROA...:i-0123...`). Credentials stolen from the metadata service (SSRF, a compromised workload) keep
that name wherever they are used, so two things give them away:

- a client that is not an SDK running on a server: a browser, curl, wget, python-requests, Postman, known
  attack tools (`SUSPICIOUS_USER_AGENTS`), or an SDK reporting a workstation platform, macOS
  (`WORKSTATION_PLATFORMS`; suppress by user agent if you run EC2 Mac instances). One such call fires, high.
- with AWS's published ranges configured (`rules.aws_ip_ranges_file`, handed over as `aws_ranges`): a
  public address outside them, from the session's first call on, whatever came first. High. An
  instance's own egress (NAT gateway, public IP) is always inside AWS; list other egress (an on-premises
  proxy reached over Direct Connect) in `instance_networks`.
- a second public source IP for one session within an hour: the instance's own egress (NAT gateway or
  public IP) is learned from the session's first calls, the attacker's address is new. Medium. Without
  the ranges this is the only address rule, and an attacker whose call comes first is learned as the
  session's own; with them, it still catches an attacker calling from inside AWS (their own instance).

The instance's own network never counts as an extra place: private, shared and link-local addresses
(RFC 1918, 100.64/10, IPv6 ULA), calls through a VPC endpoint (`vpcEndpointId`), and the CIDRs in
`instance_networks` (NAT gateway EIPs, the VPC's IPv6 ranges: list them if instances egress through
more than one public address, e.g. dual-stack). Calls AWS services make with the role (a service host
name as the source, `invokedBy`, "AWS Internal") are excluded. Refused calls count: stolen credentials
probing for permissions are as telling as successful ones.

Credentials can be used for any call, so this detector sees every role session's call
(`identity_types`); `match` leaves at a plain substring test of principalId (":i-") for every session
not named after an instance. For an instance session's call it gives the session key and the call's
place (its public address) or client signal; the engine remembers them for an hour and alerts on a
place new to the session, or on any client signal (`standalone`).

Params:
- `instance_networks` (list of CIDRs that belong to the instances' own egress; never counted as elsewhere).
  Calls from them are not places at all (like private addresses), so they are not learned either.
- `count_source_ips` (default true); false keeps only the single-call signals (client, outside AWS).
- `aws_ranges`: AWS's address ranges; the config code fills it from `rules.aws_ip_ranges_file`. A short
  list of CIDRs also works (sample cases); empty (the default) leaves only the learned rule above.
The user-agent lists are constants, not params. `window_seconds` sets the history (3600).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from detectors._aws_ranges import address_in_ranges, ranges_param
from detectors._configured import address_in, string_tuple
from detectors.learners._instance_sessions import OUTSIDE_AWS, Place, instance_place
from monitor.model import Detector, Event, FirstSeen, Hit, Severity, keys
from monitor.model.detector import INSTANCE_SESSION

_ELSEWHERE = "more than one public source IP"
# Longer session keys are judged without being remembered (an ARN is far shorter).
_MEMO_MAX_LENGTH = 1024


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    """Key: the instance session; value: the call's public address, or its client signal (standalone, high)."""
    found = instance_place(event)
    if found is None:
        return None
    if not found.signal:
        counting = params.get("count_source_ips") is not False
        own = params.get("instance_networks")
        if own and address_in(found.place, string_tuple(own)):
            # The instances' own egress: learned as the session's place, never news.
            return _quiet(found) if counting else None
        ranges = ranges_param(params.get("aws_ranges"))
        if ranges is not None and not address_in_ranges(found.place, ranges):
            return _outside(found) if len(found.session) > _MEMO_MAX_LENGTH else _memo_outside(found)
        if not counting:
            return None
    return _hit(found) if len(found.session) > _MEMO_MAX_LENGTH else _memo_hit(found)


def _hit(found: Place) -> Hit:
    # The role, call and user agent are the alert's own fields (principal, event_name, user_agent).
    context = {"instance_id": found.instance, "reason": found.place if found.signal else _ELSEWHERE}
    if found.signal:
        return Hit(key=found.session, value=found.place, standalone=True, severity=Severity.HIGH, context=context)
    return Hit(key=found.session, value=found.place, context=context)


def _outside(found: Place) -> Hit:
    # Outside AWS's published ranges: not the instance, whatever came first. Alone, from the first call.
    context = {"instance_id": found.instance, "reason": OUTSIDE_AWS}
    return Hit(key=found.session, value=found.place, standalone=True, severity=Severity.HIGH, context=context)


def _quiet(found: Place) -> Hit:
    return Hit(key=found.session, value=found.place, quiet=True)


# A session calls from one place nearly always: the same Hit serves all its calls (the engine copies context).
_memo_hit = functools.lru_cache(maxsize=8192)(_hit)
_memo_outside = functools.lru_cache(maxsize=1024)(_outside)


DETECTOR = Detector(
    id="instance-credentials-used-elsewhere",
    title="EC2 instance credentials used elsewhere",
    severity=Severity.MEDIUM,
    mitre=("T1552.005", "T1078.004"),
    runbook=(
        "An EC2 instance's role session (principal; context: instance id, reason) was used by a client that is "
        "not an SDK "
        "on a server (browser, curl, attack tool, an SDK on macOS), from an address outside AWS's published "
        "ranges (when configured: rules.aws_ip_ranges_file), or from more than one public IP within an "
        "hour: its credentials were probably taken from the metadata service and used elsewhere. Check the "
        "instance's own egress IPs (NAT gateway, public IP) against the source IPs in the alert, and what "
        "the outside calls did (event ids). Contain: revoke the role's sessions issued before now (the "
        "console's 'Revoke active sessions' on the role), enforce IMDSv2 on the instance, investigate the "
        "workload for SSRF or compromise, and restrict the role with aws:EC2InstanceSourceVPC / "
        "aws:SourceVpce conditions. VPC endpoint and private-address calls, `instance_networks`, AWS "
        "services acting with the role, and 'AWS Internal' are never counted."
    ),
    match=match,
    all_events=True,
    identity_types=frozenset({INSTANCE_SESSION}),
    group_by=keys(),
    episode_seconds=3600,
    # A session's first place is its own (learned); a second within the hour, or any client signal, alerts.
    state=FirstSeen(label="places", history_seconds=3600, learning_seconds=0, fold_repeats=True),
    params={"instance_networks": [], "count_source_ips": True, "aws_ranges": []},
)
