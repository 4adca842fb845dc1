"""A Lambda function opened to "*" or another account, given a layer, or its code or configuration replaced.

- AddPermission letting "*" or another account's principal invoke the function without a SourceArn,
  SourceAccount or PrincipalOrgID condition: high.
- UpdateFunctionConfiguration adding a layer (or extension) published by another account: high, whoever
  makes the call.
- UpdateFunctionCode, and UpdateFunctionConfiguration setting layers of the function's own account or a
  setting that decides what runs (environment, role, handler, runtime, image config), by a principal that
  is not a deployer: medium. With `deployers` empty (the default) the principals reported are people:
  IAM users, root, IAM Identity Center (`AWSReservedSSO_*`) sessions, federated users, and role sessions
  named after an e-mail address (how SAML federation names them); pipelines run as other roles. With
  `deployers` set, any principal whose ARN (or role ARN) matches none of the globs is reported.
  Memory, timeout or description changes are not reported.

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
from monitor.model.detector import IDENTITY_CENTER_MARK

LAMBDA = "lambda.amazonaws.com"
_VERSIONS = ("", "20150331", "20150331v2", "20141111")
_ADD_PERMISSION = frozenset(f"AddPermission{v}" for v in _VERSIONS)
_UPDATE_CONFIG = frozenset(f"UpdateFunctionConfiguration{v}" for v in _VERSIONS)
_UPDATE_CODE = frozenset(f"UpdateFunctionCode{v}" for v in _VERSIONS)
_CONDITIONS = ("sourceArn", "sourceAccount", "principalOrgID")
# UpdateFunctionConfiguration settings that decide what code runs, and with which rights (besides layers).
_RUNS_CODE = ("environment", "role", "handler", "runtime", "imageConfig")


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


def _foreign_layers(event: Event, req: dict[str, Any], own: str, trusted: set[str]) -> Hit | None:
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


def is_person(event: Event) -> bool:
    """An IAM user, root, an Identity Center or federated user, or a role session named by e-mail (SAML)."""
    ident = event.userIdentity
    kind = ident.type
    if kind in f.HUMAN_IDENTITY_TYPES or kind == "FederatedUser":
        return True
    if kind != "AssumedRole":
        return False
    if IDENTITY_CENTER_MARK in ident.arn:
        return True
    session = ident.arn.rpartition("/")[2] if ident.arn.count("/") >= 2 else ""
    return "@" in session and not f.raw_object(ident.sessionContext.webIdFederationData)


def _outside_pipeline(event: Event, deployers: Any) -> bool:
    if strings(deployers):
        return not any(matches_any(arn, deployers) for arn in _principal_arns(event))
    return is_person(event)


def _code(event: Event, req: dict[str, Any]) -> Hit:
    return Hit(severity=Severity.MEDIUM, title="Lambda code replaced outside the deployment pipeline",
               context={"call": call_name(event), "function": _function(req),
                        "from_s3": clip(f.nested_text(req, "s3Bucket"), 256)})


def _configuration(event: Event, req: dict[str, Any], own: str) -> Hit | None:
    changed = [key for key in _RUNS_CODE if req.get(key) not in (None, "", [], {})]
    # Layers of trusted accounts are expected; the account's own layers can carry anyone's code.
    own_layers = [layer for layer in strings(req.get("layers")) if account_of(layer) == own]
    if own_layers:
        changed.insert(0, "layers")
    if not changed:
        return None  # memory, timeout, description: not what the function runs
    context: dict[str, Any] = {"call": call_name(event), "function": _function(req), "changed": changed}
    if own_layers:
        context["layers"] = short_list(own_layers, limit=256)
    title = ("Lambda layers set outside the deployment pipeline" if "layers" in changed
             else "Lambda configuration changed outside the deployment pipeline")
    return Hit(severity=Severity.MEDIUM, title=title, context=context)


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
        foreign = _foreign_layers(event, req, own, trusted)
        if foreign is not None:
            return foreign
        return _configuration(event, req, own) if _outside_pipeline(event, params.get("deployers")) else None
    return _code(event, req) if _outside_pipeline(event, params.get("deployers")) else None


DETECTOR = Detector(
    id="lambda-backdoor",
    title="Lambda function backdoored",
    severity=Severity.HIGH,
    mitre=("T1546", "T1525", "T1098"),
    runbook=(
        "A function was opened to the world or another account, given a layer from another account, or had "
        "its code, layers or runtime settings (environment, role, handler) replaced outside the pipeline (by a "
        "person, when deployers is empty): all ways to keep access or run code inside the account "
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
