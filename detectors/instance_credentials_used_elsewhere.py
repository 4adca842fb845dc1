"""EC2 instance-role credentials used from somewhere other than their instance.

An instance's role session is named after the instance (`assumed-role/<role>/i-0123...`, principalId
`AROA...:i-0123...`). Credentials stolen from the metadata service (SSRF, a compromised workload) keep
that name wherever they are used, so two things give them away:

- a client that is not an SDK running on a server: a browser, curl, wget, python-requests, Postman, known
  attack tools (`SUSPICIOUS_USER_AGENTS`), or an SDK reporting a workstation platform, macOS
  (`WORKSTATION_PLATFORMS`; suppress by user agent if you run EC2 Mac instances). One such call fires, high.
- more than one public source IP for one session within an hour (distinct count of 2): the instance's own
  egress (NAT gateway or public IP) plus the attacker's. Medium.

The instance's own network never counts as an extra place: private, shared and link-local addresses
(RFC 1918, 100.64/10, IPv6 ULA), calls through a VPC endpoint (`vpcEndpointId`), and the CIDRs in
`instance_networks` (NAT gateway EIPs, the VPC's IPv6 ranges: list them if instances egress through
more than one public address, e.g. dual-stack). Calls AWS services make with the role (a service host
name as the source, `invokedBy`, "AWS Internal") are excluded. Refused calls count: stolen credentials
probing for permissions are as telling as successful ones.

Credentials can be used for any call, so this is the one catalog detector that sees every event; its
match bails out on a plain substring test of principalId (":i-") before anything else.

Params:
- `instance_networks` (list of CIDRs that belong to the instances' own egress; never counted as elsewhere).
- `count_source_ips` (default true). Counting places makes every instance call from a public address a
  match that the engine's distinct count must record (most of this detector's cost); false keeps only the
  single-call client signal.
The user-agent lists are constants, not params: the engine's distinct counts see only the event, and they
must agree with the match. Leave the engine settings `threshold`/`window_seconds` alone for this detector:
they would apply to the single-call signal's count too.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Final

from detectors._configured import MAX_ADDRESS_CHARS, Network, address, address_in, inside, string_tuple
from detectors.scanner_user_agent import DEFAULT_USER_AGENTS as OFFENSIVE_TOOLS
from monitor.model import Detector, DistinctCount, Event, Hit, Severity
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


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    # Runs on every event. The type test (an interned string) rejects most; principalId is read only for
    # role sessions; an instance's calls repeat the same session, address and agent, so the verdict on
    # them is memoised (Hits are immutable and the engine copies their context).
    ident = event.get("userIdentity")
    if type(ident) is not dict or ident.get("type") != "AssumedRole":
        return None
    principal_id = ident.get("principalId")
    if type(principal_id) is not str or ":i-" not in principal_id:
        return None
    if event.get("eventType") == "AwsServiceEvent" or ident.get("invokedBy"):
        return None  # AWS using the role on the instance's behalf
    source_ip = event.get("sourceIPAddress")
    agent = event.get("userAgent")
    if type(source_ip) is not str or len(source_ip) > MAX_ADDRESS_CHARS:
        return None  # not an address: service host names, "AWS Internal", garbage
    agent = agent if type(agent) is str else ""
    own = params.get("instance_networks")
    judge = _verdict if len(agent) <= _MAX_AGENT_CHARS and len(principal_id) <= _MAX_ID_CHARS else _judge
    return judge(principal_id, source_ip, agent, bool(event.get("vpcEndpointId")), string_tuple(own) if own else (),
                 params.get("count_source_ips") is not False)


def _judge(principal_id: str, source_ip: str, agent: str, via_endpoint: bool, own: tuple[str, ...],
           count_places: bool) -> Hit | None:
    instance = _instance_of(principal_id)
    if instance is None or address(source_ip) is None:
        return None  # not an instance; service host names and "AWS Internal" as the source
    signal = client_signal(agent)
    if signal is None:
        if not count_places or via_endpoint or _public(source_ip) is None or (own and address_in(source_ip, own)):
            return None
        return Hit(context={"instance_id": instance, "reason": "more than one public source IP"})
    # The role, call and user agent are the alert's own fields (principal, event_name, user_agent).
    return Hit(severity=Severity.HIGH, context={"instance_id": instance, "reason": clip(signal, 100)})


_verdict = functools.lru_cache(maxsize=16384)(_judge)


def _signal_value(event: Event) -> str | None:
    # Called only for hits: a hit with a client signal fires on its own (a distinct count of one).
    agent = event.get("userAgent")
    return clip(agent, 300) if type(agent) is str and client_signal(agent) is not None else None


def _place_value(event: Event) -> str | None:
    # Hits with a client signal fired above; the others reached here only from a public place.
    source_ip = event.get("sourceIPAddress")
    if type(source_ip) is not str or len(source_ip) > MAX_ADDRESS_CHARS or event.get("vpcEndpointId"):
        return None
    return _public(source_ip)


def group(event: Event) -> str | None:
    # Called for every hit: the session ARN (it names role and instance), else the principalId.
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
    identity_types=frozenset({"AssumedRole"}),
    group_by=group,
    episode_seconds=3600,
    # The single-call signal first: it fires at once and its reason leads the alert.
    distinct=(DistinctCount(value=_signal_value, count=1, window_seconds=3600, label="user_agents"),
              DistinctCount(value=_place_value, count=2, window_seconds=3600, label="source_ips")),
    params={"instance_networks": [], "count_source_ips": True},
)
