"""The outbox on its own: durability across connections and housekeeping."""

from __future__ import annotations

from pathlib import Path

from monitor.alerts.outbox import Outbox
from monitor.alerts.outbox_schema import Target
from tests.alerts.conftest import T0, make_alert


def test_prune_drops_finished_rows_after_retention_and_keeps_pending(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.record([(make_alert("done"), "g1", [Target("s", 0)]), (make_alert("waiting"), "g2", [Target("s", 0)])], T0)
    due = outbox.next_due("s", T0)
    assert due is not None
    outbox.mark_delivered(due.seq, 1, T0)
    outbox.prune(T0 + 10 * 86400, retention_seconds=7 * 86400)
    remaining = outbox.deliveries()
    assert [(r["alert_id"], r["state"]) for r in remaining] == [("waiting", "pending")]
    assert outbox.alert_body("done") is None
    assert outbox.alert_body("waiting") is not None
    outbox.close()


def test_committed_record_is_visible_to_a_new_connection(tmp_path: Path) -> None:
    first = Outbox(tmp_path / "o.sqlite")
    first.record([(make_alert("a1"), "g", [Target("s", 600)])], T0)
    second = Outbox(tmp_path / "o.sqlite")
    assert [r["alert_id"] for r in second.deliveries("s")] == ["a1"]
    first.close()
    second.close()
