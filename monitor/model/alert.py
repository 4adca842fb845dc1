"""The alert: one per detection episode. Schema v1, shared by every output."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from monitor.model.severity import Severity

ALERT_SCHEMA_VERSION = 1

# Attacker-controlled strings are clipped so one event cannot produce a huge alert.
MAX_FIELD_CHARS = 1024
MAX_EVENT_IDS = 20

# context["targets"]: what the alert's events acted on, "kind:value" strings ("user:bob", "snapshot:snap-0a1b").
# An alert lists the first MAX_TARGETS distinct ones; context["targets_omitted"] counts the rest.
TARGETS = "targets"
TARGETS_OMITTED = "targets_omitted"
MAX_TARGETS = 20
MAX_TARGET_CHARS = 256
# context["updated_for"]: why this emission of an episode was made at once (a worse call, target kind or severity);
# delivery sends such an update at once too instead of folding it into the repeat window's follow-up.
UPDATED_FOR = "updated_for"


def clip(value: str, limit: int = MAX_FIELD_CHARS) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def target(kind: str, value: str) -> str:
    """One entry of context["targets"]: "kind:value", the value clipped; "" when there is no value."""
    return f"{kind}:{clip(value, MAX_TARGET_CHARS - len(kind) - 1)}" if value else ""


def target_kind(entry: str) -> str:
    return entry.partition(":")[0]


def fingerprint(*parts: str) -> str:
    """A stable id: the same detection always gets the same one, across runs and replicas."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def rfc3339(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Alert:
    id: str
    detector: str
    title: str
    severity: Severity
    account: str
    region: str
    principal: str
    source_ip: str
    user_agent: str
    event_source: str
    event_name: str
    event_time: float
    last_event_time: float
    event_ids: list[str]
    count: int
    mitre: tuple[str, ...]
    runbook: str
    context: dict[str, Any] = field(default_factory=dict)
    account_alias: str = ""
    # ATT&CK tactics of `mitre` (monitor.model.attack), and whether this is a signal: remembered for attack
    # sequences and counted, never delivered.
    tactics: tuple[str, ...] = ()
    signal: bool = False

    def folded(self, *, count: int, event_time: float, last_event_time: float, event_ids: list[str],
               severity: Severity, title: str, context: dict[str, Any]) -> Alert:
        """This alert with more events folded in. Built field by field: an episode replaces its alert on every
        event it folds, and `dataclasses.replace` costs several times as much."""
        return Alert(self.id, self.detector, title, severity, self.account, self.region, self.principal,
                     self.source_ip, self.user_agent, self.event_source, self.event_name, event_time, last_event_time,
                     event_ids, count, self.mitre, self.runbook, context, self.account_alias, self.tactics,
                     self.signal)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": ALERT_SCHEMA_VERSION,
            "id": self.id,
            "detector": self.detector,
            "title": self.title,
            "severity": self.severity.label,
            "account": self.account,
            "account_alias": self.account_alias,
            "region": self.region,
            "principal": self.principal,
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
            "event_source": self.event_source,
            "event_name": self.event_name,
            "event_time": rfc3339(self.event_time),
            "last_event_time": rfc3339(self.last_event_time),
            "event_ids": list(self.event_ids),
            "count": self.count,
            "mitre": list(self.mitre),
            "runbook": self.runbook,
            "tactics": list(self.tactics),
            "context": self.context,
        }
        if self.signal:
            data["signal"] = True
        return data

    def to_json(self) -> bytes:
        # OPT_NON_STR_KEYS / default=str keep hostile context values serialisable.
        data = self.to_dict()
        try:
            return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS, default=str)
        except TypeError:
            # A lone surrogate (possible from decoders other than orjson) is not valid UTF-8.
            return orjson.dumps(_scrub(data), option=orjson.OPT_NON_STR_KEYS, default=str)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        return cls(
            id=str(data["id"]),
            detector=str(data["detector"]),
            title=str(data["title"]),
            severity=Severity.parse(str(data["severity"])),
            account=str(data.get("account", "")),
            account_alias=str(data.get("account_alias", "")),
            region=str(data.get("region", "")),
            principal=str(data.get("principal", "")),
            source_ip=str(data.get("source_ip", "")),
            user_agent=str(data.get("user_agent", "")),
            event_source=str(data.get("event_source", "")),
            event_name=str(data.get("event_name", "")),
            event_time=_parse_time(str(data["event_time"])),
            last_event_time=_parse_time(str(data.get("last_event_time", data["event_time"]))),
            event_ids=[str(e) for e in data.get("event_ids", [])],
            count=int(data.get("count", 1)),
            mitre=tuple(str(m) for m in data.get("mitre", [])),
            runbook=str(data.get("runbook", "")),
            context=dict(data.get("context") or {}),
            tactics=tuple(str(t) for t in data.get("tactics") or ()),
            signal=data.get("signal") is True,
        )


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()
