"""The typed CloudTrail event that detectors and rules read.

Decoding (`monitor.decode`) turns each record into an `Event`: a frozen msgspec struct whose
attributes carry CloudTrail's own field names. Fields CloudTrail always writes as text are `str`
("" when absent), so a detector reads `event.eventName` or `event.userIdentity.arn` without type
checks. The large free-form fields (`requestParameters`, `responseElements`,
`additionalEventData`, `resources`, `serviceEventDetails`, `tlsDetails`, ...) stay raw JSON until a
detector asks for them (`event.request()`): most events are never asked, and not building their
dicts is most of what makes decoding fast.

What comes out of a free-form field is attacker-controlled JSON of any shape: the section accessors
return {} or [] for anything that is not the expected container, and `nested_text` reads a string
from such a dict without trusting its type.

Instances are frozen and never tracked by the cyclic garbage collector (they hold no cycles), so a
batch of a hundred thousand events costs the collector nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
import orjson
from msgspec import Raw, Struct

# A raw field that was absent from the record.
ABSENT = Raw(b"")

# A CloudTrail record as plain JSON data (what generators write and decoding reads).
Record = dict[str, Any]

# Identity types that are people (or can be), as opposed to AWS itself.
HUMAN_IDENTITY_TYPES = frozenset({"IAMUser", "Root"})

# CloudTrail writes these in `userIdentity.userName` for a failed sign-in with
# a user name that does not exist, so the real attempted name is unknown.
HIDDEN_USER_NAMES = frozenset({"HIDDEN_DUE_TO_SECURITY_REASONS"})


class SessionIssuer(Struct, frozen=True, gc=False):
    type: str = ""
    principalId: str = ""
    arn: str = ""
    accountId: str = ""
    userName: str = ""


class SessionAttributes(Struct, frozen=True, gc=False):
    creationDate: str = ""
    mfaAuthenticated: str = ""  # "true" / "false", as CloudTrail writes it


NO_ISSUER = SessionIssuer()
NO_ATTRIBUTES = SessionAttributes()


class SessionContext(Struct, frozen=True, gc=False):
    sessionIssuer: SessionIssuer = NO_ISSUER
    attributes: SessionAttributes = NO_ATTRIBUTES
    webIdFederationData: Raw = ABSENT
    sourceIdentity: str = ""
    ec2RoleDelivery: str = ""
    assumedRoot: str = ""


NO_SESSION = SessionContext()


class UserIdentity(Struct, frozen=True, gc=False):
    type: str = ""
    principalId: str = ""
    arn: str = ""
    accountId: str = ""
    accessKeyId: str = ""
    userName: str = ""
    invokedBy: str = ""
    identityProvider: str = ""
    credentialId: str = ""
    sessionContext: SessionContext = NO_SESSION
    onBehalfOf: Raw = ABSENT
    inScopeOf: Raw = ABSENT


NO_IDENTITY = UserIdentity()


class Event(Struct, frozen=True, gc=False):
    """One CloudTrail record. Unknown top-level keys are ignored; see the module doc for the types."""

    eventVersion: str = ""
    userIdentity: UserIdentity = NO_IDENTITY
    eventTime: str = ""
    eventSource: str = ""
    eventName: str = ""
    awsRegion: str = ""
    sourceIPAddress: str = ""
    userAgent: str = ""
    # Null in some exports, so None is allowed besides absence ("" never means an error).
    errorCode: str | None = None
    errorMessage: str | None = None
    requestParameters: Raw = ABSENT
    responseElements: Raw = ABSENT
    additionalEventData: Raw = ABSENT
    requestID: str = ""
    eventID: str = ""
    readOnly: bool | None = None
    resources: Raw = ABSENT
    eventType: str = ""
    apiVersion: str = ""
    managementEvent: bool | None = None
    recipientAccountId: str = ""
    serviceEventDetails: Raw = ABSENT
    sharedEventID: str = ""
    vpcEndpointId: str = ""
    vpcEndpointAccountId: str = ""
    eventCategory: str = ""
    addendum: Raw = ABSENT
    sessionCredentialFromConsole: str = ""
    edgeDeviceDetails: Raw = ABSENT
    tlsDetails: Raw = ABSENT
    insightDetails: Raw = ABSENT

    def request(self) -> dict[str, Any]:
        """`requestParameters` as an object; {} when absent, null or not an object."""
        return raw_object(self.requestParameters)

    def response(self) -> dict[str, Any]:
        """`responseElements` as an object; {} when absent, null or not an object."""
        return raw_object(self.responseElements)

    def additional(self) -> dict[str, Any]:
        """`additionalEventData` as an object; {} when absent, null or not an object."""
        return raw_object(self.additionalEventData)

    def resource_list(self) -> list[Any]:
        """`resources` as a list; [] when absent, null or not a list."""
        value = raw_value(self.resources)
        return value if type(value) is list else []

    def service_details(self) -> dict[str, Any]:
        """`serviceEventDetails` as an object; {} when absent, null or not an object."""
        return raw_object(self.serviceEventDetails)


# Field names of each struct, for readers that walk a path given as text (custom and Sigma rules).
STRUCT_FIELDS: dict[type, frozenset[str]] = {
    kind: frozenset(kind.__struct_fields__)
    for kind in (Event, UserIdentity, SessionContext, SessionIssuer, SessionAttributes)
}
RAW_FIELDS = frozenset(name for name in Event.__struct_fields__ if isinstance(getattr(Event(), name), Raw))

_EMPTY: dict[str, Any] = {}


def raw_value(raw: Raw) -> Any:
    """The JSON value of a raw field; None when it was absent. Raises nothing for any stored bytes."""
    if not raw:
        return None
    try:
        return orjson.loads(memoryview(raw))
    except orjson.JSONDecodeError:
        pass
    # What orjson refuses but msgspec took: integers past 64 bits. Nesting neither reads is absent.
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None


def raw_object(raw: Raw) -> dict[str, Any]:
    value = raw_value(raw)
    return value if type(value) is dict else _EMPTY


def nested_text(obj: dict[str, Any], key: str) -> str:
    """A string member of a decoded object, or "" when absent or not a string."""
    value = obj.get(key)
    return value if type(value) is str else ""


def account(event: Event) -> str:
    """The account the event belongs to (the organization member it was recorded in)."""
    return event.recipientAccountId or event.userIdentity.accountId


def user_name(event: Event) -> str:
    """The acting IAM user's name; for roles, the role session issuer's name."""
    ident = event.userIdentity
    return ident.userName or ident.sessionContext.sessionIssuer.userName


def principal(event: Event) -> str:
    """The best available identity: the ARN, else a type-qualified id or name."""
    ident = event.userIdentity
    if ident.arn:
        return ident.arn
    kind = ident.type
    who = ident.userName or ident.principalId or ident.invokedBy or ident.accountId
    if kind and who:
        return f"{kind}:{who}"
    return who or kind or "unknown"


def is_root(event: Event) -> bool:
    return event.userIdentity.type == "Root"


def mfa_authenticated(event: Event) -> bool:
    """True when the caller's session says it was MFA-authenticated."""
    return event.userIdentity.sessionContext.attributes.mfaAuthenticated.lower() == "true"


Answer = TypeVar("Answer")


def per_event(question: Callable[[Event], Answer]) -> Callable[[Event], Answer]:
    """`question`, remembering its answer for the event last asked about.

    Several detectors ask the same question of one event in turn (who the caller is, whether AWS made the
    call); detection runs them one event at a time, so one remembered answer serves them all. The event is
    held until the next one is asked about, so its identity cannot be reused by another.
    """
    last_event: Event | None = None
    last_answer: Any = None

    def ask(event: Event) -> Answer:
        nonlocal last_event, last_answer
        if event is last_event:
            return last_answer  # type: ignore[no-any-return]
        answer = question(event)
        last_event, last_answer = event, answer
        return answer

    ask.__doc__ = question.__doc__
    ask.__name__ = question.__name__
    return ask


@per_event
def is_aws_own_activity(event: Event) -> bool:
    """True when AWS acted for itself: `AwsServiceEvent`, an `AWSService` identity (log delivery, service
    principals) or a service-linked role's session. No one's intent is behind these calls."""
    if event.eventType == "AwsServiceEvent":
        return True
    ident = event.userIdentity
    if ident.type == "AWSService":
        return True
    arn = ident.arn
    return ":assumed-role/AWSServiceRoleFor" in arn or ":role/aws-service-role/" in arn


def calling_service(event: Event) -> str:
    """The AWS service that made the call on the caller's behalf (CloudFormation, Service Catalog, ...): its
    `invokedBy`, else a service host name as `sourceIPAddress`; "" for a direct call.

    Such a call is still the caller's change (a stack can delete a trail), but its address and user agent
    are the service's, not the caller's.
    """
    invoked_by = event.userIdentity.invokedBy
    if invoked_by:
        return invoked_by
    source_ip = event.sourceIPAddress
    return source_ip if source_ip.endswith(".amazonaws.com") else ""


@per_event
def is_aws_service_activity(event: Event) -> bool:
    """True when the call did not come straight from the caller's own network and tool: AWS acting for itself,
    a service calling on the caller's behalf, or a console-internal path ("AWS Internal/<n>").

    For detectors about where and how a caller connects (addresses, user agents, refusals); detectors of
    changes use `is_aws_own_activity`, since a change made through a service is still a change.
    """
    return (is_aws_own_activity(event) or bool(event.userIdentity.invokedBy)
            or is_service_source_ip(event.sourceIPAddress))


def is_service_source_ip(source_ip: str) -> bool:
    # CloudTrail documents the value as "AWS Internal/#" (with a number).
    return source_ip.startswith("AWS Internal") or source_ip.endswith(".amazonaws.com")


def to_record(event: Struct) -> dict[str, Any]:
    """The event (or one of its nested structs) as plain JSON data, raw fields decoded and empty fields left
    out, for rules that search a whole record or read a path that ends at a struct."""
    return _plain(event)  # type: ignore[no-any-return]


def _plain(value: Any) -> Any:
    if isinstance(value, Raw):
        return raw_value(value)
    if isinstance(value, Struct):
        found: dict[str, Any] = {}
        for name in value.__struct_fields__:
            item = getattr(value, name)
            if item is None or item == "" or (isinstance(item, Raw) and not item):
                continue
            plain = _plain(item)
            if plain is not None and plain != {}:
                found[name] = plain
        return found
    return value


def event_from_record(record: dict[str, Any]) -> Event:
    """A typed event from one plain record whose fields already have the right types (tests, samples).

    Decoding real input goes through `monitor.decode`, which also copes with wrong types.
    """
    return msgspec.json.decode(orjson.dumps(record), type=Event)
