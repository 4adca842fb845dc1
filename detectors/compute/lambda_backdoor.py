"""A Lambda function opened to "*" or another account, given a foreign layer, or its code replaced.

- AddPermission letting "*" or another account's principal invoke the function without a SourceArn,
  SourceAccount or PrincipalOrgID condition: high.
- UpdateFunctionConfiguration adding a layer (or extension) published by another account: high.
- UpdateFunctionCode by a principal that is not a deployer: medium. With `deployers` empty (the default)
  only IAM users and root replacing code are reported (pipelines run as roles); with `deployers` set,
  any principal whose ARN (or role ARN) matches none of the globs is reported.

Params: `deployers` (ARN globs, default empty), `trusted_accounts` (account ids whose principals and
layers are expected, default empty).
CloudTrail names these calls with API versions (AddPermission20150331v2, UpdateFunctionCode20150331v2):
every recorded name is indexed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import changed_by_someone
from detectors._common import ACTOR, call_name
from detectors._fields import account_of, matches_any, short_list, strings
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

LAMBDA = "lambda.amazonaws.com"
_VERSIONS = ("", "20150331", "20150331v2", "20141111")
_ADD_PERMISSION = frozenset(f"AddPermission{v}" for v in _VERSIONS)
_UPDATE_CONFIG = frozenset(f"UpdateFunctionConfiguration{v}" for v in _VERSIONS)
_UPDATE_CODE = frozenset(f"UpdateFunctionCode{v}" for v in _VERSIONS)
_CONDITIONS = ("sourceArn", "sourceAccount", "principalOrgID")


def _function(req: dict[str, Any]) -> str:
    return clip(f.nested_text(req, "functionName"), 256)


def _permission(event: Event, req: dict[str, Any], own: str, trusted: set[str]) -> Hit | None:
    if any(req.get(key) for key in _CONDITIONS):
        return None  # scoped to one source: the documented way to let a service or bucket invoke
    who = f.nested_text(req, "principal").strip()
    other = account_of(who)
    if who != "*" and (not other or other == own or other in trusted):
        return None  # service principals and the account itself
    return Hit(severity=Severity.HIGH, title="Lambda function opened to anyone" if who == "*"
               else "Lambda function opened to another account",
               context={"call": call_name(event), "function": _function(req), "principal": clip(who, 256),
                        "action": clip(f.nested_text(req, "action"), 128),
                        "statement_id": clip(f.nested_text(req, "statementId"), 128),
                        "function_url_auth_type": clip(f.nested_text(req, "functionUrlAuthType"), 32)})


def _layers(event: Event, req: dict[str, Any], own: str, trusted: set[str]) -> Hit | None:
    layers = [layer for layer in strings(req.get("layers")) if account_of(layer)]
    foreign = [layer for layer in layers if account_of(layer) not in (own, *trusted)]
    if not foreign:
        return None
    return Hit(severity=Severity.HIGH, title="Lambda layer from another account added",
               context={"call": call_name(event), "function": _function(req),
                        "foreign_layers": short_list(foreign, limit=256)})


def _principal_arns(event: Event) -> list[str]:
    """The caller's ARN and, for a role session, the role's own ARN (what a deployers glob names)."""
    role = event.userIdentity.sessionContext.sessionIssuer.arn
    return [f.principal(event), role] if role else [f.principal(event)]


def _code(event: Event, req: dict[str, Any], deployers: Any) -> Hit | None:
    if strings(deployers):
        if any(matches_any(arn, deployers) for arn in _principal_arns(event)):
            return None
    elif event.userIdentity.type not in f.HUMAN_IDENTITY_TYPES:
        return None
    return Hit(severity=Severity.MEDIUM, title="Lambda code replaced outside the deployment pipeline",
               context={"call": call_name(event), "function": _function(req),
                        "from_s3": clip(f.nested_text(req, "s3Bucket"), 256)})


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not changed_by_someone(event):
        return None
    req = event.request()
    name = event.eventName
    own = f.account(event)
    trusted = set(strings(params.get("trusted_accounts")))
    if name in _ADD_PERMISSION:
        return _permission(event, req, own, trusted)
    if name in _UPDATE_CONFIG:
        return _layers(event, req, own, trusted)
    return _code(event, req, params.get("deployers"))


DETECTOR = Detector(
    id="lambda-backdoor",
    title="Lambda function backdoored",
    severity=Severity.HIGH,
    mitre=("T1546", "T1525", "T1098"),
    runbook=(
        "A function was opened to the world or another account, given a layer from another account, or had "
        "its code replaced outside the pipeline: all ways to keep access or run code inside the account "
        "with the function's role. Check the context (function, principal, layer ARNs) and who made the "
        "change. If not planned: remove the permission statement (RemovePermission with the statement id), "
        "restore the previous layers or code version from the pipeline, review the function's role and "
        "what it invoked since, and the caller's other calls. Calls by AWS services, refused calls, "
        "permissions scoped with SourceArn/SourceAccount/PrincipalOrgID and service principals are not "
        "reported; list pipelines in deployers and partner accounts in trusted_accounts."
    ),
    match=match,
    events=frozenset((LAMBDA, name) for name in _ADD_PERMISSION | _UPDATE_CONFIG | _UPDATE_CODE),
    group_by=ACTOR,
    params={"deployers": [], "trusted_accounts": []},
)
