"""The durable outbox: alerts and their pending deliveries in SQLite (WAL, synchronous=FULL).

`record()` commits the alert and one delivery row per routed sink before it
returns, so a source may acknowledge the events behind it. Delivery workers
take due rows (highest severity first, then oldest), and mark each row
delivered right after the sink confirms it: a confirmed row is never sent
again. A row keeps its `delivery_id` across retries and restarts.

Updates and repeats (per sink, per repeat group, see router.RepeatWindow):

- no open window: the message is queued at once and a window opens;
- inside the window, a higher severity than the last message: queued at once
  (an escalation, carrying any "+N more" not yet sent);
- inside the window otherwise: no new message. The events are added to the
  window's single follow-up row ("+N more in 10 min"), due at the window end;
  while that row is unsent it takes the newest alert of the group;
- an update whose own first message is still waiting to be sent needs nothing:
  the worker reads the newest version of the alert when it sends;
- after a window with a follow-up, activity within the next window period
  chains into a new window, so steady repeats cost one message per window.

A follow-up whose alert was already delivered in its newest version (its
first message went out late) is skipped rather than sent twice.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from monitor.alerts.base import KIND_ESCALATION, KIND_NEW, KIND_REPEAT, KIND_UPDATE
from monitor.alerts.outbox_schema import (
    MERGED,
    QUEUED,
    SCHEMA,
    SUPPRESSED,
    DeadLetter,
    Due,
    RecordOutcome,
    Target,
    Thread,
    Window,
)
from monitor.model.alert import UPDATED_FOR, Alert
from monitor.model.severity import Severity


class Outbox:
    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed alert survives power loss, not just a process crash.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        # Rows a worker is sending right now; record() must not change them.
        self.in_flight: set[int] = set()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- recording -------------------------------------------------------------------------------------------------

    def record(self, items: Sequence[tuple[Alert, str, Sequence[Target]]], now: float,
               receipt: str | None = None) -> list[RecordOutcome] | None:
        """Store alerts (each with its repeat group key and routed sinks) in one transaction. With a
        `receipt` (the id of a group of alerts handed over by the replicas' stream), a group already
        recorded is not recorded again: None."""
        outcomes: list[RecordOutcome] = []
        with self._transaction():
            if receipt is not None:
                seen = self._db.execute("SELECT 1 FROM outbox_receipts WHERE receipt = ?", (receipt,)).fetchone()
                if seen is not None:
                    return None
                self._db.execute("INSERT INTO outbox_receipts (receipt, recorded) VALUES (?, ?)", (receipt, now))
            for alert, group_key, targets in items:
                outcomes.append(self._record_one(alert, group_key, targets, now))
        return outcomes

    def _record_one(self, alert: Alert, group_key: str, targets: Sequence[Target], now: float) -> RecordOutcome:
        db = self._db
        outcome = RecordOutcome(alert_id=alert.id)
        previous = db.execute(
            "SELECT count, severity, last_event_time, version, group_key FROM outbox_alerts WHERE id = ?",
            (alert.id,)).fetchone()
        if previous is None:
            delta, version = alert.count, 1
            outcome.new = True
            db.execute(
                "INSERT INTO outbox_alerts (id, body, detector, severity, count, last_event_time, version, group_key,"
                " first_recorded, last_recorded) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
                (alert.id, alert.to_json(), alert.detector, int(alert.severity), alert.count, alert.last_event_time,
                 group_key, now, now))
        else:
            count, severity, last_time, version, group_key = previous
            if alert.count <= count and alert.severity <= severity and alert.last_event_time <= last_time:
                outcome.duplicate = True  # a replay of what is already recorded
                return outcome
            delta = max(alert.count - count, 0)
            version += 1
            # A replay after a restart may restart the count or lower severity: keep the highest seen.
            merged = dataclasses.replace(alert, count=max(alert.count, count),
                                         severity=max(alert.severity, Severity(severity)),
                                         last_event_time=max(alert.last_event_time, last_time))
            alert = merged
            db.execute(
                "UPDATE outbox_alerts SET body = ?, severity = ?, count = ?, last_event_time = ?, version = ?,"
                " last_recorded = ? WHERE id = ?",
                (alert.to_json(), int(alert.severity), alert.count, alert.last_event_time, version, now, alert.id))
        for target in targets:
            outcome.per_sink[target.sink] = self._plan(target, alert, group_key, delta, now)
        return outcome

    def _known_at(self, sink: str, alert_id: str) -> bool:
        """True once any delivery row of this alert exists at this sink (sent, pending or folded)."""
        row = self._db.execute("SELECT 1 FROM outbox_deliveries WHERE sink = ? AND alert_id = ? LIMIT 1",
                               (sink, alert_id)).fetchone()
        return row is not None

    def _pending_same(self, sink: str, alert_id: str) -> tuple[int, int] | None:
        """An unsent, never-attempted immediate row for this alert at this sink: (seq, severity)."""
        rows = self._db.execute(
            "SELECT seq, severity FROM outbox_deliveries WHERE sink = ? AND alert_id = ? AND state = 'pending'"
            " AND kind != 'repeat' AND attempts = 0 ORDER BY seq", (sink, alert_id)).fetchall()
        for seq, severity in rows:
            if seq not in self.in_flight:
                return int(seq), int(severity)
        return None

    def _insert(self, sink: str, alert: Alert, group_key: str, kind: str, now: float, *, due: float,
                repeats: int = 0, window_seconds: float = 0.0) -> int:
        cursor = self._db.execute(
            "INSERT INTO outbox_deliveries (delivery_id, sink, alert_id, group_key, kind, severity, repeats,"
            " window_seconds, created, due) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, sink, alert.id, group_key, kind, int(alert.severity), repeats, window_seconds, now,
             due))
        seq = cursor.lastrowid
        assert seq is not None
        return seq

    def _immediate(self, sink: str, alert: Alert, group_key: str, now: float, *, escalation: bool = False,
                   repeats: int = 0) -> str:
        same = self._pending_same(sink, alert.id)
        if same is not None:
            seq, severity = same
            self._db.execute("UPDATE outbox_deliveries SET severity = ?, repeats = repeats + ? WHERE seq = ?",
                             (max(severity, int(alert.severity)), repeats, seq))
            return MERGED
        if escalation:
            kind = KIND_ESCALATION
        else:
            seen = self._db.execute("SELECT 1 FROM outbox_deliveries WHERE sink = ? AND alert_id = ? LIMIT 1",
                                    (sink, alert.id)).fetchone()
            kind = KIND_UPDATE if seen else KIND_NEW
        self._insert(sink, alert, group_key, kind, now, due=now, repeats=repeats)
        return QUEUED

    def _window(self, sink: str, group_key: str) -> Window | None:
        row = self._db.execute(
            "SELECT window_end, window_seconds, sent_severity, followup_seq FROM outbox_windows"
            " WHERE sink = ? AND group_key = ?", (sink, group_key)).fetchone()
        return None if row is None else Window(float(row[0]), float(row[1]), int(row[2]), row[3])

    def _save_window(self, sink: str, group_key: str, window: Window) -> None:
        self._db.execute(
            "INSERT INTO outbox_windows (sink, group_key, window_end, window_seconds, sent_severity, followup_seq)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sink, group_key) DO UPDATE SET window_end = excluded.window_end,"
            " window_seconds = excluded.window_seconds, sent_severity = excluded.sent_severity,"
            " followup_seq = excluded.followup_seq",
            (sink, group_key, window.end, window.seconds, window.sent_severity, window.followup_seq))

    def _open_followup(self, seq: int | None) -> tuple[int, int] | None:
        """The window's follow-up row if it is still unsent: (seq, repeats)."""
        if seq is None or seq in self.in_flight:
            return None
        row = self._db.execute("SELECT repeats FROM outbox_deliveries WHERE seq = ? AND state = 'pending'"
                               " AND attempts = 0", (seq,)).fetchone()
        return None if row is None else (seq, int(row[0]))

    def _plan(self, target: Target, alert: Alert, group_key: str, delta: int, now: float) -> str:
        sink, length = target.sink, target.window_seconds
        severity = int(alert.severity)
        if length <= 0 or (alert.severity >= Severity.CRITICAL and not self._known_at(sink, alert.id)):
            # A new critical detection (a second root login, from another address) is never held back
            # behind an earlier one; repeats of the same episode still fold into its window.
            return self._immediate(sink, alert, group_key, now)
        window = self._window(sink, group_key)
        if window is not None and now >= window.end:
            if window.followup_seq is not None and now < window.end + window.seconds:
                window = Window(window.end + window.seconds, window.seconds, window.sent_severity, None)
            else:
                window = None
        if window is None:
            result = self._immediate(sink, alert, group_key, now)
            self._save_window(sink, group_key, Window(now + length, length, severity, None))
            return result
        # A severity rise, or an update the engine made at once for a worse call or target (updated_for).
        if severity > window.sent_severity or alert.context.get(UPDATED_FOR):
            carried = 0
            followup = self._open_followup(window.followup_seq)
            if followup is not None:
                carried = followup[1]
                self._db.execute("UPDATE outbox_deliveries SET state = 'folded', done_at = ? WHERE seq = ?",
                                 (now, followup[0]))
            result = self._immediate(sink, alert, group_key, now, escalation=severity > window.sent_severity,
                                     repeats=carried)
            self._save_window(sink, group_key, Window(window.end, window.seconds, max(severity, window.sent_severity),
                                                      None))
            return result
        if self._pending_same(sink, alert.id) is not None:
            self._save_window(sink, group_key, window)
            return MERGED
        followup = self._open_followup(window.followup_seq)
        if followup is not None:
            self._db.execute(
                "UPDATE outbox_deliveries SET repeats = repeats + ?, severity = MAX(severity, ?),"
                " single = CASE WHEN alert_id = ? THEN single ELSE 0 END, alert_id = ? WHERE seq = ?",
                (delta, severity, alert.id, alert.id, followup[0]))
        elif delta > 0:
            seq = self._insert(sink, alert, group_key, KIND_REPEAT, now, due=window.end, repeats=delta,
                               window_seconds=window.seconds)
            window = Window(window.end, window.seconds, window.sent_severity, seq)
        self._save_window(sink, group_key, window)
        return SUPPRESSED

    # -- delivery --------------------------------------------------------------------------------------------------

    def next_due(self, sink: str, now: float) -> Due | None:
        rows = self._db.execute(
            "SELECT seq, delivery_id, sink, alert_id, kind, repeats, single, window_seconds, attempts, created, due"
            " FROM outbox_deliveries WHERE sink = ? AND state = 'pending' AND due <= ?"
            " ORDER BY severity DESC, due, seq LIMIT 8", (sink, now)).fetchall()
        for row in rows:
            if row[0] not in self.in_flight:
                return Due(int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), int(row[5]),
                           bool(row[6]), float(row[7]), int(row[8]), float(row[9]), float(row[10]))
        return None

    def next_due_time(self, sink: str) -> float | None:
        row = self._db.execute("SELECT MIN(due) FROM outbox_deliveries WHERE sink = ? AND state = 'pending'",
                               (sink,)).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def alert_body(self, alert_id: str) -> tuple[bytes, int] | None:
        row = self._db.execute("SELECT body, version FROM outbox_alerts WHERE id = ?", (alert_id,)).fetchone()
        return None if row is None else (bytes(row[0]), int(row[1]))

    def already_sent(self, sink: str, alert_id: str, version: int) -> bool:
        row = self._db.execute(
            "SELECT MAX(sent_version) FROM outbox_deliveries WHERE sink = ? AND alert_id = ? AND state = 'delivered'",
            (sink, alert_id)).fetchone()
        return row is not None and row[0] is not None and int(row[0]) >= version

    def mark_delivered(self, seq: int, version: int, now: float) -> None:
        self._db.execute("UPDATE outbox_deliveries SET state = 'delivered', sent_version = ?, done_at = ?,"
                         " attempts = attempts + 1 WHERE seq = ?", (version, now, seq))

    def mark_folded(self, seq: int, now: float) -> None:
        self._db.execute("UPDATE outbox_deliveries SET state = 'folded', done_at = ? WHERE seq = ?", (now, seq))

    def mark_failed(self, seq: int, reason: str) -> int:
        self._db.execute("UPDATE outbox_deliveries SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
                         (reason, seq))
        row = self._db.execute("SELECT attempts FROM outbox_deliveries WHERE seq = ?", (seq,)).fetchone()
        return int(row[0]) if row else 0

    def dead_letter(self, seq: int, reason: str, now: float) -> DeadLetter | None:
        with self._transaction():
            return self._dead_letter(seq, reason, now)

    def _dead_letter(self, seq: int, reason: str, now: float) -> DeadLetter | None:
        row = self._db.execute(
            "SELECT d.delivery_id, d.sink, d.alert_id, d.kind, d.attempts, d.created, a.body"
            " FROM outbox_deliveries d LEFT JOIN outbox_alerts a ON a.id = d.alert_id"
            " WHERE d.seq = ? AND d.state = 'pending'", (seq,)).fetchone()
        if row is None:
            return None
        delivery_id, sink, alert_id, kind, attempts, created, body = row
        self._db.execute(
            "INSERT OR REPLACE INTO outbox_dead_letters (seq, delivery_id, sink, alert_id, kind, body, reason,"
            " attempts, created, dead_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, delivery_id, sink, alert_id, kind, body or b"{}", reason, attempts, created, now))
        self._db.execute("UPDATE outbox_deliveries SET state = 'dead', done_at = ? WHERE seq = ?", (now, seq))
        return DeadLetter(seq, str(delivery_id), str(sink), str(alert_id), int(attempts), reason)

    def expire(self, sink: str, due_before: float, now: float) -> list[DeadLetter]:
        """Dead-letter every pending row of `sink` that has been due since before `due_before`."""
        rows = self._db.execute(
            "SELECT seq, last_error FROM outbox_deliveries WHERE sink = ? AND state = 'pending' AND due < ?",
            (sink, due_before)).fetchall()
        if not rows:
            return []
        letters: list[DeadLetter] = []
        with self._transaction():
            for seq, last_error in rows:
                if seq in self.in_flight:
                    continue
                letter = self._dead_letter(int(seq), f"max age exceeded (last error: {last_error or 'none'})", now)
                if letter is not None:
                    letters.append(letter)
        return letters

    # -- threads (sinks that reply to their first message, see slack.py) ---------------------------------------------
    # Each write commits on its own: a posted message is recorded before the next call is made.

    def thread(self, sink: str, alert_id: str) -> Thread | None:
        row = self._db.execute("SELECT channel, ts, delivery_id FROM outbox_threads WHERE sink = ? AND alert_id = ?",
                               (sink, alert_id)).fetchone()
        return None if row is None else Thread(str(row[0]), str(row[1]), str(row[2]))

    def save_thread(self, sink: str, alert_id: str, thread: Thread, now: float) -> None:
        self._db.execute(
            "INSERT INTO outbox_threads (sink, alert_id, channel, ts, delivery_id, posted) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (sink, alert_id) DO UPDATE SET channel = excluded.channel, ts = excluded.ts,"
            " delivery_id = excluded.delivery_id, posted = excluded.posted",
            (sink, alert_id, thread.channel, thread.ts, thread.delivery_id, now))

    def step_done(self, sink: str, delivery_id: str, step: str) -> bool:
        row = self._db.execute("SELECT 1 FROM outbox_steps WHERE sink = ? AND delivery_id = ? AND step = ?",
                               (sink, delivery_id, step)).fetchone()
        return row is not None

    def mark_step(self, sink: str, delivery_id: str, step: str, now: float) -> None:
        self._db.execute("INSERT OR IGNORE INTO outbox_steps (sink, delivery_id, step, done_at) VALUES (?, ?, ?, ?)",
                         (sink, delivery_id, step, now))

    # -- inspection and housekeeping ---------------------------------------------------------------------------------

    def pending_by_sink(self, now: float) -> dict[str, tuple[int, float]]:
        """Per sink: (pending rows, age in seconds of the longest-due one)."""
        rows = self._db.execute(
            "SELECT sink, COUNT(*), MIN(CASE WHEN due <= ? THEN due END) FROM outbox_deliveries"
            " WHERE state = 'pending' GROUP BY sink", (now,)).fetchall()
        return {str(sink): (int(count), max(0.0, now - float(oldest)) if oldest is not None else 0.0)
                for sink, count, oldest in rows}

    def pending_of(self, sink: str, now: float) -> tuple[int, float]:
        """(pending rows, age in seconds of the longest-due one) for one sink."""
        row = self._db.execute(
            "SELECT COUNT(*), MIN(CASE WHEN due <= ? THEN due END) FROM outbox_deliveries"
            " WHERE state = 'pending' AND sink = ?", (now, sink)).fetchone()
        count, oldest = row
        return int(count), max(0.0, now - float(oldest)) if oldest is not None else 0.0

    def deliveries(self, sink: str | None = None) -> list[dict[str, object]]:
        """Every delivery row (for tests and `trailsentry` inspection tools)."""
        query = ("SELECT seq, delivery_id, sink, alert_id, kind, severity, repeats, state, attempts, due"
                 " FROM outbox_deliveries")
        args: tuple[str, ...] = ()
        if sink is not None:
            query += " WHERE sink = ?"
            args = (sink,)
        names = ("seq", "delivery_id", "sink", "alert_id", "kind", "severity", "repeats", "state", "attempts", "due")
        return [dict(zip(names, row, strict=True)) for row in self._db.execute(query + " ORDER BY seq", args)]

    def dead_letters(self) -> list[DeadLetter]:
        rows = self._db.execute("SELECT seq, delivery_id, sink, alert_id, attempts, reason FROM outbox_dead_letters"
                                " ORDER BY seq").fetchall()
        return [DeadLetter(int(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), str(r[5])) for r in rows]

    def prune(self, now: float, retention_seconds: float) -> None:
        cutoff = now - retention_seconds
        with self._transaction():
            self._db.execute("DELETE FROM outbox_deliveries WHERE state != 'pending' AND done_at < ?", (cutoff,))
            self._db.execute(
                "DELETE FROM outbox_alerts WHERE last_recorded < ? AND id NOT IN"
                " (SELECT alert_id FROM outbox_deliveries WHERE state = 'pending')", (cutoff,))
            # A thread lives as long as its alert: an alert id seen again after that starts a new message.
            self._db.execute("DELETE FROM outbox_threads WHERE alert_id NOT IN (SELECT id FROM outbox_alerts)")
            self._db.execute("DELETE FROM outbox_steps WHERE done_at < ?", (cutoff,))
            self._db.execute("DELETE FROM outbox_windows WHERE window_end + window_seconds < ?", (now,))
            self._db.execute("DELETE FROM outbox_receipts WHERE recorded < ?", (cutoff,))
            self._db.execute("DELETE FROM outbox_dead_letters WHERE dead_at < ?",
                             (now - max(retention_seconds, 30 * 86400.0),))
