"""Helpers shared by several detectors.

Not a detector: the registry skips modules whose name starts with `_`. Like
the detectors, these are pure functions of one typed event (`monitor.model.Event`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from monitor.model import event as f
from monitor.model.alert import clip
from monitor.model.detector import keys
from monitor.model.event import NO_IDENTITY, Event

SIGNIN = ("signin.amazonaws.com", "ConsoleLogin")

# What `signin_user` and the group keys call a sign-in whose user name CloudTrail hid.
UNKNOWN_USER = "(unknown user)"
ROOT_USER = "root"

# errorMessage values of a failed ConsoleLogin, for records whose responseElements is null.
_FAILED_SIGNIN_MESSAGES = frozenset({"Failed authentication", "No username found in supplied account"})

# Identity types of people signing in or calling with their own credentials (not roles, not federation).
PERSON_TYPES = frozenset({"IAMUser", "Root"})


def aws_made(event: Event) -> bool:
    """AWS itself made the call: a service, a service-linked role, log delivery, "AWS Internal/<n>"."""
    return f.is_aws_service_activity(event)


def identified(event: Event) -> bool:
    """The record names a caller: stripped or hand-made exports carry no userIdentity at all."""
    return event.userIdentity != NO_IDENTITY


def changed_by_someone(event: Event) -> bool:
    """A successful call by an identified principal, not by AWS itself (nobody to ask or contain otherwise)."""
    return not event.errorCode and identified(event) and not aws_made(event)


def human_change(event: Event) -> bool:
    """A successful call by a caller of a known identity type, that AWS did not make on its own behalf.

    A record without a userIdentity type (console captures, hand-made exports) names no one to ask about
    the change, so it is left out.
    """
    return not event.errorCode and bool(event.userIdentity.type) and not aws_made(event)


def console_login_outcome(event: Event) -> str:
    """responseElements.ConsoleLogin ("Success", "Failure"), or "" when absent."""
    return f.nested_text(event.response(), "ConsoleLogin")


def console_login_failed(event: Event, outcome: str | None = None) -> bool:
    """A failed console sign-in; `outcome` is `console_login_outcome(event)` when the caller read it already."""
    if outcome is None:
        outcome = console_login_outcome(event)
    if outcome:
        return outcome == "Failure"
    return event.errorMessage in _FAILED_SIGNIN_MESSAGES


def signin_user(event: Event) -> str | None:
    """Who a console sign-in was for: ROOT_USER, the IAM user name, or None when unknown.

    CloudTrail replaces a user name that does not exist in the account with
    HIDDEN_DUE_TO_SECURITY_REASONS, so such attempts cannot be told apart.
    """
    ident = event.userIdentity
    if ident.type == "Root":
        return ROOT_USER
    if ident.userName in f.HIDDEN_USER_NAMES:
        return None
    return clip(ident.userName or ident.arn, 256) or None


# One actor in one place: account, principal and source IP (an episode of repeated activity).
ACTOR = keys("account", "principal", "source_ip")


def call_name(event: Event) -> str:
    """"iam:CreateUser" style label of the call, for alert context."""
    return clip(f"{event.eventSource.removesuffix('.amazonaws.com')}:{event.eventName}", 160)


def scalar(value: Any) -> str:
    """A short printable form of a scalar request value; "" for objects, lists and null."""
    if type(value) is str:
        return clip(value, 256)
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) in (int, float):
        return str(value)
    return ""


def change_context(event: Event, request: Mapping[str, Any], fields: Iterable[str]) -> dict[str, str]:
    """The call, its region and the named request fields that are present as scalars.

    Newer APIs wrap their parameters as {"XxxRequest": {"PascalCase": ...}}: those are read camelCased.
    """
    flat = dict(request)
    for key, value in request.items():
        if type(key) is str and key.endswith("Request") and type(value) is dict:
            for inner, item in value.items():
                if type(inner) is str and inner:
                    flat.setdefault(inner[0].lower() + inner[1:], item)
    found = {"call": call_name(event), "region": clip(event.awsRegion, 64)}
    for name in fields:
        value = scalar(flat.get(name))
        if value:
            found[name] = value
    return found
