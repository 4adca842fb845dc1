"""A sensitive action attempted and refused: the caller tried to stop logging, leave the organization,
mint credentials for someone else, make a bucket public, launch GPU instances...

The refused call changed nothing, but it says what the caller wanted, and an attacker with weak stolen
credentials is refused before anything succeeds. One table (`ATTEMPTS`) lists the calls whose attempt
alone is worth a look, each with its kind of action (the fold key), its title and its severity: usually
one step below the detector of the successful call. Calls that are sensitive only with some arguments
reuse that detector's own test (a public bucket policy, a trail change that blinds it, an expensive
instance family, an administrator policy, a key for another user).

Refusals counted (`detectors._refusals`): AccessDenied*, *UnauthorizedOperation, UnauthorizedAccess*; for
RunInstances also VcpuLimitExceeded, InstanceLimitExceeded, MaxSpotInstanceCountExceeded (quota) and
InsufficientInstanceCapacity (capacity): those launches passed authorisation, so they are reported at the
success's severity. Other errors (NoSuchEntity, validation, throttling, DryRunOperation) are not refusals.
AWS acting for itself and records naming no caller are left out; a service calling on someone's behalf
(CloudFormation) is that someone's attempt. Attempts of one kind by one principal fold for an hour.

Params: `admin_policy_arns` (globs; default AdministratorAccess, IAMFullAccess) raise an attempted
policy attachment to medium; `families`, `min_xlarge`, `metal` as in `expensive-instance-launched`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Final

from detectors._changes import request_targets
from detectors._common import aws_own, call_name, identified
from detectors._fields import strings
from detectors._refusals import PERMISSION, attempted, refusal
from detectors.compute.expensive_instance_launched import DEFAULT_FAMILIES, is_expensive
from detectors.data.s3_bucket_made_public import public_reason
from detectors.identity.admin_policy_attached import DEFAULT_ADMIN_POLICIES
from detectors.logging._trails import TRAIL_STOPS, trail_blinded, trail_name
from detectors.logging.security_service_disabled import CALLS as SECURITY_SERVICE_CALLS
from monitor.model import Detector, Event, Hit, Severity, keys
from monitor.model import event as f
from monitor.model.alert import TARGETS, clip

Request = dict[str, Any]
# What the refused call would have done ("" when nothing more than the call itself), or None when this
# call with these arguments is not sensitive.
Judge = Callable[[Event, Request, Mapping[str, Any]], str | None]


@dataclass(frozen=True, slots=True)
class Attempt:
    kind: str  # part of the fold key: attempts of one kind by one principal are one alert
    title: str  # the successful action's name; the alert says "Attempted: <title> (refused)"
    severity: Severity
    judge: Judge


def _always(event: Event, request: Request, params: Mapping[str, Any]) -> str | None:
    return ""


def _trail(event: Event, request: Request, params: Mapping[str, Any]) -> str | None:
    # The success detector's own test; data-event trails are not configured here, so only stops, deletes
    # and management-event or multi-region blinding count.
    reasons = trail_blinded(event.eventName, request, frozenset())
    if not reasons:
        return None
    trail = trail_name(request)
    return clip(f"{'; '.join(reasons)}{f' ({trail})' if trail else ''}", 300)


def _false(value: object) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _security_service(event: Event, request: Request, params: Mapping[str, Any]) -> str | None:
    # As `security-service-disabled`: these two calls only sometimes turn the service off.
    name = event.eventName
    if name == "UpdateDetector" and not _false(request.get("enable")):
        return None
    if name == "UpdateMacieSession" and f.nested_text(request, "status").upper() != "PAUSED":
        return None
    return ""


def _other_user(event: Event, request: Request, params: Mapping[str, Any]) -> str | None:
    # As `access-key-created` / `login-profile-changed`: a user's own credentials are routine, someone
    # else's are persistence or takeover. A role names no user of its own, so any user is another.
    target = f.nested_text(request, "userName")
    ident = event.userIdentity
    caller = ident.userName if ident.type == "IAMUser" else ""
    if not target or target == caller:
        return None
    return f"for user {clip(target, 128)}"


def _public_bucket(event: Event, request: Request, params: Mapping[str, Any]) -> str | None:
    reason = public_reason(event.eventName, request)
    if reason is None:
        return None
    return clip(f"{reason} ({f.nested_text(request, 'bucketName') or 'account-wide'})", 300)


def _expensive_launch(event: Event, request: Request, params: Mapping[str, Any]) -> str | None:
    # A refused launch has no instances in its response: only the requested type can be judged.
    wanted = f.nested_text(request, "instanceType")
    if not wanted or not is_expensive(wanted, params):
        return None
    return f"instance type {clip(wanted, 64)}"


_PRIVILEGE = "IAM permissions changed"
_PRIVILEGE_CALLS = (
    "PutUserPolicy", "PutGroupPolicy", "PutRolePolicy", "CreatePolicyVersion", "SetDefaultPolicyVersion",
    "UpdateAssumeRolePolicy", "AddUserToGroup",
)
_ATTACH_CALLS = ("AttachUserPolicy", "AttachGroupPolicy", "AttachRolePolicy")

_IAM = "iam.amazonaws.com"
_ORGS = "organizations.amazonaws.com"


def _table() -> dict[tuple[str, str], Attempt]:
    table: dict[tuple[str, str], Attempt] = {}
    logging = Attempt("logging", "CloudTrail logging stopped or blinded", Severity.MEDIUM, _trail)
    for name in (*sorted(TRAIL_STOPS), "UpdateTrail", "PutEventSelectors"):
        table[("cloudtrail.amazonaws.com", name)] = logging
    org_exit = Attempt("organization", "account left the organization or its guardrails removed",
                       Severity.MEDIUM, _always)
    for name in ("LeaveOrganization", "RemoveAccountFromOrganization", "DeleteOrganization", "DisablePolicyType"):
        table[(_ORGS, name)] = org_exit
    scp = Attempt("organization", "service control policy detached or deleted", Severity.LOW, _always)
    for name in ("DetachPolicy", "DeletePolicy"):
        table[(_ORGS, name)] = scp
    tooling = Attempt("security-tooling", "security service disabled", Severity.MEDIUM, _security_service)
    for source, names in SECURITY_SERVICE_CALLS.items():
        for name in names:
            table[(source, name)] = tooling
    for name in ("StopConfigurationRecorder", "DeleteConfigurationRecorder", "DeleteDeliveryChannel"):
        table[("config.amazonaws.com", name)] = Attempt("security-tooling", "AWS Config recording stopped",
                                                        Severity.MEDIUM, _always)
    table[(_IAM, "CreateAccessKey")] = Attempt("credentials", "access key created for another user",
                                               Severity.MEDIUM, _other_user)
    for name in ("CreateLoginProfile", "UpdateLoginProfile"):
        table[(_IAM, name)] = Attempt("credentials", "console password set for another user", Severity.MEDIUM,
                                      _other_user)
    for name in ("DeactivateMFADevice", "DeleteVirtualMFADevice"):
        table[(_IAM, name)] = Attempt("credentials", "MFA device removed", Severity.LOW, _always)
    for name in (*_ATTACH_CALLS, *_PRIVILEGE_CALLS):
        table[(_IAM, name)] = Attempt("privilege", _PRIVILEGE, Severity.LOW, _always)
    for name in ("DisableKey", "ScheduleKeyDeletion"):
        table[("kms.amazonaws.com", name)] = Attempt("keys", "KMS key disabled or scheduled for deletion",
                                                     Severity.LOW, _always)
    public = Attempt("exposure", "S3 bucket made public", Severity.MEDIUM, _public_bucket)
    for name in ("PutBucketPolicy", "PutBucketAcl", "PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock",
                 "PutAccountPublicAccessBlock", "DeleteAccountPublicAccessBlock", "DeletePublicAccessBlock"):
        table[("s3.amazonaws.com", name)] = public
    table[("ec2.amazonaws.com", "RunInstances")] = Attempt("compute", "expensive EC2 instances launched",
                                                           Severity.LOW, _expensive_launch)
    return table


ATTEMPTS: Final[Mapping[tuple[str, str], Attempt]] = _table()


def _admin_policy(request: Request, params: Mapping[str, Any]) -> bool:
    arn = f.nested_text(request, "policyArn").strip()
    patterns = strings(params.get("admin_policy_arns", list(DEFAULT_ADMIN_POLICIES)))
    return bool(arn) and any(fnmatchcase(arn, pattern) for pattern in patterns)


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    name = event.eventName
    why = refusal(event.errorCode, launch=name == "RunInstances")
    if why is None:
        return None  # succeeded (other detectors report it) or failed for a reason that is no refusal
    if aws_own(event) or not identified(event):
        return None  # AWS's own housekeeping; a record naming no caller names no one to ask
    attempt = ATTEMPTS.get((event.eventSource, name))
    if attempt is None:
        return None
    request = event.request()
    detail = attempt.judge(event, request, params)
    if detail is None:
        return None
    severity, title = attempt.severity, attempt.title
    if name in _ATTACH_CALLS and _admin_policy(request, params):
        severity, title = Severity.MEDIUM, "administrator policy attached"
        detail = clip(f.nested_text(request, "policyArn"), 256)
    if why != PERMISSION:
        severity = Severity.MEDIUM  # authorised, only a quota or capacity stopped it: as bad as the launch
    context: dict[str, Any] = {"call": call_name(event), "error_code": clip(event.errorCode or "", 128),
                               "error_message": clip(event.errorMessage or "", 300), "refusal": why,
                               "region": clip(event.awsRegion, 32)}
    if detail:
        context["attempted"] = detail
    named = request_targets(event)
    if named:
        context[TARGETS] = named
    return Hit(severity=severity, title=attempted(title, why), context=context,
               key=f"{f.account(event)}|{f.principal(event)}|{attempt.kind}")


DETECTOR = Detector(
    id="sensitive-action-refused",
    title="Sensitive action attempted and refused",
    severity=Severity.MEDIUM,
    mitre=("T1562.001", "T1562.008", "T1098", "T1666", "T1530", "T1496"),
    runbook=(
        "A principal tried a sensitive action and AWS refused it (context: call, error code and message, "
        "what it would have done): stopping CloudTrail, leaving the organization, disabling a security "
        "service, creating credentials for another user, attaching policies, making a bucket public, "
        "launching GPU or very large instances. Permission refusals mean the caller lacks the right, not the "
        "intent: stolen credentials are often probed this way before something succeeds. Check the "
        "principal, source IP and user agent, and whether a deployment or person was expected to do this. "
        "If not: revoke the credentials or sessions, and review the principal's successful calls around it "
        "(a refusal after a successful escalation may follow). A quota or capacity refusal of an instance "
        "launch means the caller was allowed to launch: treat it as the launch itself."
    ),
    match=match,
    events=frozenset(ATTEMPTS),
    group_by=keys(),
    episode_seconds=3600,
    params={"admin_policy_arns": list(DEFAULT_ADMIN_POLICIES), "families": list(DEFAULT_FAMILIES),
            "min_xlarge": 24, "metal": True},
)
