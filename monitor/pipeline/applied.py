"""One batch applied to the engine's state and waiting in the open group for its commit."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from monitor.engine.findings import SliceFindings
from monitor.model import Alert, InputIssue
from monitor.pipeline.stats import BatchObserver, SourceCounters
from monitor.pipeline.tasks import printable
from monitor.sources.base import Batch

log = logging.getLogger("trailsentry.pipeline")

# A batch with thousands of broken records gets a few log lines, then a count.
ISSUE_LINES_PER_BATCH = 5


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


def count_batch(counters: SourceCounters, batch: Batch, applied: Applied, now: float,
                observe: BatchObserver | None) -> None:
    """Add an applied batch to its source's counters, and its lags to the histograms."""
    counters.events += applied.events
    counters.bytes += applied.size
    counters.duplicates += applied.duplicates
    counters.last_batch_at = now
    counters.skipped.update(applied.skipped)
    for issue in applied.issues:
        counters.issues[issue.reason] += 1
    if applied.newest_event_time > counters.newest_event_time:
        counters.newest_event_time = applied.newest_event_time
    ingest = now - applied.newest_event_time if applied.newest_event_time else None
    delivery = now - batch.landed_at if batch.landed_at is not None else None
    if observe is not None:
        observe(batch.source, ingest_lag=ingest, delivery_lag=delivery)


def log_issues(batch: Batch, issues: list[InputIssue]) -> None:
    """Input problems are not failures: logged (capped), counted, and the batch is acknowledged."""
    for issue in issues[:ISSUE_LINES_PER_BATCH]:
        log.warning("input problem (source %s): %s", batch.source, printable(str(issue)))
    if len(issues) > ISSUE_LINES_PER_BATCH:
        log.warning("input problem (source %s): %s: %d more problems in this batch; counted", batch.source,
                    printable(batch.origin), len(issues) - ISSUE_LINES_PER_BATCH)
