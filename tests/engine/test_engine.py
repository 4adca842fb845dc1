"""The engine's contract: index dispatch, dedupe, windows on event time, episodes, containment."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from monitor.engine import DetectorSettings, Engine, EngineSettings, RegistryError, configure
from monitor.model import Alert, Detector, DistinctCount, Event, Hit, Severity, Threshold
from monitor.model import event as f
from tests.helpers import cloudtrail_event, iam_user

CREATE_USER = ("iam.amazonaws.com", "CreateUser")


def always(event: Event, params: Mapping[str, Any]) -> Hit | None:
    return Hit()


def make(detector_id: str = "test-detector", **kwargs: Any) -> Detector:
    defaults: dict[str, Any] = {
        "title": "Test detector",
        "severity": Severity.MEDIUM,
        "mitre": ("T1078",),
        "runbook": "Check it.",
        "match": always,
        "events": frozenset({CREATE_USER}),
    }
    defaults.update(kwargs)
    return Detector(id=detector_id, **defaults)


def create_user(seconds: float, user: str = "alice", **fields: Any) -> dict[str, Any]:
    return cloudtrail_event("CreateUser", "iam.amazonaws.com", seconds, iam_user(user), **fields)


def run(engine: Engine, *batches: list[Any]) -> dict[str, Alert]:
    """Latest version of every alert, as a downstream consumer would hold it."""
    latest: dict[str, Alert] = {}
    for number, batch in enumerate(batches):
        for alert in engine.process(batch, f"batch-{number}").alerts:
            latest[alert.id] = alert
    for alert in engine.flush():
        latest[alert.id] = alert
    return latest


def by_user(event: Event) -> str | None:
    return f.user_name(event) or None


def test_dispatch_by_event_name_and_source_only() -> None:
    calls: list[str] = []

    def counting(event: Event, params: Mapping[str, Any]) -> Hit | None:
        calls.append(event["eventName"])
        return None

    engine = Engine([make(match=counting)])
    engine.process([
        create_user(0),
        cloudtrail_event("DeleteUser", "iam.amazonaws.com", 1),
        cloudtrail_event("CreateUser", "evil.example.com", 2),
    ], "t")
    assert calls == ["CreateUser"]


def test_catch_all_detector_sees_every_event() -> None:
    calls: list[str] = []

    def counting(event: Event, params: Mapping[str, Any]) -> Hit | None:
        calls.append(event["eventName"])
        return None

    engine = Engine([make(match=counting, events=frozenset(), all_events=True)])
    engine.process([create_user(0), cloudtrail_event("GetObject", "s3.amazonaws.com", 1)], "t")
    assert calls == ["CreateUser", "GetObject"]


def test_one_alert_per_matching_event_without_grouping() -> None:
    alerts = run(Engine([make()]), [create_user(0), create_user(1)])
    assert len(alerts) == 2
    alert = next(iter(alerts.values()))
    assert alert.detector == "test-detector" and alert.count == 1 and alert.mitre == ("T1078",)
    assert alert.principal == "arn:aws:iam::111122223333:user/alice"
    assert alert.to_dict()["event_time"] == "2026-03-01T12:00:00Z"


def test_duplicate_event_ids_are_detected_once() -> None:
    event = create_user(0)
    engine = Engine([make()])
    alerts = run(engine, [event, dict(event)], [dict(event)])
    assert len(alerts) == 1
    assert engine.stats.duplicates == 2


def test_dedupe_memory_is_bounded() -> None:
    engine = Engine([make()], EngineSettings(dedupe_capacity=10))
    engine.process([create_user(i) for i in range(100)], "t")
    assert len(engine.deduper) <= 20


def test_dedupe_rotating_inside_one_batch_still_remembers_the_latest_ids() -> None:
    engine = Engine([make()], EngineSettings(dedupe_capacity=10))
    events = [create_user(i) for i in range(25)]
    engine.process(events, "t")
    again = engine.process([dict(e) for e in events[-10:]], "t")
    assert again.duplicates == 10  # the newest ten survive two rotations within the first batch
    forgotten = engine.process([dict(events[0])], "t")
    assert forgotten.duplicates == 0


def test_grouped_detector_folds_repeats_into_one_episode() -> None:
    detector = make(group_by=by_user, episode_seconds=3600)
    engine = Engine([detector])
    first = engine.process([create_user(0)], "a").alerts
    assert len(first) == 1 and first[0].count == 1  # on-call hears at once
    more = engine.process([create_user(60 * i) for i in range(1, 30)], "b").alerts
    assert more == []  # repeats fold in silently
    final = engine.flush()
    assert [a.id for a in final] == [first[0].id]
    assert final[0].count == 30
    assert final[0].last_event_time - final[0].event_time == 29 * 60
    assert len(final[0].event_ids) == 20  # capped


def test_new_episode_after_the_episode_length() -> None:
    engine = Engine([make(group_by=by_user, episode_seconds=600)])
    alerts = run(engine, [create_user(0), create_user(100), create_user(700)])
    assert sorted(a.count for a in alerts.values()) == [1, 2]


def test_severity_escalation_is_emitted_at_once_with_the_same_id() -> None:
    def severity_from_name(event: Event, params: Mapping[str, Any]) -> Hit | None:
        return Hit(severity=Severity.CRITICAL if event.get("escalate") else Severity.LOW)

    engine = Engine([make(match=severity_from_name, group_by=by_user)])
    opening = engine.process([create_user(0)], "a").alerts
    escalated = engine.process([create_user(10, escalate=True)], "b").alerts
    assert [a.severity for a in opening] == [Severity.LOW]
    assert [a.severity for a in escalated] == [Severity.CRITICAL]
    assert escalated[0].id == opening[0].id and escalated[0].count == 2


def threshold_detector(count: int = 5, window: int = 600) -> Detector:
    return make(group_by=by_user, threshold=Threshold(count=count, window_seconds=window))


def test_threshold_fires_once_at_the_nth_event() -> None:
    engine = Engine([threshold_detector()])
    emitted = [engine.process([create_user(i * 60)], str(i)).alerts for i in range(5)]
    assert [len(e) for e in emitted] == [0, 0, 0, 0, 1]
    alert = emitted[4][0]
    assert alert.count == 5 and len(alert.event_ids) == 5
    assert alert.context["threshold"] == 5 and alert.context["window_seconds"] == 600


def test_threshold_minus_one_does_not_fire() -> None:
    assert run(Engine([threshold_detector()]), [create_user(i * 60) for i in range(4)]) == {}


def test_threshold_spread_wider_than_the_window_does_not_fire() -> None:
    # Five events over 11 minutes: no 10-minute window holds five.
    events = [create_user(s) for s in (0, 165, 330, 495, 660)]
    assert run(Engine([threshold_detector()]), events) == {}


def test_threshold_counts_per_group_key() -> None:
    events = [create_user(i, user=f"user{i % 5}") for i in range(20)]
    assert run(Engine([threshold_detector()]), events) == {}


def test_out_of_order_arrival_within_lateness_still_counts() -> None:
    # Four recent events arrive first, the fifth (20 minutes older than the newest
    # event seen) arrives late but belongs to the same window.
    late_window = [create_user(1200 + s) for s in (0, 60, 120, 180)]
    newest = [cloudtrail_event("ListUsers", "iam.amazonaws.com", 2400)]
    straggler = [create_user(1170)]
    alerts = run(Engine([threshold_detector()]), late_window, newest, straggler)
    assert [a.count for a in alerts.values()] == [5]
    assert next(iter(alerts.values())).to_dict()["event_time"] == "2026-03-01T12:19:30Z"


def test_same_alerts_whatever_the_batching() -> None:
    events = [create_user(i * 30, user=f"user{i % 3}") for i in range(60)]
    one_batch = run(Engine([threshold_detector()]), events)
    many_batches = run(Engine([threshold_detector()]), *[[e] for e in events])
    assert {k: (a.count, a.event_time) for k, a in one_batch.items()} == {
        k: (a.count, a.event_time) for k, a in many_batches.items()
    }
    assert one_batch


def test_burst_continuing_past_the_trigger_folds_into_the_episode() -> None:
    engine = Engine([threshold_detector()])
    alerts = run(engine, [create_user(i) for i in range(1000)])
    assert [a.count for a in alerts.values()] == [1000]


def test_distinct_count_fires_on_distinct_values_only() -> None:
    detector = make(
        group_by=lambda e: f.text(e, "sourceIPAddress"),
        distinct=DistinctCount(value=lambda e: f.user_name(e) or None, count=3, window_seconds=600,
                               label="user_names"),
    )
    same_user = [create_user(i) for i in range(10)]
    assert run(Engine([detector]), same_user) == {}
    spray = [create_user(i, user=name) for i, name in enumerate(["a", "b", "a", "c"])]
    alerts = run(Engine([detector]), spray)
    alert = next(iter(alerts.values()))
    assert alert.context["user_names"] == ["a", "b", "c"] and alert.context["distinct_count"] == 3


def test_a_failing_detector_is_contained_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: Event, params: Mapping[str, Any]) -> Hit | None:
        raise KeyError("boom")

    engine = Engine([make("broken-detector", match=broken), make("working-detector")])
    with caplog.at_level(logging.ERROR, logger="trailsentry.engine"):
        alerts = run(engine, [create_user(i) for i in range(5)])
    assert {a.detector for a in alerts.values()} == {"working-detector"}
    assert engine.stats.detector_errors["broken-detector"] == 5
    assert len([r for r in caplog.records if "broken-detector" in r.getMessage()]) == 1


def test_bad_event_time_is_reported_and_the_event_still_detected() -> None:
    engine = Engine([make()])
    result = engine.process([create_user(0), create_user(1, eventTime="redacted"), create_user(2, eventTime=None)],
                            "file.json")
    assert len(result.alerts) == 3
    assert [(i.reason, i.record) for i in result.issues] == [("bad_event_time", 1), ("bad_event_time", 2)]
    assert "redacted" in str(result.issues[0]) and str(result.issues[0]).startswith("file.json record 1")


def test_wrong_types_and_non_objects_are_reported_with_line_numbers() -> None:
    engine = Engine([make()])
    events: list[Any] = [
        "a string",
        create_user(0, eventName=["CreateUser"]),
        create_user(1, userIdentity="root"),
        create_user(2, eventID=42),
        create_user(3),
    ]
    result = engine.process(events, "f.jsonl", lines=[1, 2, 3, 4, 5])
    assert [(i.reason, i.line) for i in result.issues] == [
        ("not_an_object", 1), ("wrong_type", 2), ("wrong_type", 3), ("wrong_type", 4)
    ]
    assert len(result.alerts) == 3  # the string is dropped, the list-named event matches nothing
    assert engine.stats.detector_errors == {}


def test_close_expired_delivers_the_final_count_of_a_quiet_episode() -> None:
    engine = Engine([make(group_by=by_user, episode_seconds=600)], EngineSettings(lateness_seconds=60))
    opening = engine.process([create_user(0), create_user(30)], "a").alerts
    assert engine.close_expired(engine.watermark + 100) == []
    final = engine.close_expired(engine.watermark + 10_000)
    assert [(a.id, a.count) for a in final] == [(opening[0].id, 2)]


def test_account_alias_is_applied() -> None:
    engine = Engine([make()], EngineSettings(account_aliases={"111122223333": "prod"}))
    [alert] = engine.process([create_user(0)], "a").alerts
    assert alert.account_alias == "prod" and alert.to_dict()["account_alias"] == "prod"


def test_hostile_strings_are_clipped() -> None:
    engine = Engine([make()])
    [alert] = engine.process([create_user(0, userAgent="x" * 100_000)], "a").alerts
    assert len(alert.user_agent) <= 1024


def test_configure_applies_settings() -> None:
    base = threshold_detector()
    [tuned] = configure([base], {base.id: DetectorSettings(threshold=2, window_seconds=60, severity=Severity.HIGH)})
    assert tuned.threshold == Threshold(2, 60) and tuned.severity is Severity.HIGH
    assert configure([base], {base.id: DetectorSettings(enabled=False)}) == []
    extended = configure([make()], {"test-detector": DetectorSettings(
        extra_events=frozenset({("ec2.amazonaws.com", "DeleteVpc")}))})
    assert ("ec2.amazonaws.com", "DeleteVpc") in extended[0].events


@pytest.mark.parametrize("setting", [
    {"unknown-detector": DetectorSettings()},
    {"test-detector": DetectorSettings(params={"nope": 1})},
    {"test-detector": DetectorSettings(threshold=3)},
])
def test_configure_rejects_settings_that_cannot_apply(setting: dict[str, DetectorSettings]) -> None:
    with pytest.raises(RegistryError):
        configure([make()], setting)


@pytest.mark.parametrize("change, problem", [
    ({"detector_id": "Not Kebab"}, "kebab-case"),
    ({"mitre": ("X1",)}, "mitre"),
    ({"runbook": " "}, "runbook"),
    ({"events": frozenset(), "all_events": False}, "exactly one"),
    ({"threshold": Threshold(5, 600)}, "group_by"),
])
def test_detector_declarations_are_validated(change: dict[str, Any], problem: str) -> None:
    detector_id = change.pop("detector_id", "test-detector")
    with pytest.raises(ValueError, match=problem):
        make(detector_id, **change)


def test_alert_json_survives_lone_surrogates() -> None:
    engine = Engine([make()])
    [alert] = engine.process([create_user(0, userAgent="bad \ud800 agent")], "a").alerts
    assert b"bad ? agent" in alert.to_json()


def test_aws_internal_with_a_number_is_aws_itself() -> None:
    event = create_user(0, sourceIPAddress="AWS Internal/3")
    assert f.is_aws_service_activity(event)


def restarted(engine: Engine, detectors: list[Detector]) -> Engine:
    """A new engine restored from the old one's state, through JSON as the checkpoint store keeps it."""
    fresh = Engine(detectors)
    fresh.restore(orjson.loads(orjson.dumps(engine.snapshot())))
    return fresh


def test_a_burst_spanning_a_restart_still_fires() -> None:
    detectors = [threshold_detector()]
    before = Engine(detectors)
    assert before.process([create_user(i * 60) for i in range(3)], "a").alerts == []
    after = restarted(before, detectors)
    alerts = after.process([create_user(200), create_user(240)], "b").alerts
    assert [(a.count, len(a.event_ids)) for a in alerts] == [(5, 5)]


def test_distinct_counts_survive_a_restart() -> None:
    detectors = [make(group_by=lambda e: f.text(e, "sourceIPAddress"),
                      distinct=DistinctCount(value=lambda e: f.user_name(e) or None, count=3, window_seconds=600,
                                             label="user_names"))]
    before = Engine(detectors)
    before.process([create_user(0, user="a"), create_user(1, user="b")], "a")
    [alert] = restarted(before, detectors).process([create_user(2, user="c")], "b").alerts
    assert alert.context["user_names"] == ["a", "b", "c"]


def test_an_episode_continues_under_the_same_id_after_a_restart() -> None:
    detectors = [make(group_by=by_user)]
    before = Engine(detectors)
    [opening] = before.process([create_user(0)], "a").alerts
    after = restarted(before, detectors)
    assert after.process([create_user(60), create_user(120)], "b").alerts == []
    [final] = after.flush()
    assert (final.id, final.count, final.event_time) == (opening.id, 3, opening.event_time)


def test_state_of_unknown_detectors_and_versions_is_ignored() -> None:
    before = Engine([threshold_detector()])
    before.process([create_user(0)], "a")
    state = before.snapshot()
    other = Engine([make("other-detector")])
    other.restore(state)
    assert other.flush() == []
    fresh = Engine([threshold_detector()])
    fresh.restore({**state, "version": 999})
    assert fresh.snapshot()["windows"] == {}


def test_batch_result_carries_its_own_newest_event_time() -> None:
    engine = Engine([make()])
    first = engine.process([create_user(100), create_user(50)], "a")
    older = engine.process([create_user(10), create_user(20, eventTime="garbage")], "b")
    assert first.newest_event_time - older.newest_event_time == 90
    assert engine.watermark == first.newest_event_time  # an older batch does not move the watermark back
    assert engine.process([create_user(0, eventTime=None)], "c").newest_event_time == 0.0
