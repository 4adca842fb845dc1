"""Every trailsentry metric: name, kind, help and labels, in one list.

Naming: prefix `trailsentry_`, base units, `_total` on counters (added at
exposition), and labels only from small fixed sets (source and sink names from
the config, detector ids, severities, reasons and API names from the code).
Reasons and API names pass `label_token`, so a bug can never turn free text
into a label value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]

# Lags: CloudTrail delivers to S3 within ~5-15 minutes; a backlog after an outage lasts hours.
LAG_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 2700.0, 3600.0,
               7200.0, 14400.0, 28800.0, 86400.0)

# A round trip to Redis on loopback takes ~0.1 ms, across an availability zone ~1 ms.
ROUND_TRIP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(frozen=True, slots=True)
class MetricDef:
    name: str  # the family name; counters are exposed with `_total`
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()


def _m(name: str, kind: Kind, help_text: str, *labels: str) -> MetricDef:
    return MetricDef("trailsentry_" + name, kind, help_text, labels)


CATALOGUE: tuple[MetricDef, ...] = (
    _m("build_info", "gauge", "Always 1; the version and Python running.", "version", "python"),
    # -- ingest: what the pipeline saw from each source ----------------------------------------------
    _m("events_received", "counter", "CloudTrail records received from a source.", "source"),
    _m("events_processed", "counter", "Records run through the detectors.", "source"),
    _m("events_discarded", "counter",
       "Records not run through the detectors (duplicate eventID, Insights record, digest, not an object).",
       "source", "reason"),
    _m("decode_errors", "counter",
       "Input problems found decoding and validating records (bad JSON, truncated gzip, wrong types, bad "
       "eventTime); the rest of the input keeps flowing.", "source", "reason"),
    _m("batches_processed", "counter", "Batches (objects, files, log pages) processed and acknowledged.",
       "source"),
    _m("batches_failed", "counter", "Batches released for redelivery: applying them failed (retried with a "
       "growing delay) or their commit failed.", "source"),
    _m("batches_quarantined", "counter", "Batches given up after repeated failures to apply them (their events "
       "were not checked; an alert on the monitor says so).", "source"),
    _m("processed_bytes", "counter", "Bytes of batches handed to the detect stage (compressed size).",
       "source"),
    _m("ack_errors", "counter", "Batches whose acknowledgement to the source failed after their alerts were "
       "recorded.", "source"),
    _m("source_restarts", "counter", "Times a source's task crashed and was restarted.", "source"),
    _m("queued_batches", "gauge", "Batches of a source waiting for the detectors.", "source"),
    _m("queue_capacity_batches", "gauge", "Batches the detect queue holds before sources block."),
    _m("last_event_timestamp_seconds", "gauge", "Event time of the newest record processed, per source.",
       "source"),
    _m("last_batch_timestamp_seconds", "gauge", "Wall-clock time the last batch of a source was processed.",
       "source"),
    _m("alerts_recorded", "counter", "Alert emissions handed to the outbox by the pipeline."),
    _m("record_failures", "counter", "Times recording alerts in the outbox failed (the batch is redelivered)."),
    _m("state_commits", "counter", "Group commits: a group of batches' alerts into the outbox, then their state "
       "changes made durable, then their sources acknowledged; failed ones are undone and redelivered.",
       "outcome"),
    _m("state_committed_batches", "counter", "Batches made durable by group commits (over state_commits: the "
       "batches per commit)."),
    _m("checkpoints", "counter", "Periodic checkpoints (episodes closed, state saved, cursors committed).",
       "outcome"),
    # -- sources: their upstream calls ---------------------------------------------------------------
    _m("source_up", "gauge", "1 when the source reached its upstream and is not failing.", "source", "kind"),
    _m("source_last_success_timestamp_seconds", "gauge", "Wall-clock time of a source's last successful "
       "upstream call.", "source"),
    _m("objects_read", "counter", "Objects (S3 objects, files) read by a source.", "source"),
    _m("read_bytes", "counter", "Bytes read from upstream by a source.", "source"),
    _m("objects_skipped", "counter", "Objects or notifications a source skipped, by reason.", "source", "reason"),
    _m("log_events_read", "counter", "CloudWatch Logs events read by a source.", "source"),
    _m("sqs_messages_received", "counter", "SQS messages received.", "source"),
    _m("sqs_messages_deleted", "counter", "SQS messages deleted after their batch was acknowledged.", "source"),
    _m("sqs_messages_failed", "counter", "SQS messages that could not be handled (left for redelivery or DLQ).",
       "source"),
    _m("aws_api_calls", "counter", "AWS API calls made by a source.", "source", "api"),
    _m("aws_api_throttles", "counter", "AWS API calls rejected by rate limiting.", "source", "api"),
    _m("aws_api_errors", "counter", "AWS API calls that failed for another reason.", "source", "api"),
    _m("source_operations", "counter", "Other per-source counters, by name.", "source", "operation"),
    # -- detection -----------------------------------------------------------------------------------
    _m("detector_matches", "counter", "Events a detector matched (before thresholds and grouping).", "detector"),
    _m("detector_errors", "counter", "Exceptions raised by a detector; the event still reaches the others.",
       "detector"),
    _m("detector_alerts", "counter", "Alert emissions by the engine, including episode updates.", "detector"),
    _m("signals", "counter", "Signal emissions by the engine (weak observations remembered for attack sequences, "
       "never delivered), including episode updates.", "detector"),
    _m("detections_suppressed", "counter", "Detections dropped by a configured suppression entry (counted, "
       "never alerted).", "detector"),
    _m("engine_duplicate_events", "counter", "Records dropped by the engine as already-seen eventIDs."),
    _m("engine_watermark_timestamp_seconds", "gauge", "The newest event time the engine has seen."),
    # -- delivery ------------------------------------------------------------------------------------
    _m("alerts_created", "counter", "Alerts recorded in the outbox (new episodes and updates).",
       "detector", "severity"),
    _m("alerts_duplicate_records", "counter", "Re-recordings of an unchanged alert, ignored by the outbox."),
    _m("alerts_unrouted", "counter", "Alerts no route sent to any sink (stored and logged)."),
    _m("alerts_sent", "counter", "Alerts delivered to a sink.", "sink"),
    _m("alerts_failed", "counter", "Delivery attempts to a sink that failed.", "sink"),
    _m("alerts_retried", "counter", "Delivery attempts to a sink that were retries.", "sink"),
    _m("alerts_rate_limited", "counter", "Delivery attempts a sink answered with rate limiting.", "sink"),
    _m("alerts_dead_lettered", "counter", "Alerts given up on for a sink after the last retry.", "sink"),
    _m("alerts_coalesced", "counter", "Alert records not sent as a message of their own, by reason "
       "(suppressed: folded into the repeat window's follow-up; merged: into a pending message; skipped: already "
       "covered).", "sink", "reason"),
    _m("outbox_depth", "gauge", "Alert deliveries waiting in the outbox, per sink.", "sink"),
    _m("outbox_oldest_pending_age_seconds", "gauge", "Age of the oldest delivery waiting in the outbox, per sink.",
       "sink"),
    _m("sink_failing", "gauge", "1 while a sink is considered failing (consecutive failures or old pending).",
       "sink", "kind"),
    _m("sink_consecutive_failures", "gauge", "Delivery attempts that failed in a row, per sink.", "sink"),
    _m("alerting_up", "gauge", "1 when alert delivery is ready (the outbox is not stuck)."),
    # -- readiness and the shared state of replicas ------------------------------------------------------
    _m("ready", "gauge", "1 while /readyz answers ready (sources, state store and alert delivery all up)."),
    _m("state_store_up", "gauge", "1 when the state store answers (always 1 for the embedded store).", "backend"),
    _m("state_round_trips", "counter", "Round trips to a shared state store (Redis), by operation.", "operation"),
    _m("state_conflicts", "counter", "Group commits refused because another replica changed state they read; "
       "the group was applied again on fresh state."),
    _m("lease_held", "gauge", "1 while this replica holds a lease (a source that one replica runs at a time, "
       "or alert delivery).", "lease"),
    # -- histograms, observed once per batch by observe_batch ----------------------------------------
    _m("ingest_lag_seconds", "histogram", "Wall clock minus the newest event time of a batch, when processed.",
       "source"),
    _m("delivery_lag_seconds", "histogram", "Wall clock minus when the batch's data landed (S3 LastModified, "
       "log ingestion time), when processed.", "source"),
    _m("state_round_trip_seconds", "histogram", "Time of one round trip to a shared state store (Redis), by "
       "operation.", "operation"),
)

BY_NAME: dict[str, MetricDef] = {m.name: m for m in CATALOGUE}

# Label values that come from code-defined keys (reasons, API names) must look like identifiers.
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def label_token(value: str) -> str:
    return value if _TOKEN.match(value) else "other"
