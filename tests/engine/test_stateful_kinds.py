"""The engine's stateful kinds: sequences, first-seen history and usual rates, their bounds, narrowing, and
their state across restarts (a new engine on the same state file)."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.engine import Engine
from monitor.engine.kinds.first_seen import GRANULARITY
from monitor.engine.registry import RegistryError, apply_settings
from monitor.engine.settings import DetectorSettings
from monitor.engine.state.embedded import EmbeddedStore
from monitor.engine.state.memory import MemoryStore
from monitor.model import Alert, Detector, Event, FirstSeen, Hit, Preceded, RateBaseline, Severity, keys
from monitor.model.detector import IDENTITY_CENTER, INSTANCE_SESSION, TASK_OR_FUNCTION_SESSION

DAY = 86400
T0 = datetime(2026, 5, 4, tzinfo=UTC).timestamp()
ACCOUNT = "111122223333"
_counter = [0]


def event(offset: float, name: str = "Call", who: str = "alice", value: Any = "a", **extra: Any) -> dict[str, Any]:
    """A call by `who`; `value` is what the learners here learn (in requestParameters)."""
    _counter[0] += 1
    when = datetime.fromtimestamp(T0 + offset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"eventID": f"e{_counter[0]}", "eventTime": when, "eventSource": "test.amazonaws.com", "eventName": name,
            "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/{who}"},
            "recipientAccountId": ACCOUNT, "requestParameters": {"value": value}, **extra}


def _who(event: Event) -> str | None:
    return event.userIdentity.arn or None


def _value(event: Event) -> str | None:
    value = event.request().get("value")
    return value if isinstance(value, str) else None


def _any(event: Event, params: Mapping[str, Any]) -> Hit | None:
    return Hit(value=_value(event), prior=event.eventName == "Prior")


def detector(**changes: Any) -> Detector:
    declared: dict[str, Any] = {
        "match": _any, "events": frozenset({("test.amazonaws.com", "Call"), ("test.amazonaws.com", "Prior")}),
        "group_by": _who, **changes}
    return Detector(id="kind-under-test", title="t", severity=Severity.MEDIUM, mitre=("T1078",), runbook="r",
                    **declared)


def run(engine: Engine, events: list[dict[str, Any]], *, flush: bool = True) -> list[Alert]:
    alerts = {a.id: a for a in engine.process_records(events, "test").alerts}
    if flush:
        alerts.update({a.id: a for a in engine.flush()})
    return list(alerts.values())


@pytest.fixture
def state_file(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "state.sqlite"
    for store in _opened:
        store.close()
    _opened.clear()


_opened: list[EmbeddedStore] = []


def durable(detectors: list[Detector], path: Path) -> Engine:
    """An engine on the state file at `path`, restored from it as `run` starts one."""
    store = EmbeddedStore(path, dedupe_capacity=100_000)
    _opened.append(store)
    engine = Engine(detectors, store=store)
    store.restore()
    engine.restored()
    return engine


# -- preceded ------------------------------------------------------------------------------------------------


SEQUENCE = detector(state=Preceded(count=3, window_seconds=600, label="priors"))


def test_a_trigger_after_enough_priors_fires_with_all_of_them() -> None:
    priors = [event(i * 60, "Prior") for i in range(3)]
    trigger = event(300)
    [alert] = run(Engine([SEQUENCE]), [*priors, trigger])
    assert alert.count == 4
    assert alert.context["priors"] == 3
    assert alert.event_ids == [e["eventID"] for e in [*priors, trigger]]


def test_priors_alone_never_fire_and_old_or_other_keys_priors_do_not_count() -> None:
    assert run(Engine([SEQUENCE]), [event(i, "Prior") for i in range(10)]) == []
    old = [event(i, "Prior") for i in range(3)]
    assert run(Engine([SEQUENCE]), [*old, event(700)]) == []
    others = [event(i, "Prior", who="bob") for i in range(3)]
    assert run(Engine([SEQUENCE]), [*others, event(60)]) == []


def test_a_trigger_clears_the_priors_it_explained() -> None:
    engine = Engine([SEQUENCE])
    [alert] = run(engine, [*(event(i, "Prior") for i in range(3)), event(10), event(20)], flush=False)
    assert alert.count == 4  # the second trigger follows no priors of its own: it adds nothing
    [again] = run(engine, [*(event(30 + i, "Prior") for i in range(3)), event(40)])
    assert (again.id, again.count) == (alert.id, 8)  # a new burst in the episode joins it


def test_sequence_priors_survive_a_restart(state_file: Path) -> None:
    first = durable([SEQUENCE], state_file)
    run(first, [event(i, "Prior") for i in range(3)], flush=False)
    first.store.persist()
    [alert] = run(durable([SEQUENCE], state_file), [event(120)])
    assert alert.count == 4


# -- first seen ----------------------------------------------------------------------------------------------


SEEN = detector(state=FirstSeen(label="new_values", history_seconds=14 * DAY, learning_seconds=7 * DAY))


def learning(days: range, value: str = "a", who: str = "alice") -> list[dict[str, Any]]:
    return [event(d * DAY, value=value, who=who) for d in days]


def test_a_new_value_after_learning_fires_and_known_values_do_not() -> None:
    engine = Engine([SEEN])
    assert run(engine, learning(range(8)), flush=False) == []
    [alert] = run(engine, [event(8 * DAY, value="b"), event(8 * DAY + 60, value="a"), event(8 * DAY + 120, value="c")])
    assert alert.context["new_values"] == ["b", "c"]
    assert alert.count == 2  # the novel events only: "a" is known


def test_quiet_while_learning_and_for_a_principal_seen_for_the_first_time() -> None:
    assert run(Engine([SEEN]), [*learning(range(3)), event(3 * DAY, value="b")]) == []
    assert run(Engine([SEEN]), [*learning(range(8)), event(8 * DAY, value="b", who="newcomer")]) == []


def test_a_value_not_seen_within_the_history_window_is_new_again() -> None:
    events = [event(0, value="b"), *learning(range(20)), event(20 * DAY, value="b")]
    [alert] = run(Engine([SEEN]), events)
    assert alert.context["new_values"] == ["b"]


def test_detector_level_learning_alerts_on_a_key_first_seen_after_it() -> None:
    spec = FirstSeen(label="new", learning_seconds=DAY, learn_per_key=False)
    engine = Engine([detector(state=spec)])
    assert run(engine, [event(0, who="old")], flush=False) == []
    [alert] = run(engine, [event(2 * DAY, who="newcomer")])
    assert alert.principal.endswith("user/newcomer")


def test_a_standalone_value_alerts_even_while_learning_and_a_quiet_one_never() -> None:
    def telling(event: Event, params: Mapping[str, Any]) -> Hit | None:
        value = _value(event)
        return Hit(value=value, standalone=value == "alarming", quiet=value == "own")

    learner = detector(match=telling, state=FirstSeen(label="new", learning_seconds=7 * DAY))
    [alert] = run(Engine([learner]), [event(0, value="alarming"), event(60, value="own"), event(120, value="x")])
    assert alert.context["new"] == ["alarming"]
    engine = Engine([learner])
    run(engine, learning(range(8), value="a"), flush=False)
    assert run(engine, [event(8 * DAY, value="own")]) == []  # learned, never news
    assert run(engine, [event(8 * DAY + 60, value="own")]) == []


def memory(engine: Engine) -> MemoryStore:
    assert isinstance(engine.store, MemoryStore)  # EmbeddedStore is one
    return engine.store


def history(engine: Engine, detector_id: str = "kind-under-test") -> dict[str, Any]:
    """The first-seen rows the engine holds: key -> (first seen, last activity, {value: last seen})."""
    return dict(memory(engine).items(f"history/{detector_id}"))


def test_history_is_bounded_in_keys_and_values() -> None:
    spec = FirstSeen(label="new", learning_seconds=0, max_keys=10, max_values=3)
    engine = Engine([detector(state=spec)])
    run(engine, [event(i, who=f"user{i}") for i in range(25)])
    assert 0 < len(history(engine)) <= 10
    run(engine, [event(100 + i, who="user24", value=f"v{i}") for i in range(10)])
    [(_, _, values)] = [row for key, row in history(engine).items() if key.endswith("user/user24")]
    assert sorted(values) == ["v7", "v8", "v9"]  # the most recently seen


def test_history_survives_a_restart_and_a_fresh_engine_is_still_learning(state_file: Path) -> None:
    first = durable([SEEN], state_file)
    run(first, learning(range(8)), flush=False)
    assert memory(first).unpersisted
    first.store.persist()
    assert not memory(first).unpersisted  # persisted once
    second = durable([SEEN], state_file)
    assert not memory(second).unpersisted  # what was loaded is not a change
    [alert] = run(second, [event(8 * DAY, value="b")])
    assert alert.context["new_values"] == ["b"]
    # A fresh engine without the history is still learning: the same event is quiet.
    assert run(Engine([SEEN]), [event(8 * DAY, value="b")]) == []


class WritesKept(MemoryStore):
    """A memory store that remembers every key written, space by space."""

    def __init__(self) -> None:
        super().__init__(dedupe_capacity=100_000)
        self.written: list[tuple[str, str]] = []

    def put(self, space: str, key: str, value: Any, expires: float) -> None:
        self.written.append((space, key))
        super().put(space, key, value, expires)


def test_repeated_sightings_within_the_granularity_are_not_written() -> None:
    store = WritesKept()
    engine = Engine([SEEN], store=store)
    alice = f"arn:aws:iam::{ACCOUNT}:user/alice"
    run(engine, [event(0)], flush=False)
    assert ("history/kind-under-test", alice) in store.written
    store.written.clear()
    run(engine, [event(GRANULARITY / 2)], flush=False)
    assert [key for space, key in store.written if space.startswith("history/")] == []
    run(engine, [event(GRANULARITY * 2)], flush=False)
    assert [key for space, key in store.written if space.startswith("history/")] == [alice]


def test_repeats_in_one_slice_fold_and_count_as_event_by_event() -> None:
    # Detection folds a slice's repeats of one key and value into one finding; the state replays them.
    folding = detector(state=FirstSeen(label="new", learning_seconds=0, learn_per_key=False, fold_repeats=True))
    events = [event(i * 10, value="a" if i % 2 else "b") for i in range(30)]
    together = run(Engine([folding]), events)
    one_by_one = Engine([folding])
    apart: dict[str, Alert] = {}
    for e in events:
        apart.update({a.id: a for a in one_by_one.process_records([e], "one").alerts})
    apart.update({a.id: a for a in one_by_one.flush()})
    assert [a.to_json() for a in together] == [a.to_json() for a in apart.values()]
    [alert] = together
    assert alert.context["new"] == ["b", "a"] and alert.count == 30
    assert alert.event_ids == [e["eventID"] for e in events[:20]]  # the first "a" is listed, in its place


def test_first_seen_settings_set_history_and_learning_not_a_threshold() -> None:
    tuned = apply_settings(SEEN, DetectorSettings(window_seconds=3 * DAY, learning_seconds=0))
    assert isinstance(tuned.state, FirstSeen)
    assert (tuned.state.history_seconds, tuned.state.learning_seconds) == (3 * DAY, 0)
    with pytest.raises(RegistryError, match="first-seen detectors take only window_seconds"):
        apply_settings(SEEN, DetectorSettings(threshold=3))


# -- usual rate ----------------------------------------------------------------------------------------------


RATE = detector(state=RateBaseline(bucket_seconds=3600, factor=10.0, min_count=20, learning_seconds=DAY,
                                   key_learning_seconds=DAY))


def steady(days: range, per_hour: int, who: str = "alice") -> list[dict[str, Any]]:
    return [event(d * DAY + i * 60, who=who) for d in days for i in range(per_hour)]


def test_a_burst_far_above_the_usual_rate_fires_and_counts_the_whole_burst() -> None:
    engine = Engine([RATE])
    assert run(engine, steady(range(3), 2), flush=False) == []
    [alert] = run(engine, [event(3 * DAY + i * 10, who="alice") for i in range(30)])
    assert alert.context["reason"] == "above usual rate"
    assert alert.context["usual_per_bucket"] == 2.0
    assert alert.count == 30


def test_a_first_time_principal_after_learning_fires_once() -> None:
    engine = Engine([RATE])
    run(engine, steady(range(2), 1), flush=False)
    [alert] = run(engine, [event(2 * DAY + i, who="bob") for i in range(5)])
    assert alert.context["reason"] == "first seen"
    assert alert.count == 5


def test_usual_volume_and_bursts_below_min_count_stay_quiet() -> None:
    assert run(Engine([RATE]), steady(range(4), 15)) == []
    assert run(Engine([RATE]), [*steady(range(3), 1), *steady(range(3, 4), 15)]) == []


def test_rate_history_survives_a_restart(state_file: Path) -> None:
    first = durable([RATE], state_file)
    run(first, steady(range(3), 2), flush=False)
    first.store.persist()
    [alert] = run(durable([RATE], state_file), [event(3 * DAY + i, who="alice") for i in range(25)])
    assert alert.context["reason"] == "above usual rate"


def test_saved_rows_of_hostile_shape_raise_a_clear_error_not_half_state(state_file: Path) -> None:
    first = durable([SEEN], state_file)
    run(first, learning(range(2)), flush=False)
    first.store.persist()
    hostile = orjson.dumps({"first": "not a number", "last": 0, "values": {"a": 1}})
    with sqlite3.connect(state_file) as db:
        db.execute("UPDATE engine_values SET value = ? WHERE space = 'history/kind-under-test'", (hostile,))
    store = EmbeddedStore(state_file, dedupe_capacity=100)
    _opened.append(store)
    Engine([SEEN], store=store)
    with pytest.raises((KeyError, TypeError, ValueError)):
        store.restore()
    assert store.size("history/kind-under-test") == 0  # the row is not half loaded


# -- declarations and narrowing ------------------------------------------------------------------------------


def test_a_kind_without_group_by_is_refused() -> None:
    with pytest.raises(ValueError, match="needs group_by"):
        dataclasses.replace(SEEN, group_by=None)
    keyed_by_hits = dataclasses.replace(SEEN, group_by=keys())
    assert keyed_by_hits.stateful


def test_a_kind_keyed_by_its_hits_skips_hits_without_a_key() -> None:
    def sometimes_keyed(event: Event, params: Mapping[str, Any]) -> Hit | None:
        value = _value(event)
        return Hit(key=None if value == "nokey" else _who(event), value=value)

    learner = detector(match=sometimes_keyed, group_by=keys(), state=FirstSeen(label="new", learning_seconds=0,
                                                                              learn_per_key=False))
    engine = Engine([learner])
    alerts = run(engine, [event(0, value="nokey"), event(60, value="x")])
    assert [a.context["new"] for a in alerts] == [["x"]]
    assert engine.stats.detector_errors == {}


def _seen_by(store: list[str]) -> Any:
    def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
        store.append(event.eventID)
        return None
    return match


def _catch_all(detector_id: str, store: list[str], **narrowing: Any) -> Detector:
    return Detector(id=detector_id, title="t", severity=Severity.LOW, mitre=("T1078",), runbook="r",
                    match=_seen_by(store), all_events=True, **narrowing)


def test_catch_all_detectors_narrowed_by_identity_type_errors_or_changes_see_only_those_events() -> None:
    root_seen: list[str] = []
    errors_seen: list[str] = []
    changes_seen: list[str] = []
    sso_seen: list[str] = []
    narrowed = [_catch_all("root-only", root_seen, identity_types=frozenset({"Root"})),
                _catch_all("errors-only", errors_seen, errors_only=True),
                _catch_all("changes-only", changes_seen, changes_only=True),
                _catch_all("sso-only", sso_seen, identity_types=frozenset({IDENTITY_CENTER}))]
    root_event = {**event(0, readOnly=True), "userIdentity": {"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root"}}
    failed = event(1, errorCode="AccessDenied", readOnly=True)
    change = event(2, readOnly=False)
    hostile = {**event(3, readOnly=True), "userIdentity": {"type": ["Root"]}}
    sso = {**event(4, readOnly=True), "userIdentity": {
        "type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Admin_0123/alice"}}
    not_sso = {**event(5, readOnly=True), "userIdentity": {
        "type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/AWSReservedSSO_Admin_0123"}}
    instance_seen: list[str] = []
    workload_seen: list[str] = []
    narrowed += [_catch_all("instance-only", instance_seen, identity_types=frozenset({INSTANCE_SESSION})),
                 _catch_all("workload-only", workload_seen, identity_types=frozenset({TASK_OR_FUNCTION_SESSION}))]

    def role_session(at: int, role: str, session: str, kind: str = "AssumedRole") -> dict[str, Any]:
        return {**event(at, readOnly=True), "userIdentity": {
            "type": kind, "principalId": f"AROAEXAMPLE:{session}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"}}
    instance = role_session(6, "web", "i-0123456789abcdef0")
    task = role_session(7, "orders-task", "0123456789abcdef0123456789abcdef")
    function = role_session(8, "resize-role-x1y2z3", "resize")
    plain = role_session(9, "deployer", "botocore-session-1700000000")
    not_a_session = role_session(10, "web", "i-0123456789abcdef0", kind="IAMUser")
    Engine(narrowed).process_records([root_event, failed, change, hostile, sso, not_sso, instance, task, function,
                                      plain, not_a_session], "t")
    assert root_seen == [root_event["eventID"]]
    assert errors_seen == [failed["eventID"]]
    assert changes_seen == [change["eventID"]]  # readOnly absent counts as a change too
    assert sso_seen == [sso["eventID"]]
    assert instance_seen == [instance["eventID"]]
    assert workload_seen == [task["eventID"], function["eventID"]]
    with pytest.raises(ValueError, match="narrow all_events detectors only"):
        dataclasses.replace(SEQUENCE, identity_types=frozenset({"Root"}))


def test_learners_each_keep_their_own_history_and_values_of_the_wrong_type_are_not_learned() -> None:
    spec = FirstSeen(label="new", learning_seconds=0, learn_per_key=False)
    learner = dataclasses.replace(SEEN, id="learner", events=frozenset(), all_events=True, state=spec)
    twin = dataclasses.replace(learner, id="twin")
    events = [event(0), event(60), event(120, value="b"), event(180, value=["x"])]
    alerts = run(Engine([learner, twin]), events)
    assert sorted(a.detector for a in alerts) == ["learner", "twin"]
    assert all(a.context["new"] == ["a", "b"] for a in alerts)


def test_an_inert_detector_is_never_dispatched_until_its_params_give_it_work() -> None:
    seen: list[str] = []
    quiet = Detector(id="needs-a-list", title="t", severity=Severity.LOW, mitre=("T1078",), runbook="r",
                     match=_seen_by(seen), events=frozenset({("test.amazonaws.com", "Call")}),
                     params={"allowed": []}, inert=lambda params: not params.get("allowed"))
    Engine([quiet]).process_records([event(0)], "t")
    assert seen == []
    configured = apply_settings(quiet, DetectorSettings(params={"allowed": ["x"]}))
    Engine([configured]).process_records([event(1)], "t")
    assert len(seen) == 1


def test_min_distinct_fires_when_a_key_holds_enough_values_in_its_history_over_several_columns() -> None:
    def two_columns(event: Event, params: Mapping[str, Any]) -> tuple[Hit, ...]:
        # One Hit per column, each under its own key: the columns are counted apart in one history.
        who, request = _who(event), event.request()
        return tuple(Hit(key=f"{who}|{column}", value=value) for column in ("a", "b")
                     if isinstance(value := request.get(column), str))

    spec = FirstSeen(label="seen", history_seconds=3600, learning_seconds=0, min_distinct=3)
    counter = dataclasses.replace(SEEN, id="counter", events=frozenset(), all_events=True, match=two_columns,
                                  group_by=keys(), state=spec)

    def calls(pairs: list[tuple[str, str]], step: int = 60) -> list[dict[str, Any]]:
        return [event(i * step, requestParameters={"a": a, "b": b}) for i, (a, b) in enumerate(pairs)]

    # Three values of the first column within the hour: one alert naming all three, counting them.
    [alert] = run(Engine([counter]), calls([("a", "x"), ("b", "x"), ("c", "x")]))
    assert alert.context["seen"] == ["a", "b", "c"] and alert.count == 3
    # Three of the second column fire too; two of each do not; spread over hours they never add up.
    [by_other] = run(Engine([counter]), calls([("a", "x"), ("a", "y"), ("a", "z")]))
    assert by_other.context["seen"] == ["x", "y", "z"]
    assert run(Engine([counter]), calls([("a", "a"), ("b", "b")])) == []
    assert run(Engine([counter]), calls([("a", "x"), ("b", "x"), ("c", "x"), ("d", "x")], step=4000)) == []
    tuned = apply_settings(counter, DetectorSettings(threshold=2))
    assert isinstance(tuned.state, FirstSeen) and tuned.state.min_distinct == 2
