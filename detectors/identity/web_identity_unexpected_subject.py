"""AssumeRoleWithWebIdentity whose token subject is not allowed for the role (CI and workload federation).

A role trusted by an OIDC provider (GitHub Actions, GitLab, EKS service accounts, ...) is only as narrow as
the `sub` condition of its trust policy. This checks every successful web-identity assumption against the
subjects the deployment expects for that role, so a trust policy that is too broad (any branch, any repo
of the organization, any service account) is seen the first time somebody else uses it.

The subject is `responseElements.subjectFromWebIdentityToken`, else `userIdentity.userName`; the role is
`requestParameters.roleArn`, else the AWS::IAM::Role resource. Refused calls (errorCode) issued no
credentials and are left out: the trust policy did its job.

Params:
- `allowed_subjects` (mapping of role ARN glob -> list of subject globs, fnmatch-style and case-sensitive,
  e.g. {"arn:aws:iam::*:role/deploy-app": ["repo:acme/app:ref:refs/heads/main"]}). A role matched by
  several globs may use the subjects of any of them.
- `unlisted_roles` ("ignore", the default, or "alert"): what to do with a role no glob names.
With no `allowed_subjects` and `unlisted_roles` "ignore" the detector is quiet.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from detectors._common import aws_own
from detectors._configured import matches_any, param, role_arn_from_request, string_tuple
from monitor.model import Detector, Event, Hit, keys
from monitor.model import event as f
from monitor.model.alert import clip
from monitor.model.severity import Severity

Rules = tuple[tuple[str, tuple[str, ...]], ...]


def _frozen(allowed: Any) -> Rules:
    """The mapping param as a hashable tuple; entries that are not role-glob -> subject(s) are ignored."""
    if not isinstance(allowed, Mapping):
        return ()
    return tuple((role, string_tuple(subjects)) for role, subjects in list(allowed.items())[:10_000]
                 if isinstance(role, str) and role.strip())


# Role ARNs and token subjects are a few hundred characters at most; longer ones are judged, not remembered.
_MAX_MEMO_CHARS = 2048


def _verdict(rules: Rules, role: str, subject: str) -> str:
    """"allowed", "unlisted" (no glob names the role) or "unexpected"."""
    if len(role) > _MAX_MEMO_CHARS or len(subject) > _MAX_MEMO_CHARS:
        return _judge(rules, role, subject)
    return _remembered(rules, role, subject)


def _judge(rules: Rules, role: str, subject: str) -> str:
    listed = False
    for role_glob, subjects in rules:
        if matches_any(role, (role_glob,)):
            listed = True
            if subject and matches_any(subject, subjects):
                return "allowed"
    return "unexpected" if listed else "unlisted"


_remembered = functools.lru_cache(maxsize=1024)(_judge)


def subject_of(event: Event, response: dict[str, Any]) -> str:
    """The token's subject: `response` (the responseElements).subjectFromWebIdentityToken, else the user name."""
    subject = f.nested_text(response, "subjectFromWebIdentityToken")
    if subject:
        return subject
    name = event.userIdentity.userName
    return "" if name in f.HIDDEN_USER_NAMES else name


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    """Keyed by account, role and subject: each subject's use of a role is its own episode."""
    if event.errorCode or aws_own(event):
        return None
    rules = _frozen(param(params, "allowed_subjects", {}))
    alert_unlisted = param(params, "unlisted_roles", "ignore") == "alert"
    if not rules and not alert_unlisted:
        return None
    response = event.response()
    role = role_arn_from_request(event, event.request())
    subject = subject_of(event, response)
    verdict = _verdict(rules, role, subject)
    if verdict == "allowed" or (verdict == "unlisted" and not alert_unlisted):
        return None
    provider = f.nested_text(response, "provider") or event.userIdentity.identityProvider
    title = ("Web identity subject not allowed for the role" if verdict == "unexpected"
             else "Web identity assumption of a role with no subject allowlist")
    return Hit(title=title, key=f"{f.account(event)}|{role}|{subject}", context={
        "role_arn": clip(role or "(unknown)", 256), "subject": clip(subject or "(none)", 256),
        "provider": clip(provider, 256), "audience": clip(f.nested_text(response, "audience"), 128),
        "role_listed": verdict == "unexpected",
    })


DETECTOR = Detector(
    id="web-identity-unexpected-subject",
    title="Unexpected web identity subject",
    severity=Severity.HIGH,
    mitre=("T1078.004", "T1550.001"),
    runbook=(
        "A role was assumed with an OIDC web identity token (CI pipeline, Kubernetes service account) whose "
        "subject is not on the allowlist for that role (context: role, subject, provider). Someone else's "
        "repository, branch, pull request or service account got credentials for the role: its trust policy's "
        "`sub` condition is too broad or missing. Check who owns the subject and what the session did (its "
        "role session name is in the event). If unexpected: tighten the trust policy to the exact subjects, "
        "revoke the role's active sessions (an inline deny on aws:TokenIssueTime), and review the calls made "
        "with it. If the subject is legitimate, add it to `allowed_subjects`. Refused assumptions are excluded."
    ),
    match=match,
    events=frozenset({("sts.amazonaws.com", "AssumeRoleWithWebIdentity")}),
    group_by=keys(),
    episode_seconds=3600,
    params={"allowed_subjects": {}, "unlisted_roles": "ignore"},
)
