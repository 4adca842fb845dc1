"""attack-sequence: one incident per actor whose alerts and signals, across its keys and sessions, tell a story.

The engine carries the sequence out (`Sequences` state: monitor/engine/kinds/sequence.py); this module holds
the part that reads events, the linking rule. It runs only on the calls that hand out credentials and says
who got them from whom: an access key created by A is A's, a role session assumed with A's credentials is
A's, session and federation tokens are their caller's. Its Hits never alert on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import aws_own
from monitor.model import Detector, Event, Hit, Sequences, Severity, keys
from monitor.model import event as f
from monitor.model.alert import clip
from monitor.model.issued import NO_IDENTITY, NO_KEY, issued

_ASSUME = {"AssumeRole": "assumed the role with its credentials",
           "AssumeRoleWithSAML": "assumed the role through SAML",
           "AssumeRoleWithWebIdentity": "assumed the role with a web identity token"}
_TOKENS = {"GetSessionToken": "session token from its key", "GetFederationToken": "federation token from its key"}


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode or event.userIdentity.type == "AWSService" or aws_own(event):
        return None  # most AssumeRole calls are services taking their roles: out before anything is decoded
    name = event.eventName
    response = issued(event)
    links: list[list[str]] = []  # [kind ("key" or "session"), identifier, the identity it belongs to, how]
    if name == "CreateAccessKey":
        created = response.accessKey or NO_KEY
        key_id, user = clip(created.accessKeyId, 256), clip(created.userName, 256)
        if key_id:
            account = f.account(event)
            owner = f"arn:aws:iam::{account}:user/{user}" if user and account else f.principal(event)
            links.append(["key", key_id, owner, "created the access key"])
    elif name in _ASSUME:
        session = clip((response.assumedRoleUser or NO_IDENTITY).arn, 256)
        key_id = clip((response.credentials or NO_KEY).accessKeyId, 256)
        how = _ASSUME[name]
        raw = event.requestParameters  # decoded only when it names a sourceIdentity (rare)
        source_identity = (f.nested_text(event.request(), "sourceIdentity")
                           if raw and b"sourceIdentity" in memoryview(raw).tobytes() else "")
        if source_identity:
            how += f" (sourceIdentity {clip(source_identity, 64)})"
        if event.sessionCredentialFromConsole == "true":
            how += " from a console session"
        # Every call of the session names its key: the key is the link (the session ARN only without one).
        if key_id:
            links.append(["key", key_id, session or f.principal(event), how])
        elif session:
            links.append(["session", session, session, how])
    elif name in _TOKENS:
        key_id = clip((response.credentials or NO_KEY).accessKeyId, 256)
        federated = clip((response.federatedUser or NO_IDENTITY).arn, 256)
        owner = federated or f.principal(event)
        if key_id:
            links.append(["key", key_id, owner, _TOKENS[name]])
        elif federated:
            links.append(["session", federated, federated, _TOKENS[name]])
    if not links:
        return None
    # The caller (a federated one without an ARN by its subject): the engine links the new credentials to
    # the actor behind it.
    actor = clip(f.principal(event), 256)
    return Hit(key=actor, context={"links": links})


DETECTOR = Detector(
    id="attack-sequence",
    title="Attack sequence",
    severity=Severity.CRITICAL,
    mitre=("T1078.004",),
    runbook=(
        "One actor's alerts and signals, followed across the access keys it created and the role sessions it "
        "assumed, span several ATT&CK tactics (or follow a known attack sequence) within a day. Read the "
        "timeline and the narrative in the context: the identities list says how each key and session was "
        "linked to the actor. Treat the actor as compromised until shown otherwise: deactivate the access keys "
        "and revoke the role sessions listed, then check every change in the timeline (keys, policies, "
        "logging, shared snapshots). `trailsentry explain` prints the timeline as a table."
    ),
    match=match,
    events=frozenset({("iam.amazonaws.com", "CreateAccessKey"), ("sts.amazonaws.com", "AssumeRole"),
                      ("sts.amazonaws.com", "AssumeRoleWithSAML"), ("sts.amazonaws.com", "AssumeRoleWithWebIdentity"),
                      ("sts.amazonaws.com", "GetSessionToken"), ("sts.amazonaws.com", "GetFederationToken")}),
    group_by=keys(),
    state=Sequences(),
    params={"sequences": None, "extra_sequences": []},
)
