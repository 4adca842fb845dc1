"""A principal asking who it is and what credentials exist: the first calls made with stolen keys.

GetCallerIdentity, GetAccessKeyInfo, listing access keys, signing certificates, SSH keys and
service-specific credentials, the account's authorization details, summary and credential report, and
an IAM user reading its own user, groups and policies ("what can I do?"). A signal, not an alert: admins
and tools make these calls too; it matters as a step of an attack sequence.

GetCallerIdentity is counted only for IAM users and root (long-term keys, the usual stolen credential):
role sessions of workloads, Terraform and SDKs check their identity all day, and a role session used
from elsewhere is what `instance-credentials-used-elsewhere` and `workload-credentials-used-elsewhere`
look for. Console pages and calls AWS or a service made are left out. One signal per actor (account,
principal, source IP) per hour.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from detectors._common import ACTOR, PERSON_TYPES
from detectors.signals._caller import direct_caller, from_console, short_call
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

_IAM = "iam.amazonaws.com"
_STS = "sts.amazonaws.com"

# Calls that enumerate credentials or the account's identities, whoever they name.
ALWAYS: Final = frozenset({
    (_STS, "GetAccessKeyInfo"),
    (_IAM, "ListAccessKeys"), (_IAM, "ListSigningCertificates"), (_IAM, "ListSSHPublicKeys"),
    (_IAM, "ListServiceSpecificCredentials"), (_IAM, "GetAccountAuthorizationDetails"),
    (_IAM, "GetAccountSummary"), (_IAM, "GetCredentialReport"),
})
# Calls that are discovery when an IAM user points them at itself (no userName, or its own).
ON_ONESELF: Final = frozenset({
    (_IAM, "GetUser"), (_IAM, "ListAttachedUserPolicies"), (_IAM, "ListUserPolicies"),
    (_IAM, "ListGroupsForUser"),
})
WHO_AM_I: Final = (_STS, "GetCallerIdentity")


def _on_oneself(event: Event) -> bool:
    named = event.request().get("userName")
    if named is None:
        return True  # the caller's own user
    return type(named) is str and named == event.userIdentity.userName


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    call = (event.eventSource, event.eventName)
    person = event.userIdentity.type in PERSON_TYPES
    if call == WHO_AM_I:
        if not person:
            return None  # role sessions ask who they are all day
    elif call in ON_ONESELF:
        if event.userIdentity.type != "IAMUser" or not _on_oneself(event):
            return None  # reading another user is recon (recon-burst), not a look at one's own credentials
    elif call not in ALWAYS:
        return None
    if direct_caller(event) is None or from_console(event):
        return None
    target = event.request().get("userName")
    return Hit(context={
        "call": short_call(event),
        "target_user": clip(target, 128) if type(target) is str else "",
        "denied": bool(event.errorCode),
        "access_key": clip(event.userIdentity.accessKeyId, 32),
        "identity_type": clip(event.userIdentity.type, 32),
        "account": clip(f.account(event), 32),
    })


DETECTOR = Detector(
    id="credential-discovery",
    title="Credential and identity discovery",
    severity=Severity.LOW,
    mitre=("T1087.004", "T1069.003", "T1033"),
    runbook=(
        "A signal, not sent anywhere on its own: a principal asked who it is or listed credentials and "
        "identities (GetCallerIdentity with a long-term key, ListAccessKeys, GetAccountAuthorizationDetails, "
        "its own policies...). Stolen keys are tried this way first; so are new laptops and scripts. It "
        "matters with what follows: look at the attack-sequence alert it belongs to, if any, or at the "
        "principal's next calls from the same address."
    ),
    match=match,
    events=frozenset({WHO_AM_I, *ALWAYS, *ON_ONESELF}),
    group_by=ACTOR,
    episode_seconds=3600,
    signal=True,
)
