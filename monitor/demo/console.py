"""The demo's console sink: alerts as they are delivered, one readable line each on a terminal, else JSON Lines.

It sits behind the same durable outbox and delivery worker as every sink
(`monitor.alerts.Alerting`), replacing the default `console` sink, so what the
demo prints is what a real deployment would deliver.
"""

from __future__ import annotations

from typing import IO

from monitor.alerts.base import KIND_ESCALATION, KIND_REPEAT, KIND_UPDATE, Notice
from monitor.model.alert import clip, rfc3339

_MARKS = {KIND_UPDATE: "(update)", KIND_ESCALATION: "(escalated)"}


class TerminalSink:
    kind = "console"

    def __init__(self, out: IO[bytes], *, text: bool, name: str = "console", label: str = "") -> None:
        self.name = name
        self.out = out
        self.text = text
        self.label = label  # starts each text line (with replicas: the one that printed it); JSON Lines keep none
        self.sent = 0
        self.alert_ids: set[str] = set()

    async def start(self) -> None:
        return None

    async def send(self, notice: Notice) -> None:
        if self.text:
            line = (f"{self.label} " if self.label else "").encode() + format_notice(notice).encode("utf-8", "replace")
        else:
            line = notice.body
        self.out.write(line + b"\n")
        self.out.flush()
        self.sent += 1
        self.alert_ids.add(notice.alert.id)

    async def close(self) -> None:
        return None


def format_notice(notice: Notice) -> str:
    alert = notice.alert
    account = f"{alert.account} ({alert.account_alias})" if alert.account_alias else alert.account
    who = f"{alert.principal} from {alert.source_ip}" if alert.source_ip else alert.principal
    parts = [
        f"{rfc3339(alert.event_time)[:19]}Z",
        f"{alert.severity.label.upper():<8}",
        f"{alert.detector:<28}",
        alert.title,
        f"| account {account or '-'} {alert.region}".rstrip(),
        f"| {who or '-'}",
    ]
    if alert.count > 1:
        parts.append(f"| {alert.count} events")
    if notice.kind == KIND_REPEAT:
        parts.append(f"(+{notice.repeats} more within {notice.window_seconds:g}s)")
    elif notice.kind in _MARKS:
        parts.append(_MARKS[notice.kind])
    # Every field is attacker-controlled CloudTrail text: no terminal escapes, bounded length.
    return clip("".join(ch if ch.isprintable() else "?" for ch in " ".join(parts)), 600)
