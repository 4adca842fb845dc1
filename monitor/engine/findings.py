"""What detection hands to the state: compact, picklable, and free of the events themselves.

Detection (`detect.py`) looks at every event of a slice and keeps only what the stateful half
(`apply.py`) needs: the slice's eventIDs and times, and one `Finding` per detection. Worker processes
send exactly this to the process that owns the state, so it is small: most events produce nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from monitor.model.issue import InputIssue
from monitor.model.severity import Severity

# The alert fields an event gives, computed once per event that produced a finding:
# (event id, account, region, principal, source ip, user agent, event source, event name, event time text).
Facts = tuple[str, str, str, str, str, str, str, str, str]
EVENT_ID, ACCOUNT, REGION, PRINCIPAL, SOURCE_IP, USER_AGENT, EVENT_SOURCE, EVENT_NAME, EVENT_TIME = range(9)


@dataclass(slots=True)
class Finding:
    """One detector's verdict on one event (and, for first-seen learners, on its repeats in the slice)."""

    detector: int  # index into the engine's detector table
    position: int  # the event's index in its slice
    key: str | None
    value: str | None
    severity: Severity
    title: str
    context: dict[str, Any]
    facts: Facts
    prior: bool = False
    standalone: bool = False
    quiet: bool = False
    # First-seen learners: later events of the slice with the same key and value (their positions).
    repeats: list[int] = field(default_factory=list)


@dataclass(slots=True)
class SliceFindings:
    origin: str
    event_ids: list[str]  # per event, "" when it has none
    times: list[float]  # per event, BAD_TIME when unusable
    findings: list[Finding]
    issues: list[InputIssue]
    skipped: dict[str, int]
    matches: Counter[str] = field(default_factory=Counter)
    detector_errors: Counter[str] = field(default_factory=Counter)
    suppressed: Counter[str] = field(default_factory=Counter)
    newest: float = -1.0  # the newest usable event time of the slice
