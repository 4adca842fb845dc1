"""Instance sessions for `instance-credentials-used-elsewhere`: whose they are, where a call came from, which client.

Not a detector: the registry skips modules whose name starts with `_`. What marks a role session as an EC2
instance's, where a call came from (a public address, or the instance's own network), and which clients
are not an SDK running on a server. Every memo key comes from the event: values longer than the limits
below are judged without being remembered.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Final, NamedTuple

from detectors._configured import MAX_ADDRESS_CHARS, Network, address, inside
from detectors._tools import PATTERNS
from monitor.model import Event
from monitor.model.alert import clip
from monitor.model.detector import instance_session

# Tools that name themselves in the user agent (attack tools and audit scanners alike: neither belongs in an
# instance's own calls), from the table scanner-user-agent matches against.
NAMED_TOOLS: Final = PATTERNS
SUSPICIOUS_USER_AGENTS: Final = (
    "mozilla/", "curl/", "wget/", "python-requests/", "python-urllib", "go-http-client/", "postmanruntime/",
    "insomnia/", "okhttp/", "httpie/", "axios/", "node-fetch", *NAMED_TOOLS,
)
WORKSTATION_PLATFORMS: Final = ("darwin/", "os/macos")
# The reason given when a workload's public address is outside AWS's published ranges (`aws_ranges`).
OUTSIDE_AWS: Final = "outside AWS's address ranges"

_INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")
_MAX_ID_CHARS = 128
_MAX_AGENT_CHARS = 1024
# The instance's own side of the network: never a second place. (ipaddress's is_private would also
# swallow the documentation ranges, which are public as far as this detector is concerned.)
_LOCAL_NETWORKS: Final[tuple[Network, ...]] = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "fc00::/7", "fe80::/10", "::1/128",
))


class Place(NamedTuple):
    """Where one call of an instance session came from."""

    session: str  # the session key: account and session ARN (it names role and instance)
    instance: str  # the instance id the session is named after
    place: str  # the public source address, or a client signal ("client: curl/")
    signal: bool  # `place` is a client signal, which tells on its own


def instance_place(event: Event) -> Place | None:
    """The place of a call by an instance's role session; None for other callers and calls without one.

    The place is the public source address; calls from the instance's own side (private addresses, VPC
    endpoints) and calls AWS makes with the role have none. A client signal wins over the address.
    """
    ident = event.userIdentity
    principal_id = ident.principalId
    if not instance_session(ident) or ident.type != "AssumedRole":
        return None  # the engine hands over only these sessions (INSTANCE_SESSION); a direct call may be any
    instance = _instance_of(principal_id)
    if instance is None:
        return None
    found = session_place(event)
    return None if found is None else Place(found[0], instance, found[1], found[2])


def session_place(event: Event) -> tuple[str, str, bool] | None:
    """(session key, place, is a client signal) of a role session's call; None for calls AWS makes with the
    role and calls from the workload's own side (private addresses, VPC endpoints)."""
    if event.eventType == "AwsServiceEvent" or event.userIdentity.invokedBy:
        return None
    source_ip = event.sourceIPAddress
    public = _public(source_ip) if len(source_ip) <= MAX_ADDRESS_CHARS else None
    if public is None:
        return None  # service host names, "AWS Internal", garbage
    signal = client_signal(event.userAgent)
    if signal is None and (not public or event.vpcEndpointId):
        return None  # the workload's own side, where nearly every call of a fleet comes from: nothing to build
    key = session_key(event)
    if key is None:
        return None
    return (key, clip(signal, 200), True) if signal is not None else (key, public, False)


def session_key(event: Event) -> str | None:
    """Account and the session ARN (it names role and instance), else the principalId; None without an account."""
    ident = event.userIdentity
    session = ident.arn or ident.principalId
    account = event.recipientAccountId or ident.accountId
    return f"{account}|{session}" if session and account else None


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
    """The public address a sourceIPAddress is ("" for the workload's own side: private, shared, link-local);
    None when it is no address. ipaddress containment costs about a microsecond per network: decided once per
    distinct value."""
    found = address(source_ip)
    if found is None:
        return None
    return "" if inside(found, _LOCAL_NETWORKS) else str(found)
