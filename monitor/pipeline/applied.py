"""One batch applied to the engine's state and waiting in the open group for its commit."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from monitor.engine.findings import SliceFindings
from monitor.model import Alert, InputIssue
from monitor.sources.base import Batch


@dataclass(slots=True)
class Applied:
    """What a batch produced, not yet durable. With a shared store it keeps its findings (and the
    housekeeping its moment), to be applied again when another replica commits first."""

    batch: Batch | None  # None: housekeeping (episodes closed by the clock at `closed_at`)
    alerts: list[Alert]
    issues: list[InputIssue] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    events: int = 0
    duplicates: int = 0
    newest_event_time: float = 0.0
    size: int = 0
    slices: list[SliceFindings] | None = None
    closed_at: float = 0.0
