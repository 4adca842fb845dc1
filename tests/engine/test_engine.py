"""The engine's contract: index dispatch, dedupe, windows on event time, episodes, containment, restarts."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.decode import DecodeLimits, decode_bytes, decode_slices
from monitor.engine import BatchResult, DetectorSettings, Engine, EngineSettings, RegistryError, configure
from monitor.engine.detect import Detection
from monitor.engine.state.embedded import EmbeddedStore
from monitor.engine.state.memory import MemoryStore
from monitor.model import Alert, Detector, DistinctCount, Event, Hit, Severity, Threshold, keys
from monitor.model import event as f
from tests.helpers import cloudtrail_event, iam_user, typed

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
        for alert in engine.process_records(batch, f"batch-{number}").alerts:
            latest[alert.id] = alert
    for alert in engine.flush():
        latest[alert.id] = alert
    return latest


def process_bytes(engine: Engine, data: bytes, origin: str, limits: DecodeLimits | None = None) -> BatchResult:
    """One input as `scan` reads it: decoded slice by slice, applied as one batch."""
    result = BatchResult([], [])
    with engine.batch():
        for part in decode_slices(data, origin, limits):
            found = engine.process(part)
            result.alerts.extend(found.alerts)
            result.issues.extend(found.issues)
            result.events += found.events
            result.duplicates += found.duplicates
    return result


def by_user(event: Event) -> str | None:
    return f.user_name(event) or None


def test_dispatch_by_event_name_and_source_only() -> None:
    calls: list[str] = []

    def counting(event: Event, params: Mapping[str, Any]) -> Hit | None:
        calls.append(event.eventName)
        return None

    engine = Engine([make(match=counting)])
    engine.process_records([
        create_user(0),
        cloudtrail_event("DeleteUser", "iam.amazonaws.com", 1),
        cloudtrail_event("CreateUser", "evil.example.com", 2),
    ], "t")
    assert calls == ["CreateUser"]


def test_catch_all_detector_sees_every_event() -> None:
    calls: list[str] = []

    def counting(event: Event, params: Mapping[str, Any]) -> Hit | None:
        calls.append(event.eventName)
        return None

    engine = Engine([make(match=counting, events=frozenset(), all_events=True)])
    engine.process_records([create_user(0), cloudtrail_event("GetObject", "s3.amazonaws.com", 1)], "t")
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
    engine.process_records([create_user(i) for i in range(100)], "t")
    assert isinstance(engine.store, MemoryStore)
    assert len(engine.store.event_ids) <= 20


def test_dedupe_rotating_inside_one_batch_still_remembers_the_latest_ids() -> None:
    engine = Engine([make()], EngineSettings(dedupe_capacity=10))
    events = [create_user(i) for i in range(25)]
    engine.process_records(events, "t")
    again = engine.process_records([dict(e) for e in events[-10:]], "t")
    assert again.duplicates == 10  # the newest ten survive two rotations within the first batch
    forgotten = engine.process_records([dict(events[0])], "t")
    assert forgotten.duplicates == 0


def test_grouped_detector_folds_repeats_into_one_episode() -> None:
    detector = make(group_by=by_user, episode_seconds=3600)
    engine = Engine([detector])
    first = engine.process_records([create_user(0)], "a").alerts
    assert len(first) == 1 and first[0].count == 1  # on-call hears at once
    more = engine.process_records([create_user(60 * i) for i in range(1, 30)], "b").alerts
    assert more == []  # repeats fold in silently
    final = engine.flush()
    assert [a.id for a in final] == [first[0].id]
    assert final[0].count == 30
    assert final[0].last_event_time - final[0].event_time == 29 * 60
    assert len(final[0].event_ids) == 20  # capped


def test_a_hit_naming_its_own_key_folds_without_group_by() -> None:
    def keyed(event: Event, params: Mapping[str, Any]) -> Hit | None:
        return Hit(key=f.user_name(event))

    alerts = run(Engine([make(match=keyed)]), [create_user(0), create_user(60), create_user(120, user="bob")])
    assert sorted((a.principal.rsplit("/", 1)[1], a.count) for a in alerts.values()) == [("alice", 2), ("bob", 1)]


def test_keys_declared_by_facts_group_like_a_function() -> None:
    declared = run(Engine([make(group_by=keys("account", "user"))]), [create_user(i * 60) for i in range(3)])
    assert [a.count for a in declared.values()] == [3]


def test_new_episode_after_the_episode_length() -> None:
    engine = Engine([make(group_by=by_user, episode_seconds=600)])
    alerts = run(engine, [create_user(0), create_user(100), create_user(700)])
    assert sorted(a.count for a in alerts.values()) == [1, 2]


def test_severity_escalation_is_emitted_at_once_with_the_same_id() -> None:
    def severity_from_request(event: Event, params: Mapping[str, Any]) -> Hit | None:
        return Hit(severity=Severity.CRITICAL if event.request().get("escalate") else Severity.LOW)

    engine = Engine([make(match=severity_from_request, group_by=by_user)])
    opening = engine.process_records([create_user(0)], "a").alerts
    escalated = engine.process_records([create_user(10, requestParameters={"escalate": True})], "b").alerts
    assert [a.severity for a in opening] == [Severity.LOW]
    assert [a.severity for a in escalated] == [Severity.CRITICAL]
    assert escalated[0].id == opening[0].id and escalated[0].count == 2


def threshold_detector(count: int = 5, window: int = 600) -> Detector:
    return make(group_by=by_user, state=Threshold(count=count, window_seconds=window))


def test_threshold_fires_once_at_the_nth_event() -> None:
    engine = Engine([threshold_detector()])
    emitted = [engine.process_records([create_user(i * 60)], str(i)).alerts for i in range(5)]
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


def test_same_alerts_whatever_the_slicing() -> None:
    events = [create_user(i * 30, user=f"user{i % 3}") for i in range(60)]
    data = b"".join(orjson.dumps(e) + b"\n" for e in events)
    whole = process_bytes(Engine([threshold_detector()]), data, "e.jsonl").alerts
    sliced = process_bytes(Engine([threshold_detector()]), data, "e.jsonl", DecodeLimits(slice_events=7)).alerts
    assert [a.to_json() for a in whole] == [a.to_json() for a in sliced] and whole


def test_burst_continuing_past_the_trigger_folds_into_the_episode() -> None:
    engine = Engine([threshold_detector()])
    alerts = run(engine, [create_user(i) for i in range(1000)])
    assert [a.count for a in alerts.values()] == [1000]


def test_distinct_count_fires_on_distinct_values_only() -> None:
    def user_value(event: Event, params: Mapping[str, Any]) -> Hit | None:
        return Hit(value=f.user_name(event) or None)

    detector = make(match=user_value, group_by=lambda e: e.sourceIPAddress,
                    state=DistinctCount(count=3, window_seconds=600, label="user_names"))
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


def test_a_failing_group_key_is_contained_like_a_failing_match() -> None:
    def broken_key(event: Event) -> str | None:
        raise ValueError("no key today")

    engine = Engine([make("broken-key", group_by=broken_key), make("working-detector")])
    alerts = run(engine, [create_user(i) for i in range(3)])
    assert {a.detector for a in alerts.values()} == {"working-detector"}
    assert engine.stats.detector_errors == {"broken-key": 3}


def test_bad_event_time_is_reported_and_the_event_still_detected() -> None:
    engine = Engine([make()])
    result = engine.process_records(
        [create_user(0), create_user(1, eventTime="redacted"), create_user(2, eventTime=None)], "file.json")
    assert len(result.alerts) == 3
    assert [(i.reason, i.record) for i in result.issues] == [("bad_event_time", 1), ("bad_event_time", 2)]
    assert "redacted" in str(result.issues[0]) and str(result.issues[0]).startswith("file.json record 1")


def test_an_event_with_a_bad_time_is_placed_at_the_newest_time_before_it() -> None:
    engine = Engine([make()])
    [_, placed] = engine.process_records([create_user(100), create_user(0, eventTime="garbage")], "f").alerts
    assert placed.to_dict()["event_time"] == "2026-03-01T12:01:40Z"


def test_wrong_types_and_non_objects_are_reported_with_line_numbers() -> None:
    engine = Engine([make()])
    lines: list[Any] = [
        "a string",
        create_user(0, eventName=["CreateUser"]),
        create_user(1, userIdentity="root"),
        create_user(2, eventID=42),
        create_user(3),
    ]
    result = process_bytes(engine, b"".join(orjson.dumps(line) + b"\n" for line in lines), "f.jsonl")
    # Decoding reports lines 1, 3 and 4, the engine's prologue line 2 (no event name): each line once.
    assert sorted((i.line, i.reason) for i in result.issues) == [
        (1, "not_an_object"), (2, "wrong_type"), (3, "wrong_type"), (4, "wrong_type")
    ]
    assert {str(i).split(" ", 1)[0] for i in result.issues} == {"f.jsonl:1:", "f.jsonl:2:", "f.jsonl:3:", "f.jsonl:4:"}
    assert len(result.alerts) == 3  # the string is dropped, the list-named event matches nothing
    assert engine.stats.detector_errors == {}


def test_insight_events_are_set_aside_and_counted_wherever_they_are() -> None:
    insight = create_user(0, eventType="AwsCloudTrailInsight", eventCategory="Insight")
    part = decode_bytes(orjson.dumps({"Records": [insight, create_user(1), dict(insight)]}), "mixed.json")
    found = Detection([make()]).detect(part)
    assert [finding.position for finding in found.findings] == [1]
    assert found.skipped == {"insight": 2} and found.issues == []
    lines = orjson.dumps(insight) + b"\n" + orjson.dumps(create_user(2)) + b"\n"
    engine = Engine([make()])
    result = process_bytes(engine, lines, "mixed.jsonl")
    assert len(result.alerts) == 1 and result.events == 1
    assert engine.stats.events_processed == 1


def test_detection_leaves_its_slice_as_it_was() -> None:
    # Detection is pure: detecting a slice twice gives the same findings and changes nothing in the slice.
    records = [create_user(0, eventTime="bad"), create_user(1, eventType="AwsCloudTrailInsight"), create_user(2)]
    part = decode_bytes(orjson.dumps({"Records": records}), "f.json")
    issues, skipped = list(part.issues), dict(part.skipped)
    detection = Detection([make()])
    first, second = detection.detect(part), detection.detect(part)
    assert (first.issues, first.skipped, first.event_ids) == (second.issues, second.skipped, second.event_ids)
    assert [f.position for f in first.findings] == [f.position for f in second.findings] == [0, 2]
    assert (part.issues, part.skipped) == (issues, skipped)


def test_close_expired_delivers_the_final_count_of_a_quiet_episode() -> None:
    engine = Engine([make(group_by=by_user, episode_seconds=600)], EngineSettings(lateness_seconds=60))
    opening = engine.process_records([create_user(0), create_user(30)], "a").alerts
    assert engine.close_expired(engine.watermark + 100) == []
    final = engine.close_expired(engine.watermark + 10_000)
    assert [(a.id, a.count) for a in final] == [(opening[0].id, 2)]


def test_account_alias_is_applied() -> None:
    engine = Engine([make()], EngineSettings(account_aliases={"111122223333": "prod"}))
    [alert] = engine.process_records([create_user(0)], "a").alerts
    assert alert.account_alias == "prod" and alert.to_dict()["account_alias"] == "prod"


def test_hostile_strings_are_clipped() -> None:
    engine = Engine([make()])
    [alert] = engine.process_records([create_user(0, userAgent="x" * 100_000)], "a").alerts
    assert len(alert.user_agent) <= 1024


def test_configure_applies_settings() -> None:
    base = threshold_detector()
    [tuned] = configure([base], {base.id: DetectorSettings(threshold=2, window_seconds=60, severity=Severity.HIGH)})
    assert tuned.state == Threshold(2, 60) and tuned.severity is Severity.HIGH
    assert configure([base], {base.id: DetectorSettings(enabled=False)}) == []
    extended = configure([make()], {"test-detector": DetectorSettings(
        extra_events=frozenset({("ec2.amazonaws.com", "DeleteVpc")}))})
    assert ("ec2.amazonaws.com", "DeleteVpc") in extended[0].events


@pytest.mark.parametrize("setting", [
    {"unknown-detector": DetectorSettings()},
    {"test-detector": DetectorSettings(params={"nope": 1})},
    {"test-detector": DetectorSettings(threshold=3)},
    {"test-detector": DetectorSettings(learning_seconds=3)},
])
def test_configure_rejects_settings_that_cannot_apply(setting: dict[str, DetectorSettings]) -> None:
    with pytest.raises(RegistryError):
        configure([make()], setting)


@pytest.mark.parametrize("change, problem", [
    ({"detector_id": "Not Kebab"}, "kebab-case"),
    ({"mitre": ("X1",)}, "mitre"),
    ({"runbook": " "}, "runbook"),
    ({"events": frozenset(), "all_events": False}, "exactly one"),
    ({"state": Threshold(5, 600)}, "group_by"),
    ({"group_by": by_user, "state": Threshold(0, 600)}, "positive"),
    ({"errors_only": True}, "narrow all_events detectors only"),
    ({"events": frozenset(), "all_events": True, "errors_only": True, "changes_only": True}, "narrow by one"),
])
def test_detector_declarations_are_validated(change: dict[str, Any], problem: str) -> None:
    detector_id = change.pop("detector_id", "test-detector")
    with pytest.raises(ValueError, match=problem):
        make(detector_id, **change)


def test_alert_json_survives_lone_surrogates() -> None:
    engine = Engine([make()])
    [alert] = engine.process_records([create_user(0, userAgent="bad \ud800 agent")], "a").alerts
    assert b"bad ? agent" in alert.to_json()


def test_aws_internal_with_a_number_is_aws_itself() -> None:
    assert f.is_aws_service_activity(typed(create_user(0, sourceIPAddress="AWS Internal/3")))


# -- records orjson cannot write -------------------------------------------------------------------------


def test_records_with_integers_past_64_bits_are_processed() -> None:
    engine = Engine([make()])
    big = 2**70
    result = engine.process_records([create_user(0, requestParameters={"count": big}), create_user(1)], "big")
    assert len(result.alerts) == 2 and result.issues == []


def test_records_with_non_string_keys_are_processed() -> None:
    seen: list[dict[str, Any]] = []

    def keep_request(event: Event, params: Mapping[str, Any]) -> Hit | None:
        seen.append(event.request())
        return Hit()

    engine = Engine([make(match=keep_request)])
    odd_keys = {7: "seven", 2.5: "two and a half", True: "yes", None: "none"}
    result = engine.process_records([create_user(0, requestParameters=odd_keys), create_user(1)], "keys")
    assert len(result.alerts) == 2 and result.issues == []
    assert seen[0] == {"7": "seven", "2.5": "two and a half", "true": "yes", "null": "none"}


def test_a_record_that_cannot_be_written_at_all_is_reported_and_the_rest_processed() -> None:
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    deep: Any = "bottom"
    for _ in range(100_000):
        deep = [deep]
    unwritable = [create_user(1, requestParameters={("a", "tuple"): "key"}),
                  create_user(2, requestParameters=cycle),
                  create_user(3, requestParameters=deep)]
    engine = Engine([make()])
    result = engine.process_records([create_user(0), *unwritable, create_user(4)], "odd")
    assert [(i.origin, i.reason, i.record) for i in result.issues] == [
        ("odd", "unwritable", 1), ("odd", "unwritable", 2), ("odd", "unwritable", 3)]
    assert sorted(a.event_time for a in result.alerts) == [
        a.event_time for a in run(Engine([make()]), [create_user(0), create_user(4)]).values()]


# -- restarts: a new engine on the same state file ----------------------------------------------------------


@pytest.fixture
def state_file(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "state.sqlite"
    for store in _opened:
        store.close()
    _opened.clear()


_opened: list[EmbeddedStore] = []


def durable(detectors: list[Detector], path: Path) -> Engine:
    """An engine whose state is restored from (and persisted to) `path`, as `run` starts one."""
    store = EmbeddedStore(path, dedupe_capacity=EngineSettings().dedupe_capacity)
    _opened.append(store)
    engine = Engine(detectors, store=store)
    store.restore()
    engine.restored()
    return engine


def restarted(engine: Engine, detectors: list[Detector], path: Path) -> Engine:
    """Persist what the engine committed, then start another on the same file."""
    engine.store.persist()
    return durable(detectors, path)


def test_a_burst_spanning_a_restart_still_fires(state_file: Path) -> None:
    detectors = [threshold_detector()]
    before = durable(detectors, state_file)
    assert before.process_records([create_user(i * 60) for i in range(3)], "a").alerts == []
    after = restarted(before, detectors, state_file)
    alerts = after.process_records([create_user(200), create_user(240)], "b").alerts
    assert [(a.count, len(a.event_ids)) for a in alerts] == [(5, 5)]


def test_distinct_counts_survive_a_restart(state_file: Path) -> None:
    def user_value(event: Event, params: Mapping[str, Any]) -> Hit | None:
        return Hit(value=f.user_name(event) or None)

    detectors = [make(match=user_value, group_by=lambda e: e.sourceIPAddress,
                      state=DistinctCount(count=3, window_seconds=600, label="user_names"))]
    before = durable(detectors, state_file)
    before.process_records([create_user(0, user="a"), create_user(1, user="b")], "a")
    [alert] = restarted(before, detectors, state_file).process_records([create_user(2, user="c")], "b").alerts
    assert alert.context["user_names"] == ["a", "b", "c"]


def test_an_episode_continues_under_the_same_id_after_a_restart(state_file: Path) -> None:
    detectors = [make(group_by=by_user)]
    before = durable(detectors, state_file)
    [opening] = before.process_records([create_user(0)], "a").alerts
    after = restarted(before, detectors, state_file)
    assert after.process_records([create_user(60), create_user(120)], "b").alerts == []
    [final] = after.flush()
    assert (final.id, final.count, final.event_time) == (opening.id, 3, opening.event_time)


def test_event_ids_and_the_watermark_survive_a_restart(state_file: Path) -> None:
    detectors = [make()]
    before = durable(detectors, state_file)
    seen = create_user(100)
    before.process_records([seen], "a")
    after = restarted(before, detectors, state_file)
    assert after.watermark == before.watermark > 0
    again = after.process_records([dict(seen)], "redelivered")
    assert (again.alerts, again.duplicates) == ([], 1)


def test_what_was_not_persisted_is_not_restored(state_file: Path) -> None:
    detectors = [threshold_detector()]
    before = durable(detectors, state_file)
    persisted = [create_user(i) for i in range(3)]
    before.process_records(persisted, "a")
    before.store.persist()
    unpersisted = [create_user(10 + i) for i in range(2)]
    before.process_records(unpersisted, "b")  # committed, never persisted: its source was not acknowledged
    after = durable(detectors, state_file)
    again = after.process_records([dict(e) for e in unpersisted], "b again")  # redelivered, not duplicates
    assert again.duplicates == 0
    assert [(a.count, a.event_ids) for a in again.alerts] == [(5, [e["eventID"] for e in persisted + unpersisted])]


def test_state_of_unknown_detectors_is_ignored(state_file: Path) -> None:
    # A detector removed from the config: its windows and its open episodes are not restored.
    grouped = make("grouped-detector", group_by=by_user)
    before = durable([threshold_detector(), grouped], state_file)
    [opening] = before.process_records([create_user(0), create_user(1)], "a").alerts
    assert opening.detector == "grouped-detector"  # its episode now holds an update not emitted yet
    after = restarted(before, [make("other-detector")], state_file)
    assert after.flush() == []
    assert after.close_expired(after.watermark + 10 * 86400) == []
    # Back with the threshold detector: its window was not kept for it (four more events are not five).
    again = durable([threshold_detector()], state_file)
    assert run(again, [create_user(2 + i) for i in range(4)]) == {}


def test_batch_result_carries_its_own_newest_event_time() -> None:
    engine = Engine([make()])
    first = engine.process_records([create_user(100), create_user(50)], "a")
    older = engine.process_records([create_user(10), create_user(20, eventTime="garbage")], "b")
    assert first.newest_event_time - older.newest_event_time == 90
    assert engine.watermark == first.newest_event_time  # an older batch does not move the watermark back
    assert engine.process_records([create_user(0, eventTime=None)], "c").newest_event_time == 0.0
