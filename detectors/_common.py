"""Helpers shared by several detectors.

Not a detector: the registry skips modules whose name starts with `_`. Like
the detectors, these are pure functions of one typed event (`monitor.model.Event`).
"""

from __future__ import annotations

from monitor.model import event as f
from monitor.model.alert import TARGETS, clip, target
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


def aws_own(event: Event) -> bool:
    """AWS acted for itself (`AwsServiceEvent`, a service principal, a service-linked role): never anyone's change.

    A call a service made on someone's behalf (CloudFormation deleting a trail) is not AWS's own: it is
    evaluated, and the engine names the service in the alert (`made_through`).
    """
    return f.is_aws_own_activity(event)


def aws_made(event: Event) -> bool:
    """The call did not come straight from the caller: AWS for itself, a service on the caller's behalf, or a
    console-internal path. Its source address and user agent are not the caller's, so detectors about
    networks, tools and refusals leave it out; detectors of changes use `aws_own`."""
    return f.is_aws_service_activity(event)


def identified(event: Event) -> bool:
    """The record names a caller: stripped or hand-made exports carry no userIdentity at all."""
    return event.userIdentity != NO_IDENTITY


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


def targets(*named: tuple[str, str]) -> dict[str, list[str]]:
    """The context entry naming what the event acted on: `targets(("user", name), ("key", key_id))` gives
    {"targets": ["user:bob", "key:AKIA..."]}; pairs without a value are left out (no entry when none remain).
    An alert folding several events lists every distinct target (`monitor/engine/episodes.py`)."""
    found = [target(kind, value) for kind, value in named if value]
    return {TARGETS: found} if found else {}
