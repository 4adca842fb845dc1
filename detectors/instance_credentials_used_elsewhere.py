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

import functools
import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Final

from detectors._configured import MAX_ADDRESS_CHARS, Network, address, address_in, inside, string_tuple
from detectors.scanner_user_agent import DEFAULT_USER_AGENTS as OFFENSIVE_TOOLS
from monitor.model import Detector, Event, FirstSeen, Hit, Severity
from monitor.model.alert import clip

SUSPICIOUS_USER_AGENTS: Final = (
    "mozilla/", "curl/", "wget/", "python-requests/", "python-urllib", "go-http-client/", "postmanruntime/",
    "insomnia/", "okhttp/", "httpie/", "axios/", "node-fetch", *OFFENSIVE_TOOLS,
)
WORKSTATION_PLATFORMS: Final = ("darwin/", "os/macos")

_INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")
# Memo keys come from the event: values longer than these are judged without being remembered.
_MAX_ID_CHARS = 128
_MAX_AGENT_CHARS = 1024
# The instance's own side of the network: never a second place. (ipaddress's is_private would also
# swallow the documentation ranges, which are public as far as this detector is concerned.)
_LOCAL_NETWORKS: Final[tuple[Network, ...]] = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "fc00::/7", "fe80::/10", "::1/128",
))


def instance_session(event: Event) -> str | None:
    """The instance id a role session is named after, or None; the cheap test runs first."""
    ident = event.get("userIdentity")
    if type(ident) is not dict or ident.get("type") != "AssumedRole":
        return None
    principal_id = ident.get("principalId")
    if type(principal_id) is not str or ":i-" not in principal_id:
        return None
    return _instance_of(principal_id)


def _instance_of(principal_id: str) -> str | None:
    # A role id and an instance id are about 40 characters; a longer value is neither parsed nor remembered.
    return _instance_in(principal_id) if len(principal_id) <= _MAX_ID_CHARS else None


@functools.lru_cache(maxsize=8192)
def _instance_in(principal_id: str) -> str | None:
    # A fleet has as many of these as running instances: parse each once.
    session = principal_id.rsplit(":", 1)[-1]
    return session if _INSTANCE_ID.fullmatch(session) else None


def client_signal(agent: str) -> str | None:
    """Why this user agent is not an SDK running on an instance, or None."""
    # A fleet has few distinct agents: remember them, but never an oversized (hostile) one.
    return _client_signal(agent) if len(agent) <= _MAX_AGENT_CHARS else _client_signal.__wrapped__(agent)


@functools.lru_cache(maxsize=4096)
def _client_signal(agent: str) -> str | None:
    lowered = agent.lower()
    for needle in SUSPICIOUS_USER_AGENTS:
        if needle in lowered:
            return f"client: {needle}"
    for needle in WORKSTATION_PLATFORMS:
        if needle in lowered:
            return f"workstation platform: {needle}"
    return None


@functools.lru_cache(maxsize=8192)
def _public(source_ip: str) -> str | None:
    # ipaddress containment costs about a microsecond per network: decide once per distinct address.
    found = address(source_ip)
    return None if found is None or inside(found, _LOCAL_NETWORKS) else str(found)




def is_client_signal(value: str) -> bool:
    """A profile value naming a client signal ("client: curl/"), not an address (which has no ": ")."""
    return ": " in value


def profile(event: Event) -> tuple[str | None, ...] | None:
    """(session key, place or client signal) of an instance session's call; None for everything else.

    The place is the public source address; calls from the instance's own side (private addresses, VPC
    endpoints) and calls AWS makes with the role have none. A client signal wins over the address.
    """
    ident = event.get("userIdentity")
    if type(ident) is not dict or ident.get("type") != "AssumedRole":
        return None
    principal_id = ident.get("principalId")
    if type(principal_id) is not str or ":i-" not in principal_id or _instance_of(principal_id) is None:
        return None
    if event.get("eventType") == "AwsServiceEvent" or ident.get("invokedBy"):
        return None
    source_ip = event.get("sourceIPAddress")
    if type(source_ip) is not str or len(source_ip) > MAX_ADDRESS_CHARS or address(source_ip) is None:
        return None  # service host names, "AWS Internal", garbage
    key = group(event)
    if key is None:
        return None
    agent = event.get("userAgent")
    signal = client_signal(agent) if type(agent) is str else None
    if signal is not None:
        return (key, clip(signal, 200))
    if event.get("vpcEndpointId"):
        return None
    public = _public(source_ip)
    return None if public is None else (key, public)


def place(event: Event) -> str | None:
    row = profile(event)
    return None if row is None else row[1]


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    """The verdict on a place or signal new to the session (the engine calls it for those only)."""
    row = profile(event)
    if row is None or row[1] is None:
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
    # The session ARN (it names role and instance), else the principalId.
    ident = event.get("userIdentity")
    if type(ident) is not dict:
        return None
    session = ident.get("arn") or ident.get("principalId")
    account = event.get("recipientAccountId") or ident.get("accountId")
    return f"{account}|{session}" if type(session) is str and type(account) is str else None


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
                         alert_first=is_client_signal, fold_repeats=True, profile=profile, key_at=0, value_at=1),
    params={"instance_networks": [], "count_source_ips": True},
)
