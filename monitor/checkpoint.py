"""Durable cursors, the recent-eventID memory and the engine's state and history, in one embedded SQLite file.

Sources keep small string cursors per key (one per account and region, one
per log group); the pipeline persists the engine's eventID de-duplication set
so a restart does not re-alert on redelivered events. Writes are buffered and
made durable by `commit()`; SQLite's WAL mode keeps commits cheap. All calls
are synchronous and fast (local disk); callers on the event loop batch them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (source, key)
);
CREATE TABLE IF NOT EXISTS state (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS history (
    detector TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    PRIMARY KEY (detector, key)
);
CREATE TABLE IF NOT EXISTS seen_events (
    position INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL
);
"""


class CheckpointStore:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._pending: dict[tuple[str, str], str | None] = {}

    def get(self, source: str, key: str) -> str | None:
        if (source, key) in self._pending:
            return self._pending[(source, key)]
        row = self._db.execute("SELECT value FROM cursors WHERE source = ? AND key = ?", (source, key)).fetchone()
        return None if row is None else str(row[0])

    def items(self, source: str) -> dict[str, str]:
        rows = self._db.execute("SELECT key, value FROM cursors WHERE source = ?", (source,)).fetchall()
        values = {str(k): str(v) for k, v in rows}
        for (pending_source, key), value in self._pending.items():
            if pending_source != source:
                continue
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
        return values

    def put(self, source: str, key: str, value: str) -> None:
        self._pending[(source, key)] = value

    def delete(self, source: str, key: str) -> None:
        self._pending[(source, key)] = None

    def commit(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        with self._transaction():
            for (source, key), value in pending.items():
                if value is None:
                    self._db.execute("DELETE FROM cursors WHERE source = ? AND key = ?", (source, key))
                else:
                    self._db.execute(
                        "INSERT INTO cursors (source, key, value) VALUES (?, ?, ?) "
                        "ON CONFLICT (source, key) DO UPDATE SET value = excluded.value",
                        (source, key, value),
                    )

    def save_seen_events(self, event_ids: Iterable[str]) -> None:
        """Replace the persisted eventID memory (oldest first)."""
        with self._transaction():
            self._db.execute("DELETE FROM seen_events")
            self._db.executemany("INSERT INTO seen_events (event_id) VALUES (?)", ((e,) for e in event_ids))

    def load_seen_events(self) -> list[str]:
        rows = self._db.execute("SELECT event_id FROM seen_events ORDER BY position").fetchall()
        return [str(row[0]) for row in rows]

    def save_state(self, name: str, value: bytes) -> None:
        """Replace a named blob (the engine's windows and open episodes)."""
        self._db.execute("INSERT INTO state (name, value) VALUES (?, ?) "
                         "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (name, value))

    def load_state(self, name: str) -> bytes | None:
        row = self._db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        return None if row is None else bytes(row[0])

    def save_history(self, rows: Iterable[tuple[str, str, bytes | None]]) -> None:
        """Upsert changed first-seen / usual-rate history rows; None deletes the row."""
        with self._transaction():
            for detector, key, value in rows:
                if value is None:
                    self._db.execute("DELETE FROM history WHERE detector = ? AND key = ?", (detector, key))
                else:
                    self._db.execute("INSERT INTO history (detector, key, value) VALUES (?, ?, ?) "
                                     "ON CONFLICT (detector, key) DO UPDATE SET value = excluded.value",
                                     (detector, key, value))

    def load_history(self) -> list[tuple[str, str, bytes]]:
        rows = self._db.execute("SELECT detector, key, value FROM history").fetchall()
        return [(str(detector), str(key), bytes(value)) for detector, key, value in rows]

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        self.commit()
        self._db.close()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")
