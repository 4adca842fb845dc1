"""The embedded state store: the in-process store, made durable in an SQLite file.

`persist()` writes, in one transaction, every key changed by the batches committed since the last
persist (its current value, or its deletion) and the eventIDs they claimed. The live service calls it
after the alerts of those batches are in the outbox and before it acknowledges their sources, so
after a crash at any instant the file holds either all of a batch's effects or none of them. At start,
`restore()` loads everything back.

The file is opened with `synchronous=FULL`: a committed persist survives a power loss, not only a
killed process. Group commit in the pipeline keeps the number of fsyncs per second small.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

from monitor.engine.state.memory import MemoryStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS engine_values (
    space TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (space, key)
);
CREATE TABLE IF NOT EXISTS engine_event_ids (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL
);
"""


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
        self.persists = 0

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
            self.load(space, key, orjson.loads(value), expires)
            values += 1
        keep = 2 * self.event_ids.capacity
        rows = self._db.execute("SELECT event_id FROM engine_event_ids ORDER BY seq DESC LIMIT ?", (keep,)).fetchall()
        self.event_ids.restore(str(row[0]) for row in reversed(rows))
        if stale:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM engine_values WHERE space = ?", [(space,) for space in stale])
            self._db.execute("COMMIT")
        return values, len(rows)

    def _write(self, changed: list[tuple[str, str]], event_ids: list[str]) -> None:
        if not changed and not event_ids:
            return
        upserts = []
        deletes = []
        for space, key in changed:
            dumped = self.dump(space, key)
            if dumped is None:
                deletes.append((space, key))
            else:
                upserts.append((space, key, orjson.dumps(dumped[0], option=orjson.OPT_NON_STR_KEYS), dumped[1]))
        db = self._db
        db.execute("BEGIN")
        try:
            if deletes:
                db.executemany("DELETE FROM engine_values WHERE space = ? AND key = ?", deletes)
            if upserts:
                db.executemany("INSERT INTO engine_values (space, key, value, expires) VALUES (?, ?, ?, ?) "
                               "ON CONFLICT (space, key) DO UPDATE SET value = excluded.value, "
                               "expires = excluded.expires", upserts)
            if event_ids:
                db.executemany("INSERT INTO engine_event_ids (event_id) VALUES (?)", ((e,) for e in event_ids))
                # Keep the newest ids the memory can hold; older rows are gone from memory too.
                db.execute("DELETE FROM engine_event_ids WHERE seq <= (SELECT MAX(seq) FROM engine_event_ids) - ?",
                           (2 * self.event_ids.capacity,))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        self.persists += 1

    def close(self) -> None:
        self._db.close()
