"""Helpers of `instance-credentials-used-elsewhere`, shared with the learners' profile (detectors/_profile.py).

Not a detector: the registry skips modules whose name starts with `_`. What marks a role session as an EC2
instance's, where a call came from (a public address, or the instance's own network), and which clients
are not an SDK running on a server.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any, Final

from detectors._configured import MAX_ADDRESS_CHARS, Network, address, inside
from detectors.scanner_user_agent import DEFAULT_USER_AGENTS as OFFENSIVE_TOOLS
from monitor.model import Event
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


def instance_place(event: Event, ident: dict[str, Any]) -> tuple[str, str] | None:
    """(session key, place or client signal) of a call by an AssumedRole identity; None unless it is an
    instance session's call with one.

    The place is the public source address; calls from the instance's own side (private addresses, VPC
    endpoints) and calls AWS makes with the role have none. A client signal wins over the address.
    """
    principal_id = ident.get("principalId")
    if type(principal_id) is not str or ":i-" not in principal_id or _instance_of(principal_id) is None:
        return None
    if event.get("eventType") == "AwsServiceEvent" or ident.get("invokedBy"):
        return None
    source_ip = event.get("sourceIPAddress")
    if type(source_ip) is not str or len(source_ip) > MAX_ADDRESS_CHARS or address(source_ip) is None:
        return None  # service host names, "AWS Internal", garbage
    key = session_key(event, ident)
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


def session_key(event: Event, ident: dict[str, Any]) -> str | None:
    """Account and the session ARN (it names role and instance), else the principalId."""
    session = ident.get("arn") or ident.get("principalId")
    account = event.get("recipientAccountId") or ident.get("accountId")
    return f"{account}|{session}" if type(session) is str and type(account) is str else None
