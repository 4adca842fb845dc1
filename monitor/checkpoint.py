"""Durable source cursors in the embedded SQLite file.

Sources keep small string cursors per key (one per account and region, one per log group, one per
file). Writes are buffered and made durable by `commit()`; SQLite's WAL mode keeps commits cheap. All
calls are synchronous and fast (local disk); callers on the event loop batch them. The engine's state
lives in the same file, written through its own connection (`monitor.engine.state.embedded`).

`Cursors` is what a source sees; replicas give a source they run one at a time cursors kept in Redis
(`monitor.replicas.cursors`), so whichever replica takes it over goes on from where it was.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Protocol


class Cursors(Protocol):
    def get(self, source: str, key: str) -> str | None: ...

    def items(self, source: str) -> dict[str, str]: ...

    def put(self, source: str, key: str, value: str) -> None: ...

    def delete(self, source: str, key: str) -> None: ...

    def commit(self) -> None:
        """Make the puts and deletes so far durable (or on their way: see the implementation)."""
        ...

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (source, key)
);
"""


class CheckpointStore:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")  # the engine's store writes the same file
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
