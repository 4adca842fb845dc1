"""Resource policies that let anyone in: the Allow statements granting "*" without a restricting condition.

Not a detector: the registry skips modules whose name starts with `_`. Shared by `s3-bucket-made-public`
(bucket policies) and `resource-made-public` (KMS, SQS, SNS, ECR, OpenSearch, Secrets Manager, EFS,
Glacier, Backup). Policies arrive as JSON strings (sometimes URL-encoded) or already-parsed objects
(`_iam_policy.parse_document` reads all of them); anything malformed reads as "nothing open".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from detectors._iam_policy import allows_everyone, is_allow, statements, strings

# Condition keys that limit a "*" principal to known callers or networks (the bucket-policy set).
RESTRICTING_KEYS: Final = frozenset({
    "aws:sourceip", "aws:sourcevpc", "aws:sourcevpce", "aws:principalorgid", "aws:principalorgpaths",
    "aws:principalaccount", "aws:principalarn", "aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid",
    "aws:sourceorgpaths", "aws:userid", "aws:username", "aws:principalservicename", "aws:calledvia",
    "aws:vpcsourceip", "s3:dataaccesspointaccount", "s3:dataaccesspointarn",
})
# What other services' policies restrict a "*" principal with: the SNS default policy's SourceOwner, the
# KMS console policies' CallerAccount and ViaService, EFS access only through a mount target in the VPC.
SERVICE_RESTRICTING_KEYS: Final = RESTRICTING_KEYS | frozenset({
    "aws:sourceowner", "kms:calleraccount", "kms:viaservice", "elasticfilesystem:accessedviamounttarget",
})
# Values that restrict nothing: a condition on "*" or on every address is no condition.
_WILDCARDS: Final = frozenset({"*", "0.0.0.0/0", "::/0"})


@dataclass(frozen=True, slots=True)
class OpenStatement:
    """An Allow statement anyone can use."""

    sid: str
    actions: tuple[str, ...]


def _restricts(statement: dict[str, Any], keys: frozenset[str]) -> bool:
    """Some condition on a restricting key that an unknown caller cannot meet.

    Operators ending in IfExists pass when the key is absent (a direct call by another account carries no
    aws:SourceAccount), "Null" only tests presence, and "*" or 0.0.0.0/0 as every value matches anyone.
    """
    condition = statement.get("Condition")
    if type(condition) is not dict:
        return False
    for operator, tests in condition.items():
        if type(operator) is not str or type(tests) is not dict:
            continue
        op = operator.strip().lower()
        if op.endswith("ifexists") or op == "null":
            continue
        for key, value in tests.items():
            if type(key) is not str or key.strip().lower() not in keys:
                continue
            values = [v.strip() for v in strings(value)] or ([str(value)] if value is not None else [])
            if values and not all(v in _WILDCARDS for v in values):
                return True
    return False


def _everyone(statement: dict[str, Any]) -> bool:
    """Principal "*" or {"AWS": "*"}; also Allow with NotPrincipal, which grants everyone but the few named."""
    return allows_everyone(statement) or "NotPrincipal" in statement


def open_statements(doc: dict[str, Any] | None, keys: frozenset[str] = SERVICE_RESTRICTING_KEYS) -> list[OpenStatement]:
    """The Allow statements of `doc` that grant everyone and that no condition on `keys` restricts."""
    found: list[OpenStatement] = []
    for statement in statements(doc):
        if not is_allow(statement) or not _everyone(statement) or _restricts(statement, keys):
            continue
        sid = statement.get("Sid")
        actions = strings(statement.get("Action")) or ["NotAction"] * ("NotAction" in statement)
        found.append(OpenStatement(sid if type(sid) is str else "", tuple(actions)))
    return found


def bucket_policy_open(doc: dict[str, Any] | None) -> bool:
    """The bucket-policy rule of `s3-bucket-made-public`: an Allow to everyone that no condition on
    RESTRICTING_KEYS restricts (a condition on "*" or 0.0.0.0/0, IfExists or Null restricts nothing)."""
    return bool(open_statements(doc, RESTRICTING_KEYS))
