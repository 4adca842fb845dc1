"""Plain numbers about alert delivery, read by the metrics module (no Prometheus types here)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class SinkCounters:
    """Running totals for one sink since start (counters only go up)."""

    sent: int = 0  # messages the sink confirmed
    failed: int = 0  # failed attempts
    retried: int = 0  # attempts that were retries of an earlier failure
    dead_lettered: int = 0
    rate_limited: int = 0  # 429 / throttling answers
    suppressed: int = 0  # records folded into a repeat window's "+N more" follow-up instead of a message
    merged: int = 0  # updates carried by a message not yet sent
    skipped: int = 0  # follow-ups already covered by a later message


@dataclass(frozen=True, slots=True)
class SinkStats:
    kind: str
    sent: int
    failed: int
    retried: int
    dead_lettered: int
    rate_limited: int
    suppressed: int
    merged: int
    skipped: int
    pending: int
    oldest_pending_seconds: float
    failing: bool
    consecutive_failures: int


@dataclass(frozen=True, slots=True)
class AlertingStats:
    outbox_depth: int
    oldest_pending_seconds: float
    sinks: dict[str, SinkStats]
    # (detector, severity) -> alerts recorded, updates of an episode included.
    recorded: dict[tuple[str, str], int] = field(default_factory=dict)
    duplicates: int = 0  # re-recordings of an unchanged alert, ignored
    unrouted: int = 0  # alerts no route sent anywhere (stored, logged, counted)
    ready: bool = True
