"""What the durable outbox stores: its SQLite tables and the rows it hands out.

Seven tables: every alert in its newest version (`outbox_alerts`), one delivery
row per alert and routed sink (`outbox_deliveries`, each with a `delivery_id`
kept across retries and restarts), the open repeat window per sink and group
(`outbox_windows`), what was given up on (`outbox_dead_letters`), and the
receipts of alert groups handed over by replicas (`outbox_receipts`: a group
recorded twice is recorded once), and for sinks that thread updates (Slack with
a bot token) the message each alert's updates reply to (`outbox_threads`) and
the steps of a multi-call delivery already done (`outbox_steps`), so a retry or
a restart neither loses the thread nor posts a step twice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

PENDING = "pending"
DELIVERED = "delivered"
FOLDED = "folded"  # merged into another message; nothing left to send
DEAD = "dead"

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox_receipts (
    receipt TEXT PRIMARY KEY,
    recorded REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_alerts (
    id TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    detector TEXT NOT NULL,
    severity INTEGER NOT NULL,
    count INTEGER NOT NULL,
    last_event_time REAL NOT NULL,
    version INTEGER NOT NULL,
    group_key TEXT NOT NULL,
    first_recorded REAL NOT NULL,
    last_recorded REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL UNIQUE,
    sink TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    group_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity INTEGER NOT NULL,
    repeats INTEGER NOT NULL DEFAULT 0,
    single INTEGER NOT NULL DEFAULT 1,
    window_seconds REAL NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    due REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending',
    sent_version INTEGER,
    done_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_deliveries_due ON outbox_deliveries (sink, state, due);
CREATE INDEX IF NOT EXISTS outbox_deliveries_alert ON outbox_deliveries (sink, alert_id, state);
CREATE INDEX IF NOT EXISTS outbox_deliveries_pending ON outbox_deliveries (state, sink, due);
CREATE TABLE IF NOT EXISTS outbox_windows (
    sink TEXT NOT NULL,
    group_key TEXT NOT NULL,
    window_end REAL NOT NULL,
    window_seconds REAL NOT NULL,
    sent_severity INTEGER NOT NULL,
    followup_seq INTEGER,
    PRIMARY KEY (sink, group_key)
);
CREATE TABLE IF NOT EXISTS outbox_dead_letters (
    seq INTEGER PRIMARY KEY,
    delivery_id TEXT NOT NULL,
    sink TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    body BLOB NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created REAL NOT NULL,
    dead_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_threads (
    sink TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    posted REAL NOT NULL,
    PRIMARY KEY (sink, alert_id)
);
CREATE TABLE IF NOT EXISTS outbox_steps (
    sink TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    step TEXT NOT NULL,
    done_at REAL NOT NULL,
    PRIMARY KEY (sink, delivery_id, step)
);
"""

# What record() did for one alert at one sink.
QUEUED = "queued"  # a message will be sent at once
MERGED = "merged"  # an unsent message for the same alert will carry this update
SUPPRESSED = "suppressed"  # folded into the repeat window's "+N more" follow-up (the metric's reason label)


@dataclass(frozen=True, slots=True)
class Target:
    """One sink an alert is routed to, with that sink's repeat window (0: none)."""

    sink: str
    window_seconds: float


@dataclass(slots=True)
class RecordOutcome:
    alert_id: str
    duplicate: bool = False
    new: bool = False
    per_sink: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Due:
    seq: int
    delivery_id: str
    sink: str
    alert_id: str
    kind: str
    repeats: int
    single: bool
    window_seconds: float
    attempts: int
    created: float
    due: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    seq: int
    delivery_id: str
    sink: str
    alert_id: str
    attempts: int
    reason: str


@dataclass(frozen=True, slots=True)
class Thread:
    """The message a sink posted first for an alert; later messages reply to it and refresh it."""

    channel: str
    ts: str
    delivery_id: str  # the delivery that posted it


@dataclass(frozen=True, slots=True)
class Window:
    end: float
    seconds: float
    sent_severity: int
    followup_seq: int | None
