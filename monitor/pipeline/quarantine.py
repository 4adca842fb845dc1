"""The alert on the monitor itself when a batch is given up after repeated failures to apply."""

from __future__ import annotations

from monitor.model import Alert
from monitor.model.alert import fingerprint
from monitor.model.severity import Severity
from monitor.pipeline.tasks import printable
from monitor.sources.base import Batch

QUARANTINE_DETECTOR = "trailsentry-batch-quarantined"
_QUARANTINE_RUNBOOK = (
    "trailsentry could not process this input after several attempts and gave up on it, so its events were not "
    "checked. This is a bug in trailsentry, not bad input (bad records are reported and skipped on their own). "
    "Look at the service log for the error (search for the origin in the alert context), keep a copy of the object "
    "for the bug report, and scan it by hand with `trailsentry scan` once fixed. For SQS sources the message is "
    "left to the queue's dead-letter queue."
)


def quarantine_alert(batch: Batch, exc: Exception, attempts: int, now: float) -> Alert:
    return Alert(
        id=fingerprint(QUARANTINE_DETECTOR, batch.source, batch.origin), detector=QUARANTINE_DETECTOR,
        title=f"Input from source {batch.source} quarantined after {attempts} failed attempts",
        severity=Severity.HIGH, account="", region="", principal="trailsentry", source_ip="", user_agent="",
        event_source="trailsentry", event_name="BatchQuarantined", event_time=now, last_event_time=now,
        event_ids=[], count=1, mitre=(), runbook=_QUARANTINE_RUNBOOK,
        context={"source": batch.source, "origin": printable(batch.origin, 1024), "attempts": attempts,
                 "error": printable(f"{type(exc).__name__}: {exc}", 300)})
