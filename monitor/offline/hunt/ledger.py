"""What a resumable hunt (`--state FILE`) has read, kept in the state file beside the engine's state.

One row per account, region and delivery day, not per object: objects are read in a fixed order
(the time in their names), so the objects of a day folder that are done are exactly those up to the
last one recorded, and a folder whose day was read to its end is `complete` and not even listed again.
The alerts found so far and the scan's totals are kept too. All of it is written in the transaction
that saves the engine's state (`EmbeddedStore.persist_with`), so after a crash at any instant the
file describes one consistent point of the hunt, and resuming from it gives the alerts of a run that
was never interrupted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from monitor.model import Alert
from monitor.offline.hunt.layout import ObjectRef, Trail

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hunt_query (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    query BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS hunt_days (
    folder TEXT NOT NULL,
    day TEXT NOT NULL,
    objects INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    last_name_time TEXT NOT NULL,
    last_key TEXT NOT NULL,
    complete INTEGER NOT NULL,
    PRIMARY KEY (folder, day)
);
CREATE TABLE IF NOT EXISTS hunt_alerts (
    id TEXT PRIMARY KEY,
    alert BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS hunt_totals (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    totals BLOB NOT NULL
);
"""


class OtherHunt(ValueError):
    """The state file was written by a hunt of other objects or detectors: resuming would mix them."""


@dataclass(slots=True)
class DayProgress:
    objects: int = 0
    bytes: int = 0
    last: tuple[str, str] = ("", "")  # the `ObjectRef.order` of the last object done
    complete: bool = False


class Ledger:
    def __init__(self, db: sqlite3.Connection, query: dict[str, Any]) -> None:
        db.executescript(_SCHEMA)
        wanted = orjson.dumps(query, option=orjson.OPT_SORT_KEYS)
        row = db.execute("SELECT query FROM hunt_query").fetchone()
        if row is not None and bytes(row[0]) != wanted:
            saved = orjson.loads(row[0])
            changed = sorted(key for key in set(saved) | set(query) if saved.get(key) != query.get(key))
            raise OtherHunt(f"it holds a hunt with other {', '.join(changed)}; resume with the same arguments, "
                            "or start the new hunt with another --state file")
        if row is None:
            db.execute("BEGIN")
            db.execute("INSERT INTO hunt_query (id, query) VALUES (1, ?)", (wanted,))
            db.execute("COMMIT")
        self._days: dict[tuple[str, str], DayProgress] = {}
        for folder, day, objects, size, name_time, key, complete in db.execute(
                "SELECT folder, day, objects, bytes, last_name_time, last_key, complete FROM hunt_days"):
            self._days[(folder, day)] = DayProgress(objects, size, (name_time, key), bool(complete))
        self.saved_alerts = [Alert.from_dict(orjson.loads(blob)) for (blob,) in
                             db.execute("SELECT alert FROM hunt_alerts ORDER BY id")]
        row = db.execute("SELECT totals FROM hunt_totals").fetchone()
        self.saved_totals: dict[str, Any] = orjson.loads(row[0]) if row is not None else {}
        self.resumed = bool(self._days)
        self._changed_days: set[tuple[str, str]] = set()
        self._changed_alerts: dict[str, Alert] = {}
        self._totals: dict[str, Any] | None = None

    def complete(self, trail: Trail, day: date) -> bool:
        progress = self._days.get((trail.folder, day.isoformat()))
        return progress is not None and progress.complete

    def done(self, ref: ObjectRef) -> bool:
        progress = self._days.get((ref.trail.folder, ref.day.isoformat()))
        return progress is not None and (progress.complete or ref.order <= progress.last)

    def read(self, ref: ObjectRef) -> None:
        slot = (ref.trail.folder, ref.day.isoformat())
        progress = self._days.setdefault(slot, DayProgress())
        progress.objects += 1
        progress.bytes += ref.size
        progress.last = max(progress.last, ref.order)
        self._changed_days.add(slot)

    def finished(self, trails: Iterable[Trail], day: date) -> None:
        """Every object of these folders' day was read."""
        for trail in trails:
            slot = (trail.folder, day.isoformat())
            self._days.setdefault(slot, DayProgress()).complete = True
            self._changed_days.add(slot)

    def keep(self, alerts: Iterable[Alert]) -> None:
        for alert in alerts:
            self._changed_alerts[alert.id] = alert

    def totals(self, totals: dict[str, Any]) -> None:
        self._totals = totals

    def write(self, db: sqlite3.Connection) -> None:
        """The changes since the last write (inside the caller's transaction)."""
        if self._changed_days:
            rows = []
            for folder, day in sorted(self._changed_days):
                p = self._days[(folder, day)]
                rows.append((folder, day, p.objects, p.bytes, p.last[0], p.last[1], int(p.complete)))
            db.executemany("INSERT OR REPLACE INTO hunt_days (folder, day, objects, bytes, last_name_time, last_key, "
                           "complete) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        if self._changed_alerts:
            db.executemany("INSERT OR REPLACE INTO hunt_alerts (id, alert) VALUES (?, ?)",
                           [(alert.id, alert.to_json()) for alert in self._changed_alerts.values()])
        if self._totals is not None:
            db.execute("INSERT OR REPLACE INTO hunt_totals (id, totals) VALUES (1, ?)", (orjson.dumps(self._totals),))

    def written(self) -> None:
        """The last `write` was committed."""
        self._changed_days.clear()
        self._changed_alerts.clear()
        self._totals = None
