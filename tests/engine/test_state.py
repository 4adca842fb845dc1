"""The state stores: batches kept or undone whole, persisted exactly, restored exactly."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from monitor.engine.state.embedded import EmbeddedStore, saved_event_ids
from monitor.engine.state.memory import MemoryStore
from monitor.engine.state.store import Codec


def _store() -> MemoryStore:
    store = MemoryStore(dedupe_capacity=100)
    store.space("windows")
    return store


def test_a_rolled_back_batch_leaves_values_and_event_ids_as_they_were() -> None:
    store = _store()
    store.begin()
    store.put("windows", "k", (1,), 10.0)
    assert store.claim_events(["a", "b"]) == [True, True]
    store.commit()
    store.begin()
    store.put("windows", "k", (1, 2), 20.0)
    store.put("windows", "new", (3,), 30.0)
    store.delete("windows", "k")
    assert store.claim_events(["b", "c"]) == [False, True]
    store.rollback()
    assert store.get("windows", "k") == (1,)
    assert store.get("windows", "new") is None
    assert store.claim_events(["c"]) == [True]  # its claim was undone with the batch
    assert store.claim_events(["a"]) == [False]


def test_forgetting_unpersisted_batches_goes_back_to_the_last_persist() -> None:
    store = _store()
    store.begin()
    store.put("windows", "k", "persisted", 10.0)
    store.claim_events(["a"])
    store.commit()
    store.persist()
    for value in ("one", "two"):
        store.begin()
        store.put("windows", "k", value, 10.0)
        store.claim_events([value])
        store.commit()
    store.forget_unpersisted()
    assert store.get("windows", "k") == "persisted"
    assert store.claim_events(["one", "two", "a"]) == [True, True, False]


def test_duplicates_within_one_claim_and_empty_ids() -> None:
    store = _store()
    assert store.claim_events(["x", "x", "", ""]) == [True, False, True, True]


def test_expired_values_are_swept_by_the_watermark_and_the_sweep_can_be_undone() -> None:
    store = _store()
    store.begin()
    store.put("windows", "old", 1, 100.0)
    store.put("windows", "young", 2, 10_000.0)
    store.commit()
    store.begin()
    store.expire(5_000.0)
    assert [key for key, _ in store.items("windows")] == ["young"]
    store.rollback()
    assert store.get("windows", "old") == 1


def test_embedded_store_persists_exactly_the_committed_changes(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    codec = Codec(dump=list, load=tuple)
    first = EmbeddedStore(path, dedupe_capacity=100)
    first.space("windows", codec)
    first.begin()
    first.put("windows", "kept", (1, 2), 50.0)
    first.put("windows", "deleted", (3,), 50.0)
    first.claim_events(["e1", "e2"])
    first.commit()
    first.persist()
    first.begin()
    first.delete("windows", "deleted")
    first.put("windows", "unpersisted", (9,), 50.0)
    first.claim_events(["e3"])
    first.commit()
    # No persist: a crash here loses only what no source was acknowledged for.
    first.close()

    second = EmbeddedStore(path, dedupe_capacity=100)
    second.space("windows", codec)
    assert second.restore() == (2, 2)
    assert second.get("windows", "kept") == (1, 2)
    assert second.get("windows", "deleted") == (3,)
    assert second.get("windows", "unpersisted") is None
    assert second.claim_events(["e1", "e2", "e3"]) == [False, False, True]
    second.close()


def test_embedded_store_keeps_only_the_event_ids_its_memory_holds(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "s.sqlite", dedupe_capacity=3)
    for index in range(20):
        store.begin()
        store.claim_events([f"e{index}"])
        store.commit()
        store.persist()
    saved = saved_event_ids(store._db)
    # The newest chunks that hold twice the capacity (both generations), and no older one.
    assert saved[-6:] == [f"e{index}" for index in range(14, 20)] and len(saved) <= 6 + 1
    store.close()
    again = EmbeddedStore(tmp_path / "s.sqlite", dedupe_capacity=3)
    assert again.restore() == (0, 6)
    assert again.claim_events(["e13", "e17", "e19"]) == [True, False, False]
    again.close()


def test_a_state_file_of_one_row_per_event_id_is_read_and_converted(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE engine_event_ids (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL)")
        db.executemany("INSERT INTO engine_event_ids (event_id) VALUES (?)", [("old-1",), ("old-2",)])
    store = EmbeddedStore(path, dedupe_capacity=10)
    assert store.restore() == (0, 2)
    assert store.claim_events(["old-1", "new"]) == [False, True]
    tables = {row[0] for row in store._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "engine_event_ids" not in tables
    store.close()


def test_keys_values_and_event_ids_with_lone_surrogates_are_saved_and_restored(tmp_path: Path) -> None:
    # Attacker-controlled text the standard library's JSON decoder lets through; not UTF-8.
    odd = "agent \ud800 x"
    path = tmp_path / "s.sqlite"
    store = EmbeddedStore(path, dedupe_capacity=10)
    store.space("windows")
    store.begin()
    store.put("windows", odd, {odd: [1.0, odd]}, 100.0)
    store.put("windows", "plain", (1, 2), 100.0)
    store.claim_events([odd, "plain-id"])
    store.commit()
    store.persist()
    store.close()
    again = EmbeddedStore(path, dedupe_capacity=10)
    again.space("windows")
    assert again.restore() == (2, 2)
    assert again.get("windows", odd) == {odd: [1.0, odd]} and again.get("windows", "plain") == [1, 2]
    assert again.claim_events([odd, "plain-id"]) == [False, False]
    again.close()


def test_values_of_spaces_no_longer_declared_are_dropped_at_restore(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    first = EmbeddedStore(path, dedupe_capacity=10)
    first.space("gone")
    first.space("kept")
    first.begin()
    first.put("gone", "k", 1, 9.0)
    first.put("kept", "k", 2, 9.0)
    first.commit()
    first.persist()
    first.close()
    second = EmbeddedStore(path, dedupe_capacity=10)
    second.space("kept")
    assert second.restore() == (1, 0)
    second.close()
    third = EmbeddedStore(path, dedupe_capacity=10)
    third.space("gone")
    third.space("kept")
    assert third.restore() == (1, 0)  # the stale rows are gone from the file
    third.close()


def test_a_batch_cannot_open_inside_another_or_persist_while_open() -> None:
    store = _store()
    store.begin()
    store.put("windows", "k", 1, 1.0)
    with pytest.raises(RuntimeError):
        store.begin()
    with pytest.raises(RuntimeError):
        store.persist()


def test_a_rolled_back_batch_that_rotated_the_event_id_memory_forgets_nothing_older() -> None:
    store = MemoryStore(dedupe_capacity=3)
    store.begin()
    store.claim_events(["a", "b", "c", "d"])  # a, b, c fill a generation; d starts the next
    store.commit()
    store.begin()
    assert store.claim_events(["e", "f"]) == [True, True]  # fills the newer generation: a, b, c are dropped
    store.rollback()
    assert store.claim_events(["a", "b", "c", "d", "e"]) == [False, False, False, False, True]
