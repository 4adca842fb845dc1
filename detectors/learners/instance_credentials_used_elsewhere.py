"""EC2 instance-role credentials used from somewhere other than their instance.

An instance's role session is named after the instance (`assumed-role/<role>/i-0123...`, principalId
`AROA...:i-0123...`). Credentials stolen from the metadata service (SSRF, a compromised workload) keep
that name wherever they are used, so two things give them away:

- a client that is not an SDK running on a server: a browser, curl, wget, python-requests, Postman, known
  attack tools (`SUSPICIOUS_USER_AGENTS`), or an SDK reporting a workstation platform, macOS
  (`WORKSTATION_PLATFORMS`; suppress by user agent if you run EC2 Mac instances). One such call fires, high.
- a second public source IP for one session within an hour: the instance's own egress (NAT gateway or
  public IP) is learned from the session's first calls, the attacker's address is new. Medium.

The instance's own network never counts as an extra place: private, shared and link-local addresses
(RFC 1918, 100.64/10, IPv6 ULA), calls through a VPC endpoint (`vpcEndpointId`), and the CIDRs in
`instance_networks` (NAT gateway EIPs, the VPC's IPv6 ranges: list them if instances egress through
more than one public address, e.g. dual-stack). Calls AWS services make with the role (a service host
name as the source, `invokedBy`, "AWS Internal") are excluded. Refused calls count: stolen credentials
probing for permissions are as telling as successful ones.

Credentials can be used for any call, so this detector sees every event. It is a first-seen detector
with a one-hour history per session: a profile (one call per event, bailing out on a plain substring
test of principalId, ":i-") names the session's place (its public address) or client signal, the
engine remembers them, and `match` runs only for a place or signal new to the session.

Params:
- `instance_networks` (list of CIDRs that belong to the instances' own egress; never counted as elsewhere).
- `count_source_ips` (default true); false keeps only the single-call client signal.
The user-agent lists are constants, not params: the profile sees only the event. `window_seconds` sets the
history (3600).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._configured import address_in, string_tuple
from detectors._instance import _instance_of, instance_place, is_client_signal, session_key
from detectors._profile import PLACE, SESSION, profile
from monitor.model import Detector, Event, FirstSeen, Hit, Severity


def _place_of(event: Event) -> tuple[str, str] | None:
    ident = event.get("userIdentity")
    if type(ident) is not dict or ident.get("type") != "AssumedRole":
        return None
    return instance_place(event, ident)


def place(event: Event) -> str | None:
    row = _place_of(event)
    return None if row is None else row[1]


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    """The verdict on a place or signal new to the session (the engine calls it for those only)."""
    row = _place_of(event)
    if row is None:
        return None
    ident = event["userIdentity"]  # the profile checked it is an instance session's identity
    instance = _instance_of(ident["principalId"])
    if is_client_signal(row[1]):
        # The role, call and user agent are the alert's own fields (principal, event_name, user_agent).
        return Hit(severity=Severity.HIGH, context={"instance_id": instance, "reason": row[1]})
    if params.get("count_source_ips") is False:
        return None
    own = params.get("instance_networks")
    if own and address_in(row[1], string_tuple(own)):
        return None
    return Hit(context={"instance_id": instance, "reason": "more than one public source IP"})


def group(event: Event) -> str | None:
    ident = event.get("userIdentity")
    return session_key(event, ident) if type(ident) is dict else None


DETECTOR = Detector(
    id="instance-credentials-used-elsewhere",
    title="EC2 instance credentials used elsewhere",
    severity=Severity.MEDIUM,
    mitre=("T1552.005", "T1078.004"),
    runbook=(
        "An EC2 instance's role session (principal; context: instance id, reason) was used by a client that is "
        "not an SDK "
        "on a server (browser, curl, attack tool, an SDK on macOS) or from more than one public IP within an "
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
    group_by=group,
    episode_seconds=3600,
    # A session's first place is its own (learned); a second within the hour, or any client signal, alerts.
    first_seen=FirstSeen(value=place, label="places", history_seconds=3600, learning_seconds=0,
                         alert_first=is_client_signal, fold_repeats=True, profile=profile, key_at=SESSION,
                         value_at=PLACE),
    params={"instance_networks": [], "count_source_ips": True},
)
