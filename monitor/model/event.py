"""Accessors for CloudTrail events.

Events stay the plain dicts that orjson produces. Every field is optional and
attacker-influenced, so each accessor returns a safe default ("" or an empty
dict) when a key is missing or holds the wrong type.
"""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]

_EMPTY: dict[str, Any] = {}

# Identity types that are people (or can be), as opposed to AWS itself.
HUMAN_IDENTITY_TYPES = frozenset({"IAMUser", "Root"})

# CloudTrail writes these in `userIdentity.userName` for a failed sign-in with
# a user name that does not exist, so the real attempted name is unknown.
HIDDEN_USER_NAMES = frozenset({"HIDDEN_DUE_TO_SECURITY_REASONS"})


def text(event: Event, key: str) -> str:
    """A top-level string field, or "" when absent or not a string."""
    value = event.get(key)
    return value if type(value) is str else ""


def section(event: Event, key: str) -> dict[str, Any]:
    """A top-level object field (requestParameters, responseElements, ...), or {}."""
    value = event.get(key)
    return value if type(value) is dict else _EMPTY


def nested_text(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if type(value) is str else ""


def identity(event: Event) -> dict[str, Any]:
    return section(event, "userIdentity")


def identity_type(event: Event) -> str:
    return nested_text(identity(event), "type")


def is_root(event: Event) -> bool:
    return identity_type(event) == "Root"


def user_name(event: Event) -> str:
    """The acting IAM user's name; for roles, the role session issuer's name."""
    ident = identity(event)
    name = nested_text(ident, "userName")
    if name:
        return name
    issuer = _session_issuer(ident)
    return nested_text(issuer, "userName")


def _session_issuer(ident: dict[str, Any]) -> dict[str, Any]:
    context = ident.get("sessionContext")
    if type(context) is not dict:
        return _EMPTY
    issuer = context.get("sessionIssuer")
    return issuer if type(issuer) is dict else _EMPTY


def account(event: Event) -> str:
    """The account the event belongs to (the organization member it was recorded in)."""
    return text(event, "recipientAccountId") or nested_text(identity(event), "accountId")


def principal(event: Event) -> str:
    """The best available identity: the ARN, else a type-qualified id or name."""
    ident = identity(event)
    arn = nested_text(ident, "arn")
    if arn:
        return arn
    kind = nested_text(ident, "type")
    who = (
        nested_text(ident, "userName")
        or nested_text(ident, "principalId")
        or nested_text(ident, "invokedBy")
        or nested_text(ident, "accountId")
    )
    if kind and who:
        return f"{kind}:{who}"
    return who or kind or "unknown"


def mfa_authenticated(event: Event) -> bool:
    """True when the caller's session says it was MFA-authenticated."""
    context = identity(event).get("sessionContext")
    if type(context) is not dict:
        return False
    attributes = context.get("attributes")
    if type(attributes) is not dict:
        return False
    value = attributes.get("mfaAuthenticated")
    return value is True or (type(value) is str and value.lower() == "true")


def is_aws_service_activity(event: Event) -> bool:
    """True when AWS itself made the call (a service, a service-linked role, log delivery).

    These events carry no human intent: `eventType` AwsServiceEvent, an
    `invokedBy` service, an `AWSService` identity, a service-linked role, or a
    `sourceIPAddress` that is a service host name or "AWS Internal".
    """
    if event.get("eventType") == "AwsServiceEvent":
        return True
    ident = identity(event)
    if ident.get("invokedBy") or ident.get("type") == "AWSService":
        return True
    arn = nested_text(ident, "arn")
    if ":assumed-role/AWSServiceRoleFor" in arn or ":role/aws-service-role/" in arn:
        return True
    return is_service_source_ip(text(event, "sourceIPAddress"))


def is_service_source_ip(source_ip: str) -> bool:
    # CloudTrail documents the value as "AWS Internal/#" (with a number).
    return source_ip.startswith("AWS Internal") or source_ip.endswith(".amazonaws.com")

