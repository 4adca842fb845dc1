"""ECS task and Lambda function role sessions for `workload-credentials-used-elsewhere`: which sessions are theirs.

Not a detector: the registry skips modules whose name starts with `_`. What CloudTrail shows of them:

- an ECS task's role session is named after the task: its id, 32 hexadecimal digits
  (`assumed-role/<task role>/0123456789abcdef0123456789abcdef`);
- a Lambda function's execution-role session is named after the function
  (`assumed-role/<execution role>/<function name>`). A function name is any name, so the session is told
  by its role: one the Lambda console created (path `/service-role/`, named `<function>-role-<suffix>`),
  or a role listed in `workload_roles` (name or ARN globs: execution roles made by CDK, SAM or Terraform,
  and any other role only workloads use, e.g. CodeBuild or Batch job roles).

Values are parsed once per distinct principal id and role (bounded caches); longer ones are judged
without being remembered.
"""

from __future__ import annotations

import functools
from typing import Any, Final, NamedTuple

from detectors._configured import matches_any, role_name_of, string_tuple
from detectors.learners._instance_sessions import session_place
from monitor.model import Event
from monitor.model import event as f
from monitor.model.detector import task_or_function_session

ECS_TASK: Final = "ecs-task"
LAMBDA: Final = "lambda"
WORKLOAD_ROLE: Final = "workload-role"

_MAX_ID_CHARS = 160
_HEX = frozenset("0123456789abcdef")
_CONSOLE_LAMBDA_PATH = ":role/service-role/"


class Workload(NamedTuple):
    kind: str  # ECS_TASK, LAMBDA or WORKLOAD_ROLE
    name: str  # the task id, the function name, or the session name


class WorkloadPlace(NamedTuple):
    """Where one call of a workload's session came from."""

    session: str  # account and session ARN
    workload: Workload
    place: str  # the public source address, or a client signal
    signal: bool  # `place` is a client signal


def workload_place(event: Event, roles_param: Any) -> WorkloadPlace | None:
    """The place of a call by an ECS task's or a Lambda function's role session (or one of `roles_param`'s
    roles); None for other callers."""
    ident = event.userIdentity
    principal_id = ident.principalId
    # The engine hands over only these sessions unless roles are listed (TASK_OR_FUNCTION_SESSION): the session
    # name is 32 characters long, or the role is named like a console-made Lambda role ("<function>-role-...").
    if not roles_param and not task_or_function_session(ident):
        return None
    # Where the call came from first: a workload's calls nearly all come from its own side (no place).
    place = session_place(event)
    if place is None:
        return None
    issuer = ident.sessionContext.sessionIssuer.arn
    if ident.type != "AssumedRole" or len(principal_id) > _MAX_ID_CHARS or len(issuer) > _MAX_ID_CHARS:
        return None  # longer than any role id, session name or role ARN AWS issues
    if f.is_aws_own_activity(event):
        return None  # a service-linked role's own session, whatever `workload_roles` matches
    found = _workload(principal_id, issuer, string_tuple(roles_param) if roles_param else ())
    return None if found is None else WorkloadPlace(place[0], found, place[1], place[2])


@functools.lru_cache(maxsize=8192)
def _workload(principal_id: str, issuer: str, workload_roles: tuple[str, ...]) -> Workload | None:
    # A fleet has as many of these as running tasks and functions: decide each once.
    _, colon, session = principal_id.rpartition(":")
    if not colon or not session:
        return None
    if len(session) == 32 and _HEX.issuperset(session):
        return Workload(ECS_TASK, session)
    role = role_name_of(issuer)
    if not role:
        return None
    if _CONSOLE_LAMBDA_PATH in issuer and role.startswith(f"{session}-role-"):
        return Workload(LAMBDA, session)
    if workload_roles and (matches_any(role, workload_roles) or matches_any(issuer, workload_roles)):
        return Workload(WORKLOAD_ROLE, session)
    return None
