"""The engine's stateful kinds: sequences, several distinct counts, first-seen history and usual rates."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from monitor.engine.history import PERSIST_GRANULARITY

from monitor.engine import Engine
from monitor.engine.registry import RegistryError, apply_settings
from monitor.engine.settings import DetectorSettings
from monitor.model import Alert, Detector, Event, FirstSeen, Hit, Preceded, RateBaseline, Severity

DAY = 86400
T0 = datetime(2026, 5, 4, tzinfo=UTC).timestamp()
_counter = [0]


def event(offset: float, name: str = "Call", who: str = "alice", value: str = "a", **extra: Any) -> dict[str, Any]:
    _counter[0] += 1
    when = datetime.fromtimestamp(T0 + offset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"eventID": f"e{_counter[0]}", "eventTime": when, "eventSource": "test.amazonaws.com", "eventName": name,
            "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::111122223333:user/{who}"},
            "recipientAccountId": "111122223333", "value": value, **extra}


def _any(event: Event, params: Mapping[str, Any]) -> Hit | None:
    return Hit()


def _who(event: Event) -> str | None:
    return str(event["userIdentity"]["arn"])


def _value(event: Event) -> str | None:
    value = event.get("value")
    return value if isinstance(value, str) else None


def detector(**kinds: Any) -> Detector:
    return Detector(id="kind-under-test", title="t", severity=Severity.MEDIUM, mitre=("T1078",), runbook="r",
                    match=_any, events=frozenset({("test.amazonaws.com", "Call"), ("test.amazonaws.com", "Prior")}),
                    group_by=_who, **kinds)


def run(engine: Engine, events: list[dict[str, Any]], *, flush: bool = True) -> list[Alert]:
    alerts = {a.id: a for a in engine.process(events, "test").alerts}
    if flush:
        alerts.update({a.id: a for a in engine.flush()})
    return list(alerts.values())


def _is_prior(event: Event) -> bool:
    return event.get("eventName") == "Prior"


SEQUENCE = detector(preceded=Preceded(prior=_is_prior, count=3, window_seconds=600, label="priors"))


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


def test_sequence_priors_survive_a_snapshot_and_restore() -> None:
    first = Engine([SEQUENCE])
    run(first, [event(i, "Prior") for i in range(3)], flush=False)
    second = Engine([SEQUENCE])
    second.restore(first.snapshot())
    [alert] = run(second, [event(120)])
    assert alert.count == 4


SEEN = detector(first_seen=FirstSeen(value=_value, label="new_values", history_seconds=14 * DAY,
                                     learning_seconds=7 * DAY))


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
    spec = FirstSeen(value=_value, label="new", learning_seconds=DAY, learn_per_key=False)
    engine = Engine([detector(first_seen=spec)])
    assert run(engine, [event(0, who="old")], flush=False) == []
    [alert] = run(engine, [event(2 * DAY, who="newcomer")])
    assert alert.principal.endswith("user/newcomer")


def test_history_is_bounded_in_keys_and_values() -> None:
    spec = FirstSeen(value=_value, label="new", learning_seconds=0, max_keys=10, max_values=3)
    engine = Engine([detector(first_seen=spec)])
    run(engine, [event(i, who=f"user{i}") for i in range(25)])
    rows = {key for _, key, data in engine.history_changes() if data is not None and key}
    assert 0 < len(rows) <= 10
    run(engine, [event(100 + i, who="user24", value=f"v{i}") for i in range(10)])
    [values] = [data["values"] for _, key, data in engine.history_changes() if key.endswith("user24") and data]
    assert len(values) == 3


def test_history_changes_round_trip_into_a_fresh_engine() -> None:
    first = Engine([SEEN])
    run(first, learning(range(8)), flush=False)
    rows = [(d, k, data) for d, k, data in first.history_changes() if data is not None]
    assert rows and first.history_changes() == []  # taken once
    second = Engine([SEEN])
    second.restore_history(rows)
    assert second.history_changes() == []  # what was loaded is not a change
    [alert] = run(second, [event(8 * DAY, value="b")])
    assert alert.context["new_values"] == ["b"]
    # A fresh engine without the history is still learning: the same event is quiet.
    assert run(Engine([SEEN]), [event(8 * DAY, value="b")]) == []


def test_repeated_sightings_within_the_persist_granularity_are_not_changes() -> None:
    engine = Engine([SEEN])
    run(engine, [event(0)], flush=False)
    engine.history_changes()
    run(engine, [event(PERSIST_GRANULARITY / 2)], flush=False)
    assert engine.history_changes() == []
    run(engine, [event(PERSIST_GRANULARITY * 2)], flush=False)
    assert [key for _, key, _ in engine.history_changes()] == ["k:arn:aws:iam::111122223333:user/alice"]


def test_first_seen_settings_set_history_and_learning_not_a_threshold() -> None:
    tuned = apply_settings(SEEN, DetectorSettings(window_seconds=3 * DAY, learning_seconds=0))
    assert tuned.first_seen is not None
    assert (tuned.first_seen.history_seconds, tuned.first_seen.learning_seconds) == (3 * DAY, 0)
    with pytest.raises(RegistryError, match="first-seen detectors take only window_seconds"):
        apply_settings(SEEN, DetectorSettings(threshold=3))


RATE = detector(rate=RateBaseline(bucket_seconds=3600, factor=10.0, min_count=20, learning_seconds=DAY,
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


def test_rate_history_round_trips() -> None:
    first = Engine([RATE])
    run(first, steady(range(3), 2), flush=False)
    second = Engine([RATE])
    second.restore_history([(d, k, data) for d, k, data in first.history_changes() if data is not None])
    [alert] = run(second, [event(3 * DAY + i, who="alice") for i in range(25)])
    assert alert.context["reason"] == "above usual rate"


def test_restored_rows_of_hostile_shape_raise_a_clear_error_not_half_state() -> None:
    engine = Engine([SEEN])
    with pytest.raises((KeyError, TypeError, ValueError)):
        engine.restore_history([("kind-under-test", "k:x", {"first": "not a number", "last": 0, "values": {"a": 1}})])


def test_declaring_two_kinds_or_a_kind_without_group_by_is_refused() -> None:
    with pytest.raises(ValueError, match="declare one of"):
        detector(first_seen=SEEN.first_seen, rate=RateBaseline())
    with pytest.raises(ValueError, match="need group_by"):
        dataclasses.replace(SEEN, group_by=None)


def _seen_by(store: list[str]) -> Any:
    def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
        store.append(str(event.get("eventID")))
        return None
    return match


def test_catch_all_detectors_narrowed_by_identity_type_or_errors_see_only_those_events() -> None:
    root_seen: list[str] = []
    errors_seen: list[str] = []
    root_only = Detector(id="root-only", title="t", severity=Severity.LOW, mitre=("T1078",), runbook="r",
                         match=_seen_by(root_seen), all_events=True, identity_types=frozenset({"Root"}))
    errors = Detector(id="errors-only", title="t", severity=Severity.LOW, mitre=("T1078",), runbook="r",
                      match=_seen_by(errors_seen), all_events=True, errors_only=True)
    root_event = {**event(0), "userIdentity": {"type": "Root", "arn": "arn:aws:iam::111122223333:root"}}
    failed = event(1, errorCode="AccessDenied")
    hostile = {**event(2), "userIdentity": {"type": ["Root"]}}
    Engine([root_only, errors]).process([root_event, failed, event(3), hostile], "t")
    assert root_seen == [root_event["eventID"]]
    assert errors_seen == [failed["eventID"]]
    with pytest.raises(ValueError, match="narrow all_events detectors only"):
        dataclasses.replace(SEQUENCE, identity_types=frozenset({"Root"}))


def test_a_shared_profile_runs_once_per_event_for_all_its_learners() -> None:
    profiled: list[str] = []

    def profile(event: Event) -> tuple[str | None, ...] | None:
        profiled.append(str(event.get("eventID")))
        return (_who(event), _value(event))

    spec = FirstSeen(value=_value, label="new", learning_seconds=0, learn_per_key=False, profile=profile)
    learner = dataclasses.replace(SEEN, id="learner", events=frozenset(), all_events=True, first_seen=spec)
    twin = dataclasses.replace(learner, id="twin")
    events = [event(0), event(60), event(120, value="b"), {**event(180), "value": ["x"]}]
    alerts = run(Engine([learner, twin]), events)
    assert profiled == [e["eventID"] for e in events]
    assert sorted(a.detector for a in alerts) == ["learner", "twin"]
    assert all(a.context["new"] == ["a", "b"] for a in alerts)


def test_an_inert_detector_is_never_dispatched_until_its_params_give_it_work() -> None:
    seen: list[str] = []
    quiet = Detector(id="needs-a-list", title="t", severity=Severity.LOW, mitre=("T1078",), runbook="r",
                     match=_seen_by(seen), events=frozenset({("test.amazonaws.com", "Call")}),
                     params={"allowed": []}, inert=lambda params: not params.get("allowed"))
    Engine([quiet]).process([event(0)], "t")
    assert seen == []
    configured = apply_settings(quiet, DetectorSettings(params={"allowed": ["x"]}))
    Engine([configured]).process([event(1)], "t")
    assert len(seen) == 1


def test_min_distinct_fires_when_a_key_holds_enough_values_in_its_history_over_several_columns() -> None:
    def profile(event: Event) -> tuple[str | None, ...] | None:
        who = _who(event)
        return (f"{who}|a", event.get("value"), f"{who}|b", event.get("other"))

    spec = FirstSeen(value=_value, label="seen", history_seconds=3600, learning_seconds=0, min_distinct=3,
                     profile=profile, key_at=0, value_at=1, more_columns=((2, 3),))
    counter = dataclasses.replace(SEEN, id="counter", events=frozenset(), all_events=True, first_seen=spec)
    # Three values of the first column within the hour: one alert naming all three, counting them.
    [alert] = run(Engine([counter]), [event(i * 60, value=v, other="x") for i, v in enumerate("abc")])
    assert alert.context["seen"] == ["a", "b", "c"] and alert.count == 3
    # Three of the second column fire too; two of each do not; spread over hours they never add up.
    [by_other] = run(Engine([counter]), [event(i * 60, value="a", other=o) for i, o in enumerate("xyz")])
    assert by_other.context["seen"] == ["x", "y", "z"]
    assert run(Engine([counter]), [event(i * 60, value=v, other=v) for i, v in enumerate("ab")]) == []
    assert run(Engine([counter]), [event(i * 4000, value=v, other="x") for i, v in enumerate("abcd")]) == []
    tuned = apply_settings(counter, DetectorSettings(threshold=2))
    assert tuned.first_seen is not None and tuned.first_seen.min_distinct == 2
