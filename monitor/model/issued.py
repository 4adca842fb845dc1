"""What a credential-issuing call's response says was issued: the access key (and its user), the role session
or federated user. CreateAccessKey, AssumeRole*, GetSessionToken and GetFederationToken write them.

Decoded from the raw response into these few fields only: the rest (a session token is most of a response) is
skipped without being built. A response of unexpected types is read field by field from its plain JSON, so a
hostile one gives empty fields, never an error.
"""

from __future__ import annotations

from typing import Any

import msgspec

from monitor.model.event import Event, nested_text


class IssuedKey(msgspec.Struct, frozen=True, gc=False):
    accessKeyId: str = ""
    userName: str = ""


class IssuedIdentity(msgspec.Struct, frozen=True, gc=False):
    arn: str = ""


class Issued(msgspec.Struct, frozen=True, gc=False):
    accessKey: IssuedKey | None = None  # CreateAccessKey
    credentials: IssuedKey | None = None  # AssumeRole*, GetSessionToken, GetFederationToken
    assumedRoleUser: IssuedIdentity | None = None
    federatedUser: IssuedIdentity | None = None


NOTHING = Issued()
NO_KEY = IssuedKey()
NO_IDENTITY = IssuedIdentity()
_DECODER = msgspec.json.Decoder(Issued | None)


def issued(event: Event) -> Issued:
    """The credentials the event's response names (fields left empty when it names none)."""
    raw = event.responseElements
    if not raw:
        return NOTHING
    try:
        return _DECODER.decode(raw) or NOTHING
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        pass
    plain = event.response()
    return Issued(accessKey=_key(plain.get("accessKey")), credentials=_key(plain.get("credentials")),
                  assumedRoleUser=IssuedIdentity(_text(plain.get("assumedRoleUser"), "arn")),
                  federatedUser=IssuedIdentity(_text(plain.get("federatedUser"), "arn")))


def _key(obj: Any) -> IssuedKey:
    return IssuedKey(_text(obj, "accessKeyId"), _text(obj, "userName"))


def _text(obj: Any, key: str) -> str:
    return nested_text(obj, key) if type(obj) is dict else ""
