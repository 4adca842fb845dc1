"""One input is one batch: its state changes (windows, histories, episodes, the watermark and the eventIDs it
claimed) are kept together or undone together, whatever fails, so the same input again gives the alerts it
would have given the first time."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.decode import DecodeLimits, decode_slices
from monitor.engine import Engine, EngineSettings
from monitor.engine.state.memory import MemoryStore
from monitor.model import Alert, Detector, Event, FirstSeen, Hit, Severity, Threshold
from monitor.model import event as f
from monitor.offline.scan import Scanner
from tests.helpers import cloudtrail_event, iam_user


class Interrupted(BaseException):
    """What a signal raises in the middle of a batch (not an error a detector's containment catches)."""


INTERRUPT_ON: set[str] = set()  # eventIDs on which the interrupting detector raises


def watch(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.eventID in INTERRUPT_ON:
        raise Interrupted
    return Hit(value=event.sourceIPAddress)


def by_user(event: Event) -> str | None:
    return f.user_name(event) or None


def detectors() -> list[Detector]:
    common: dict[str, Any] = {"severity": Severity.MEDIUM, "mitre": ("T1078",), "runbook": "Check it.",
                              "events": frozenset({("iam.amazonaws.com", "CreateUser")}), "group_by": by_user}
    return [
        Detector(id="burst", title="Burst", match=watch, state=Threshold(count=3, window_seconds=600), **common),
        Detector(id="grouped", title="Grouped", match=watch, **common),
        Detector(id="new-address", title="New address", match=watch,
                 state=FirstSeen(label="addresses", learning_seconds=0, learn_per_key=False), **common),
    ]


def create_user(seconds: float, user: str = "alice", ip: str = "198.51.100.7") -> dict[str, Any]:
    return cloudtrail_event("CreateUser", "iam.amazonaws.com", seconds, iam_user(user), ip=ip)


def everything(store: MemoryStore) -> dict[str, Any]:
    """All a memory store holds, as plain data: every space's keys, values and expiries, and the eventIDs."""
    spaces = {name: sorted((key, store.dump(name, key)) for key, _ in store.items(name))
              for name in store.space_names()}
    return {"spaces": spaces, "event_ids": sorted(store.event_ids.oldest_first()), "unpersisted": store.unpersisted}


def memory(engine: Engine) -> MemoryStore:
    assert isinstance(engine.store, MemoryStore)
    return engine.store


def feed(engine: Engine, records: list[dict[str, Any]], origin: str = "input.jsonl") -> list[Alert]:
    """One input, read in slices of two events and applied as one batch (as `scan` applies a file)."""
    data = b"".join(orjson.dumps(record) + b"\n" for record in records)
    alerts: list[Alert] = []
    with engine.batch():
        for part in decode_slices(data, origin, DecodeLimits(slice_events=2)):
            alerts.extend(engine.process(part).alerts)
    return alerts


def outcome(engine: Engine, *inputs: list[dict[str, Any]]) -> list[bytes]:
    alerts = [alert for records in inputs for alert in feed(engine, records)] + engine.flush()
    return [alert.to_json() for alert in alerts]


EARLIER = [create_user(0), create_user(10, user="bob"), create_user(20, ip="203.0.113.9")]
INPUT = [create_user(30), create_user(40, user="carol"), create_user(50, ip="192.0.2.1"), create_user(60),
         create_user(70, user="bob", ip="192.0.2.44")]


def test_an_interrupted_batch_leaves_the_store_exactly_as_before_and_loses_no_event() -> None:
    engine = Engine(detectors())
    feed(engine, EARLIER)
    before = everything(memory(engine))
    INTERRUPT_ON.add(INPUT[4]["eventID"])  # in the third slice: two slices were applied already
    try:
        with pytest.raises(Interrupted):
            feed(engine, INPUT)
    finally:
        INTERRUPT_ON.clear()
    assert everything(memory(engine)) == before
    # The same input again: nothing of it is taken for a duplicate, the alerts are those of an engine that
    # was never interrupted.
    again = [alert.to_json() for alert in feed(engine, INPUT) + engine.flush()]
    assert again == outcome(Engine(detectors()), EARLIER, INPUT)[-len(again):]
    assert engine.stats.duplicates == 0 and again


def test_a_failure_after_records_were_processed_inside_a_batch_undoes_them_too() -> None:
    engine = Engine(detectors())
    feed(engine, EARLIER)
    before = everything(memory(engine))
    with pytest.raises(RuntimeError, match="the caller failed"), engine.batch():
        assert engine.process_records(INPUT, "inner")  # joins the open batch
        raise RuntimeError("the caller failed")
    assert everything(memory(engine)) == before
    assert engine.process_records(INPUT, "again").duplicates == 0


class BrokenStore(MemoryStore):
    """A memory store whose writes of one key fail (a full disk, a lost connection, a bug)."""

    def __init__(self, poisoned: str) -> None:
        super().__init__(dedupe_capacity=1000)
        self.poisoned: str | None = poisoned

    def put(self, space: str, key: str, value: Any, expires: float) -> None:
        if key == self.poisoned:
            raise OSError(f"cannot write {space}/{key}")
        super().put(space, key, value, expires)


def test_a_store_failing_mid_batch_rolls_the_whole_batch_back() -> None:
    store = BrokenStore(poisoned="mallory")
    engine = Engine(detectors(), store=store)
    feed(engine, EARLIER)
    before = everything(store)
    records = [*INPUT[:3], create_user(65, user="mallory"), *INPUT[3:]]
    with pytest.raises(OSError, match="mallory"):
        feed(engine, records)
    assert everything(store) == before
    store.poisoned = None
    again = [alert.to_json() for alert in feed(engine, records) + engine.flush()]
    assert again == outcome(Engine(detectors()), EARLIER, records)[-len(again):]


def test_the_scanner_undoes_a_file_that_fails_reports_it_and_goes_on(tmp_path: Path) -> None:
    paths = []
    for name, records in [("1-first", EARLIER), ("2-broken", [create_user(30, user="mallory"), *INPUT[:2]]),
                          ("3-last", INPUT[2:])]:
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
        paths.append(str(path))
    store = BrokenStore(poisoned="mallory")
    scanner = Scanner(Engine(detectors(), store=store))
    result = scanner.scan(paths)
    assert result.totals.internal_errors == 1 and result.totals.files == 3
    # The broken file counted nothing toward any window: the alerts are what the other two files give.
    latest: dict[str, bytes] = {}
    for text in outcome(Engine(detectors()), EARLIER, INPUT[2:]):
        latest[orjson.loads(text)["id"]] = text
    assert sorted(alert.to_json() for alert in result.alerts) == sorted(latest.values()) and latest
    # Its events were not remembered: once the store works, the file is read as new.
    store.poisoned = None
    rescan = Scanner(scanner.engine).scan([paths[1]])
    assert rescan.totals.duplicates == 0 and rescan.totals.events == 3


def test_an_undone_batch_brings_back_the_event_ids_its_rotation_dropped() -> None:
    # A memory of 10 ids keeps two generations; a batch that fills the newer one drops the older. Undone, the
    # batch must leave every id remembered as before, or a redelivered old event alerts twice.
    engine = Engine(detectors(), EngineSettings(dedupe_capacity=10))
    old = [create_user(i, user=f"user{i}") for i in range(15)]
    engine.process_records(old, "old")
    before = everything(memory(engine))
    fresh = [create_user(100 + i, user=f"new{i}") for i in range(7)]
    INTERRUPT_ON.add(fresh[-1]["eventID"])  # in the fourth slice: the third filled the newer generation
    try:
        with pytest.raises(Interrupted):
            feed(engine, fresh)
    finally:
        INTERRUPT_ON.clear()
    assert everything(memory(engine)) == before
    assert engine.process_records([dict(old[0])], "redelivered").duplicates == 1


def test_forgetting_unpersisted_batches_brings_back_dropped_event_ids_too() -> None:
    engine = Engine(detectors(), EngineSettings(dedupe_capacity=10))
    old = [create_user(i, user=f"user{i}") for i in range(15)]
    engine.process_records(old, "old")
    engine.store.persist()
    before = everything(memory(engine))
    for index in range(3):
        engine.process_records([create_user(100 + index * 10 + i, user=f"new{i}") for i in range(4)], "later")
    engine.forget_unpersisted()
    assert everything(memory(engine)) == before
    assert engine.process_records([dict(old[0])], "redelivered").duplicates == 1
