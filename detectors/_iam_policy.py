"""IAM policy-document parsing shared by the IAM practices detectors.

Not a detector: the registry skips modules whose name starts with `_`.
CloudTrail records a policy document as a URL-encoded JSON string, sometimes
as plain JSON, and sometimes already parsed into an object. Every field is
attacker-controlled: nothing here raises, anything malformed reads as "no
statement".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

# Documents larger than IAM's own limits (6,144 characters for managed policies, 20,480 for bucket
# policies) are not legitimate: bound the parsing work on hostile input.
MAX_DOCUMENT_CHARS = 65536


def parse_document(value: object) -> dict[str, Any] | None:
    """The policy document as a dict, or None when absent or not valid JSON."""
    if type(value) is dict:
        return value
    if type(value) is not str or not value or len(value) > MAX_DOCUMENT_CHARS * 3:
        return None
    raw = value.strip()
    for candidate in (raw, unquote(raw), unquote(raw.replace("+", " "))):
        if len(candidate) > MAX_DOCUMENT_CHARS:
            continue
        try:
            doc = json.loads(candidate)
        except (ValueError, RecursionError):
            continue
        if type(doc) is dict:
            return doc
        if type(doc) is str and len(doc) <= MAX_DOCUMENT_CHARS:  # a JSON document quoted once more
            try:
                inner = json.loads(doc)
            except (ValueError, RecursionError):
                return None
            return inner if type(inner) is dict else None
    return None


def as_list(value: object) -> list[Any]:
    """IAM fields hold one value or a list of them."""
    if value is None:
        return []
    if type(value) is list:
        return value
    return [value]


def strings(value: object) -> list[str]:
    return [item for item in as_list(value) if type(item) is str]


def statements(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The statements of a document that are objects (Statement may be one object or a list)."""
    if doc is None:
        return []
    return [s for s in as_list(doc.get("Statement")) if type(s) is dict]


def is_allow(statement: dict[str, Any]) -> bool:
    effect = statement.get("Effect")
    return type(effect) is str and effect.strip().lower() == "allow"


def has_condition(statement: dict[str, Any]) -> bool:
    condition = statement.get("Condition")
    return type(condition) is dict and bool(condition)


def condition_keys(statement: dict[str, Any]) -> list[str]:
    """The condition keys a statement tests ("aws:SourceIp", "token.actions...:sub"), lower-cased."""
    condition = statement.get("Condition")
    if type(condition) is not dict:
        return []
    keys: list[str] = []
    for tests in condition.values():
        if type(tests) is dict:
            keys.extend(key.lower() for key in tests if type(key) is str)
    return keys


@dataclass(frozen=True, slots=True)
class Grant:
    """One Allow statement that grants everything, or everything of a service, on every resource."""

    sid: str
    actions: tuple[str, ...]
    not_action: bool
    conditional: bool

    @property
    def full_admin(self) -> bool:
        return self.not_action or "*" in self.actions


def _wide_action(action: str) -> bool:
    action = action.strip()
    if action == "*":
        return True
    service, sep, name = action.partition(":")
    return bool(sep) and bool(service) and name == "*"


def _all_resources(statement: dict[str, Any]) -> bool:
    if "NotResource" in statement:
        # NotResource excludes some resources and grants on all others.
        return True
    return any(r.strip() == "*" for r in strings(statement.get("Resource")))


def wide_grants(doc: dict[str, Any] | None) -> list[Grant]:
    """Allow statements granting "*" or "<service>:*" (or NotAction) on "Resource": "*".

    Deny statements never count: they only take permissions away.
    """
    found: list[Grant] = []
    for statement in statements(doc):
        if not is_allow(statement) or not _all_resources(statement):
            continue
        sid = statement.get("Sid")
        sid_text = sid if type(sid) is str else ""
        if "NotAction" in statement:
            # Allow everything except a few actions: as good as "*".
            found.append(Grant(sid_text, tuple(strings(statement.get("NotAction"))), True, has_condition(statement)))
            continue
        wide = tuple(a.strip() for a in strings(statement.get("Action")) if _wide_action(a))
        if wide:
            found.append(Grant(sid_text, wide, False, has_condition(statement)))
    return found


def principal_values(statement: dict[str, Any]) -> dict[str, list[str]]:
    """A statement's Principal by kind ("AWS", "Federated", "Service", "*"); "Principal": "*" is {"*": ["*"]}."""
    principal = statement.get("Principal")
    if type(principal) is str:
        return {"*": [principal]} if principal.strip() == "*" else {"AWS": [principal]}
    if type(principal) is not dict:
        return {}
    return {kind: strings(value) for kind, value in principal.items() if type(kind) is str}


def allows_everyone(statement: dict[str, Any]) -> bool:
    """"Principal": "*" or {"AWS": "*"} (any AWS account, or anyone at all)."""
    values = principal_values(statement)
    if "*" in values:
        return True
    return any(v.strip() == "*" for v in values.get("AWS", []))


def account_of(principal: str) -> str:
    """The 12-digit account of "arn:aws:iam::123456789012:..." or a bare account id, else ""."""
    value = principal.strip()
    if len(value) == 12 and value.isdigit():
        return value
    parts = value.split(":")
    if len(parts) >= 5 and parts[0] == "arn" and len(parts[4]) == 12 and parts[4].isdigit():
        return parts[4]
    return ""
