"""Every key the engine reads is one `Applier.wanted` named first (a shared store has nothing else).

A store shared by replicas fetches, before a batch, the keys the batch will read; a key read without
being fetched would look absent and a detection would be missed. These tests run the engine over a
store that refuses such reads: every detector's samples, event by event, and a day of the example
organization, object by object.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from monitor.decode import decode_bytes
from monitor.demo.scenarios import example_day
from monitor.engine import Engine, EngineSettings
from monitor.engine.registry import apply_settings
from monitor.engine.settings import DetectorSettings
from monitor.engine.state.memory import MemoryStore
from monitor.engine.state.store import Wanted
from monitor.model import Detector
from monitor.offline.samples import load_cases, samples_path, with_detectors
from monitor.rules.builtin import builtin_detectors
from tests.sequences.chains import RECON, console_chain, late_link_chain, minted_key_chain, stolen_role_chain


class ReadsOnlyWhatWasWanted(MemoryStore):
    """A memory store that fails any read of a key neither fetched for this batch nor written in it."""

    def __init__(self) -> None:
        super().__init__(dedupe_capacity=100_000)
        self.allowed: set[tuple[str, str]] = set()
        self.reads = 0

    def fetched(self, wanted: Wanted) -> None:
        self.allowed = {(space, key) for space, keys in wanted.keys.items() for key in keys}

    def fetched_more(self, wanted: Wanted | None) -> None:
        """The second round (attack sequences: the actors the fetched links point to)."""
        if wanted is not None:
            self.allowed |= {(space, key) for space, keys in wanted.keys.items() for key in keys}

    def get(self, space: str, key: str) -> Any | None:
        if (space, key) not in self.allowed:
            raise AssertionError(f"read of {space}/{key!r}, which Applier.wanted did not name")
        self.reads += 1
        return super().get(space, key)

    def put(self, space: str, key: str, value: Any, expires: float) -> None:
        self.allowed.add((space, key))
        super().put(space, key, value, expires)

    def due(self, space: str, horizon: float) -> list[str]:
        keys = super().due(space, horizon)
        self.allowed.update((space, key) for key in keys)  # a shared store fetches the due ones too
        return keys


def apply_one_by_one(engine: Engine, store: ReadsOnlyWhatWasWanted, documents: list[bytes]) -> int:
    alerts = 0
    for index, document in enumerate(documents):
        found = engine.detection.detect(decode_bytes(document, f"batch {index}"))
        store.fetched(engine.applier.wanted([found]))
        store.fetched_more(engine.applier.wanted_next([found]))
        alerts += len(engine.apply(found).alerts)
    return alerts


def _with_samples() -> list[Detector]:
    detectors = []
    for detector in builtin_detectors():
        try:
            samples_path(detector).stat()
        except OSError:
            continue
        detectors.append(detector)
    return detectors


@pytest.mark.parametrize("detector", _with_samples(), ids=lambda d: d.id)
def test_each_detector_reads_only_what_it_declared(detector: Detector) -> None:
    for case in load_cases(samples_path(detector)):
        params = case.get("params") or {}
        configured = apply_settings(detector, DetectorSettings(params=params)) if params else detector
        beside = with_detectors(case, builtin_detectors())
        assert isinstance(beside, list), beside
        store = ReadsOnlyWhatWasWanted()
        engine = Engine([configured, *beside], EngineSettings(), store=store)
        documents = [orjson.dumps({"Records": [event]}) for event in case["events"]]
        alerts = apply_one_by_one(engine, store, documents)
        assert engine.stats.detector_errors.get(detector.id, 0) == 0
        if case["expect"].get("alerts", 0):
            assert alerts > 0 and store.reads > 0, case["name"]


def test_a_day_of_the_example_organization_reads_only_what_was_wanted() -> None:
    events = sorted(example_day(random.Random(7), background=2000), key=lambda event: event["eventTime"])
    documents = [orjson.dumps({"Records": events[start:start + 50]}) for start in range(0, len(events), 50)]
    store = ReadsOnlyWhatWasWanted()
    engine = Engine(builtin_detectors(), EngineSettings(), store=store)
    assert apply_one_by_one(engine, store, documents) > 10


@pytest.mark.parametrize("chain", [minted_key_chain, stolen_role_chain, console_chain, late_link_chain],
                         ids=lambda c: c.__name__)
@pytest.mark.parametrize("per_event", [True, False], ids=["event by event", "one batch"])
def test_attack_sequences_read_only_what_was_wanted(chain: Callable[[], list[dict[str, Any]]],
                                                    per_event: bool) -> None:
    """Links made and used in one batch resolve through the links the batch makes (read in the second round)."""
    events = chain()
    documents = ([orjson.dumps({"Records": [event]}) for event in events] if per_event
                 else [orjson.dumps({"Records": events})])
    store = ReadsOnlyWhatWasWanted()
    engine = Engine([*builtin_detectors(), RECON], EngineSettings(), store=store)
    apply_one_by_one(engine, store, documents)
    closed = engine.flush()
    assert [alert.detector for alert in closed if alert.detector == "attack-sequence"] or \
        engine.stats.alerts["attack-sequence"] >= 1


def test_the_strict_store_catches_a_read_nobody_declared() -> None:
    store = ReadsOnlyWhatWasWanted()
    store.space("windows")
    with pytest.raises(AssertionError, match="did not name"):
        store.get("windows", "someone")
