"""What detection hands to the state: compact, picklable, and free of the events themselves.

Detection (`detect.py`) looks at every event of a slice and keeps only what the stateful half
(`apply.py`) needs: the slice's eventIDs and times, and one `Finding` per detection. Worker processes
send exactly this to the process that owns the state, so it is small: most events produce nothing.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from monitor.model.issue import InputIssue
from monitor.model.severity import Severity

_SEPARATOR = "\x00"  # between eventIDs in transit (a slice whose ids hold it travels as a list)

# The alert fields an event gives, computed once per event that produced a finding:
# (event id, account, region, principal, source ip, user agent, event source, event name, event time text).
Facts = tuple[str, str, str, str, str, str, str, str, str]
EVENT_ID, ACCOUNT, REGION, PRINCIPAL, SOURCE_IP, USER_AGENT, EVENT_SOURCE, EVENT_NAME, EVENT_TIME = range(9)


class Finding(msgspec.Struct, gc=False):
    """One detector's verdict on one event (and, for first-seen learners, on its repeats in the slice).

    A msgspec struct: workers pickle every finding they send, and these pickle several times faster.
    """

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
    repeats: list[int] = msgspec.field(default_factory=list)
    escalation_title: str | None = None  # Hit.escalation_title
    read_only: bool = False  # the event's readOnly is true: its call is a read, never a worse action
    priors_needed: int | None = None  # Hit.priors_needed
    # For attack sequences (set only when the attack-sequence detector runs): the access key the call was made
    # with, whether its session came from a console sign-in, and whether an `attack-sequence` suppression
    # matched the event (then it is no step of any sequence).
    access_key: str = ""
    console: bool = False
    unsequenced: bool = False


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
    # Events not run through detection: Insight events (skipped) and records over the size limit (refused).
    set_aside: int = 0

    # Workers send these to the process that owns the state: a slice's eventIDs and times travel as one
    # string and one buffer, which pickle copies whole instead of object by object.
    def __getstate__(self) -> tuple[Any, ...]:
        joined = _SEPARATOR.join(self.event_ids)
        ids: str | list[str] = joined if joined.count(_SEPARATOR) == len(self.event_ids) - 1 else self.event_ids
        return (self.origin, ids, len(self.event_ids), array("d", self.times).tobytes(), self.findings, self.issues,
                self.skipped, self.matches, self.detector_errors, self.suppressed, self.newest, self.set_aside)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        (self.origin, ids, count, times, self.findings, self.issues, self.skipped, self.matches,
         self.detector_errors, self.suppressed, self.newest, self.set_aside) = state
        self.event_ids = (ids.split(_SEPARATOR) if count else []) if isinstance(ids, str) else ids
        self.times = array("d", times).tolist()


def drain(findings: Iterator[SliceFindings]) -> None:
    """Consume what is left of an input's findings after it failed, so the next input's results line up."""
    try:
        for _ in findings:
            pass
    except Exception:  # the same failure again, or another: the input is reported once
        pass
