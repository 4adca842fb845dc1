"""The embedded state store: the in-process store, made durable in an SQLite file.

`persist()` writes, in one transaction, every key changed by the batches committed since the last
persist (its current value, or its deletion) and the eventIDs they claimed, as one row: a row per
eventID cost more than the rest of the commit (~1.3 us per event). The live service calls it
after the alerts of those batches are in the outbox and before it acknowledges their sources, so
after a crash at any instant the file holds either all of a batch's effects or none of them. At start,
`restore()` loads everything back.

The file is opened with `synchronous=FULL`: a committed persist survives a power loss, not only a
killed process. Group commit in the pipeline keeps the number of fsyncs per second small.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable
from pathlib import Path

from monitor.engine.state.memory import MemoryStore
from monitor.engine.state.text import from_column, from_json, to_column, to_json

_SCHEMA = """
CREATE TABLE IF NOT EXISTS engine_values (
    space TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (space, key)
);
CREATE TABLE IF NOT EXISTS engine_event_id_chunks (
    seq INTEGER PRIMARY KEY,
    count INTEGER NOT NULL,
    event_ids BLOB NOT NULL  -- a JSON array, oldest first
);
"""
_FORMER_EVENT_IDS = "engine_event_ids"  # one row per id, before chunks


def saved_event_ids(db: sqlite3.Connection) -> list[str]:
    """Every eventID saved in a state file, oldest first (for restore, and for tests reading the file)."""
    ids: list[str] = []
    for (chunk,) in db.execute("SELECT event_ids FROM engine_event_id_chunks ORDER BY seq"):
        ids.extend(from_json(chunk))
    return ids


class EmbeddedStore(MemoryStore):
    def __init__(self, path: Path | str, dedupe_capacity: int) -> None:
        super().__init__(dedupe_capacity)
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        self._migrate()
        self._chunks: deque[tuple[int, int]] = deque(  # (seq, count) of the saved eventID chunks, oldest first
            self._db.execute("SELECT seq, count FROM engine_event_id_chunks ORDER BY seq").fetchall())
        self.persists = 0
        self._also: Callable[[sqlite3.Connection], None] | None = None

    @property
    def database(self) -> sqlite3.Connection:
        """The state file, for a caller that keeps rows of its own beside the engine's (a hunt's progress)."""
        return self._db

    def persist_with(self, also: Callable[[sqlite3.Connection], None]) -> None:
        """`persist()`, with the rows `also` writes in the same transaction: durable together or not at all."""
        self._also = also
        try:
            self.persist()
        finally:
            self._also = None

    def _migrate(self) -> None:
        """A state file of an earlier version kept one row per eventID: move them into one chunk."""
        former = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                  (_FORMER_EVENT_IDS,)).fetchone()
        if former is None:
            return
        rows = self._db.execute(f"SELECT event_id FROM {_FORMER_EVENT_IDS} ORDER BY seq")
        ids = [from_column(row[0]) for row in rows]
        self._db.execute("BEGIN")
        if ids:
            self._db.execute("INSERT INTO engine_event_id_chunks (count, event_ids) VALUES (?, ?)",
                             (len(ids), to_json(ids)))
        self._db.execute(f"DROP TABLE {_FORMER_EVENT_IDS}")
        self._db.execute("COMMIT")

    def restore(self) -> tuple[int, int]:
        """Load saved values of declared spaces (rows of spaces no longer declared are dropped) and the
        eventID memory. Call after every space is declared, before any batch. Returns (values, ids)."""
        known = set(self.space_names())
        values = 0
        stale: set[str] = set()
        for space, key, value, expires in self._db.execute("SELECT space, key, value, expires FROM engine_values"):
            if space not in known:
                stale.add(space)
                continue
            self.load(space, from_column(key), from_json(value), expires)
            values += 1
        ids = saved_event_ids(self._db)[-2 * self.event_ids.capacity:]
        self.event_ids.restore(ids)
        if stale:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM engine_values WHERE space = ?", [(space,) for space in stale])
            self._db.execute("COMMIT")
        return values, len(ids)

    def _write(self, changed: list[tuple[str, str]], event_ids: list[str]) -> None:
        if not changed and not event_ids and self._also is None:
            return
        upserts = []
        deletes = []
        for space, key in changed:
            dumped = self.dump(space, key)
            if dumped is None:
                deletes.append((space, to_column(key)))
            else:
                upserts.append((space, to_column(key), to_json(dumped[0]), dumped[1]))
        db = self._db
        db.execute("BEGIN")
        try:
            if deletes:
                db.executemany("DELETE FROM engine_values WHERE space = ? AND key = ?", deletes)
            if upserts:
                db.executemany("INSERT INTO engine_values (space, key, value, expires) VALUES (?, ?, ?, ?) "
                               "ON CONFLICT (space, key) DO UPDATE SET value = excluded.value, "
                               "expires = excluded.expires", upserts)
            chunks = self._chunks.copy()
            if event_ids:
                cursor = db.execute("INSERT INTO engine_event_id_chunks (count, event_ids) VALUES (?, ?)",
                                    (len(event_ids), to_json(event_ids)))
                assert cursor.lastrowid is not None
                chunks.append((cursor.lastrowid, len(event_ids)))
                # Keep the chunks that hold the newest ids the memory can hold; older ones are gone from it too.
                total = sum(count for _, count in chunks)
                dropped = 0
                while total - chunks[0][1] >= 2 * self.event_ids.capacity:
                    dropped, count = chunks.popleft()
                    total -= count
                if dropped:
                    db.execute("DELETE FROM engine_event_id_chunks WHERE seq <= ?", (dropped,))
            if self._also is not None:
                self._also(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self._chunks = chunks
        self.persists += 1

    def close(self) -> None:
        self._db.close()
