"""The slice events come out in, and the one input both halves of decoding fill slices from.

`formats.py` tells a whole JSON document from JSON Lines and hands the input to `documents.py` or to
`lines.py`; a document that turns out to be lines goes from the first to the second. Both fill `Slice`s
from the same `Reading` and the same way (`finish`), so those live here, under both: neither half
imports the dispatch above it, and `formats.py` still exports `Slice` as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.decode.settings import DEFAULT_MAX_RECORD_BYTES, DecodeLimits
from monitor.model.event import Event
from monitor.model.issue import InputIssue

_NONE: set[int] = set()


@dataclass(slots=True)
class Slice:
    """Up to `slice_events` events of one input, with their epoch times and where each was found."""

    origin: str
    events: list[Event] = field(default_factory=list)
    # The 1-based line of each event (line-based input) or its index among the document's records.
    places: list[int] = field(default_factory=list)
    line_based: bool = False
    issues: list[InputIssue] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    # Indexes (into `events`) whose unusable eventTime was already reported while decoding.
    timeless: set[int] = field(default_factory=set)
    # The input's `max_record_bytes`: records of a document are measured in the engine's prologue, by this.
    record_limit: int = DEFAULT_MAX_RECORD_BYTES

    def where(self, index: int) -> tuple[int | None, int | None]:
        """(line, record) of an event, for an InputIssue."""
        place = self.places[index]
        return (place, None) if self.line_based else (None, place)

    def issue(self, reason: str, detail: str, place: int | None = None) -> None:
        if place is None:
            self.issues.append(InputIssue(self.origin, reason, detail))
        elif self.line_based:
            self.issues.append(InputIssue(self.origin, reason, detail, line=place))
        else:
            self.issues.append(InputIssue(self.origin, reason, detail, record=place))

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count


class Reading:
    """One input being decoded: its name and limits, and the first slice, which both halves start from."""

    def __init__(self, origin: str, limits: DecodeLimits, notice: Slice, *, insight: bool) -> None:
        self.origin = origin
        self.limits = limits
        self.notice = notice  # issues found before any event (named .gz but not gzip)
        self.insight = insight  # a name under CloudTrail-Insight/: its events are skipped, counted
        # Whether the input was cut short (a truncated gzip stream, known once it is read to its end).
        self.cut: Callable[[], bool] = lambda: False

    def next_slice(self, *, line_based: bool = False) -> Slice:
        """A slice after the first (`notice`), which carries the input's record limit like it."""
        return Slice(self.origin, line_based=line_based, record_limit=self.limits.max_record_bytes)


def finish(out: Slice, events: list[Event], places: list[int], timeless: set[int] = _NONE) -> None:
    """Fill `out` (`timeless`: places whose time problem was already reported while decoding).

    What every event needs checked (its time, its names, its size, Insight events) is checked where
    each event is looked at anyway, in the engine's prologue: one pass over the events, not two.
    """
    if timeless:
        first = len(out.events)
        out.timeless.update(first + index for index, place in enumerate(places) if place in timeless)
    out.events.extend(events)
    out.places.extend(places)
