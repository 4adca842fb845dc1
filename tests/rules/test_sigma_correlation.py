"""Sigma correlation rules, run on the stream by the engine's stateful kinds: each type's positives and
near misses, group-by, the timespan's edge, `generate`, aliases, what is refused and why, a restart in
the middle of a correlation, a store that only has what a batch declared, and `detectors list`."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.cli import main
from monitor.engine import Engine, EngineSettings
from monitor.engine.registry import RegistryError, apply_settings
from monitor.engine.settings import DetectorSettings
from monitor.engine.state.embedded import EmbeddedStore
from monitor.model import Alert, Detector
from monitor.model.detector import DistinctCount, Ordered, Threshold
from monitor.rules import LoadedRules
from monitor.rules.sigma import load_sigma_rules
from tests.engine.test_reads import ReadsOnlyWhatWasWanted, apply_one_by_one
from tests.helpers import REPO, cloudtrail_event, iam_user
from tests.redis_server import RedisServer
from tests.replicas.test_store import Replica

EXAMPLES = REPO / "deploy" / "rules" / "sigma"

BLOCKS = """\
title: Bucket Deleted
id: 7e1d0000-0000-4000-8000-000000000001
name: bucket_deleted
tags: [attack.t1485]
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventSource: s3.amazonaws.com, eventName: DeleteBucket}
  condition: sel
level: low
---
title: Trail Stopped
id: 7e1d0000-0000-4000-8000-000000000002
name: trail_stopped
tags: [attack.t1562.008]
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging}
  condition: sel
level: low
---
title: Versioning Suspended
id: 7e1d0000-0000-4000-8000-000000000003
name: versioning_suspended
tags: [attack.t1490]
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventSource: s3.amazonaws.com, eventName: PutBucketVersioning}
  condition: sel
level: low
"""


def correlation(body: str, *, title: str = "The Correlation", extra: str = "") -> str:
    return (f"title: {title}\nid: 7e1d0000-0000-4000-8000-0000000000ff\ntags: [attack.t1485]\nlevel: high\n"
            f"correlation:\n{textwrap.indent(textwrap.dedent(body), '  ')}{extra}")


def load(tmp_path: Path, *documents: str) -> LoadedRules:
    path = tmp_path / "rules.yml"
    path.write_text("\n---\n".join([BLOCKS, *documents]))
    return load_sigma_rules([path])


def only(tmp_path: Path, *documents: str) -> Detector:
    """The correlation; the rules it uses are not detectors (they do not alert on their own)."""
    loaded = load(tmp_path, *documents)
    assert not loaded.problems, [str(p) for p in loaded.problems]
    by_id = {d.id: d for d in loaded.detectors}
    detector = by_id.pop("sigma-the-correlation")
    assert not {"sigma-bucket-deleted", "sigma-any-s3-delete"} & set(by_id)  # used by every correlation here
    return detector


def problem(tmp_path: Path, document: str) -> str:
    loaded = load(tmp_path, document)
    assert "sigma-the-correlation" not in {d.id for d in loaded.detectors}
    return next(p.message for p in loaded.problems if p.rule == "The Correlation")


def run(detector: Detector, events: list[dict[str, Any]]) -> list[Alert]:
    engine = Engine([detector])
    alerts = {a.id: a for a in engine.process_records(events, "test").alerts}
    alerts.update({a.id: a for a in engine.flush()})
    assert not engine.stats.detector_errors
    return list(alerts.values())


def call(name: str, seconds: float, who: str = "alice", **fields: Any) -> dict[str, Any]:
    source = {"DeleteBucket": "s3.amazonaws.com", "PutBucketVersioning": "s3.amazonaws.com",
              "StopLogging": "cloudtrail.amazonaws.com"}.get(name, "iam.amazonaws.com")
    return cloudtrail_event(name, source, seconds, identity=iam_user(who), **fields)


def deletes(times: list[float], who: str = "alice") -> list[dict[str, Any]]:
    return [call("DeleteBucket", t, who, requestParameters={"bucketName": f"b-{t:g}"}) for t in times]


EVENT_COUNT = """\
type: event_count
rules: bucket_deleted
group-by: [userIdentity.arn]
timespan: 10m
condition: {gte: 3}
"""


# -- event_count -----------------------------------------------------------------------------------------


def test_event_count_fires_at_the_count_within_the_timespan_per_group(tmp_path: Path) -> None:
    detector = only(tmp_path, correlation(EVENT_COUNT))
    assert detector.state == Threshold(count=3, window_seconds=600)
    assert detector.events == {("s3.amazonaws.com", "DeleteBucket")}
    events = deletes([0, 60, 120, 180])
    [alert] = run(detector, events)
    assert alert.count == 4 and alert.event_ids == [e["eventID"] for e in events]  # the fourth joins the episode
    assert alert.context["group"] == {"userIdentity.arn": "arn:aws:iam::111122223333:user/alice"}
    assert alert.context["correlation"] == "event_count" and alert.context["threshold"] == 3
    assert alert.title == "The Correlation" and alert.mitre == ("T1485",)


def test_event_count_near_misses(tmp_path: Path) -> None:
    detector = only(tmp_path, correlation(EVENT_COUNT))
    assert run(detector, deletes([0, 60])) == []  # one short
    assert run(detector, [*deletes([0, 60]), *deletes([120], "bob")]) == []  # another group's event
    assert run(detector, deletes([0, 300, 601])) == []  # out of the window: 601 s from the first
    assert len(run(detector, deletes([0, 300, 600]))) == 1  # the edge: exactly the timespan apart
    # Another rule's events do not count.
    assert run(detector, [*deletes([0, 60]), call("StopLogging", 90)]) == []


def test_event_count_groups_are_kept_apart(tmp_path: Path) -> None:
    detector = only(tmp_path, correlation(EVENT_COUNT))
    alerts = run(detector, [*deletes([0, 10, 20], "alice"), *deletes([5, 15, 25], "bob")])
    assert sorted(a.context["group"]["userIdentity.arn"].rsplit("/", 1)[1] for a in alerts) == ["alice", "bob"]


def test_gt_is_one_more_than_gte_and_no_group_by_is_one_group(tmp_path: Path) -> None:
    detector = only(tmp_path, correlation("type: event_count\nrules: [bucket_deleted]\ntimespan: 1m\n"
                                          "condition: {gt: 2}\n"))
    assert detector.state == Threshold(count=3, window_seconds=60)
    assert run(detector, [*deletes([0], "alice"), *deletes([1], "bob")]) == []
    [alert] = run(detector, [*deletes([0], "alice"), *deletes([1], "bob"), *deletes([2], "carol")])
    assert alert.context["group"] == {}


def test_an_event_without_the_group_by_field_does_not_count(tmp_path: Path) -> None:
    detector = only(tmp_path, correlation(EVENT_COUNT))
    anonymous = [cloudtrail_event("DeleteBucket", "s3.amazonaws.com", t, identity={"type": "Unknown"})
                 for t in (0, 1, 2)]
    assert run(detector, anonymous) == []


def test_events_out_of_order_within_the_lateness_count_by_event_time(tmp_path: Path) -> None:
    detector = only(tmp_path, correlation(EVENT_COUNT))
    late = deletes([300, 0, 200])
    [alert] = run(detector, late)
    assert alert.count == 3 and alert.event_ids == [late[1]["eventID"], late[2]["eventID"], late[0]["eventID"]]


# -- value_count -----------------------------------------------------------------------------------------


VALUE_COUNT = """\
type: value_count
rules: bucket_deleted
group-by: [userIdentity.arn]
timespan: 10m
condition: {gte: 3, field: requestParameters.bucketName}
"""


def test_value_count_counts_distinct_values_per_group(tmp_path: Path) -> None:
    detector = only(tmp_path, correlation(VALUE_COUNT))
    assert detector.state == DistinctCount(count=3, window_seconds=600, label="requestParameters.bucketName")
    [alert] = run(detector, deletes([0, 60, 120]))
    assert alert.context["requestParameters.bucketName"] == ["b-0", "b-120", "b-60"]
    assert alert.context["distinct_count"] == 3


def test_value_count_near_misses(tmp_path: Path) -> None:
    detector = only(tmp_path, correlation(VALUE_COUNT))
    same = [call("DeleteBucket", t, requestParameters={"bucketName": "one"}) for t in range(0, 50, 10)]
    assert run(detector, same) == []  # five events, one value
    assert run(detector, [*deletes([0, 60]), *deletes([90], "bob")]) == []  # the third value is another group's
    assert run(detector, deletes([0, 300, 700])) == []  # the first value left the window
    no_value = [call("DeleteBucket", t) for t in (0, 1, 2)]  # no bucketName: nothing counted
    assert run(detector, no_value) == []


def test_several_group_by_fields_and_counted_fields(tmp_path: Path) -> None:
    body = """\
type: value_count
rules: bucket_deleted
group-by: [userIdentity.arn, awsRegion]
timespan: 10m
condition: {gte: 2, field: [requestParameters.bucketName, requestParameters.reason]}
"""
    detector = only(tmp_path, correlation(body))

    def delete(t: float, bucket: str, region: str = "us-east-1", reason: str = "cleanup") -> dict[str, Any]:
        return call("DeleteBucket", t, region=region, requestParameters={"bucketName": bucket, "reason": reason})

    assert run(detector, [delete(0, "a"), delete(10, "b", region="eu-west-1")]) == []  # two groups
    assert run(detector, [delete(0, "a"), delete(10, "a")]) == []  # one (bucket, reason)
    [alert] = run(detector, [delete(0, "a"), delete(10, "a", reason="audit")])
    assert alert.context["group"] == {"userIdentity.arn": "arn:aws:iam::111122223333:user/alice",
                                      "awsRegion": "us-east-1"}
    # Values holding a separator cannot merge two groups (attacker-controlled text).
    tricky = [cloudtrail_event("DeleteBucket", "s3.amazonaws.com", t, identity={"type": "IAMUser", "arn": arn},
                               region=region, requestParameters={"bucketName": f"b{t:g}", "reason": "r"})
              for t, arn, region in ((0, "x\x1fy", "z"), (10, "x", "y\x1fz"), (20, 'x","y', "z"), (30, "x", 'y","z'))]
    assert run(detector, tricky) == []


# -- temporal and temporal_ordered ---------------------------------------------------------------------


TEMPORAL = """\
type: temporal
rules: [trail_stopped, bucket_deleted]
group-by: [userIdentity.arn]
timespan: 5m
"""


def test_temporal_needs_every_rule_in_any_order(tmp_path: Path) -> None:
    detector = only(tmp_path, correlation(TEMPORAL))
    assert detector.state == DistinctCount(count=2, window_seconds=300, label="rules")
    assert detector.events == {("s3.amazonaws.com", "DeleteBucket"), ("cloudtrail.amazonaws.com", "StopLogging")}
    [alert] = run(detector, [call("StopLogging", 0), *deletes([100])])
    assert alert.context["rules"] == ["bucket_deleted", "trail_stopped"]
    assert len(run(detector, [*deletes([0]), call("StopLogging", 100)])) == 1  # either order
    assert run(detector, deletes([0, 10, 20])) == []  # one rule, many times
    assert run(detector, [call("StopLogging", 0), *deletes([100], "bob")]) == []  # two groups
    assert run(detector, [call("StopLogging", 0), *deletes([301])]) == []  # out of the timespan
    assert len(run(detector, [call("StopLogging", 0), *deletes([300])])) == 1  # its edge


def test_temporal_with_a_condition_needs_that_many_of_the_rules(tmp_path: Path) -> None:
    body = ("type: temporal\nrules: [trail_stopped, bucket_deleted, versioning_suspended]\n"
            "group-by: [userIdentity.arn]\ntimespan: 5m\ncondition: {gte: 2}\n")
    detector = only(tmp_path, correlation(body))
    assert run(detector, [call("PutBucketVersioning", 0)]) == []
    assert len(run(detector, [call("PutBucketVersioning", 0), call("StopLogging", 5)])) == 1


ORDERED = """\
type: temporal_ordered
rules: [trail_stopped, bucket_deleted, versioning_suspended]
group-by: [userIdentity.arn]
timespan: 10m
"""


def test_temporal_ordered_needs_the_rules_in_their_order(tmp_path: Path) -> None:
    detector = only(tmp_path, correlation(ORDERED))
    assert detector.state == Ordered(steps=("trail_stopped", "bucket_deleted", "versioning_suspended"),
                                     window_seconds=600, label="rules")
    events = [call("StopLogging", 0), *deletes([60]), call("PutBucketVersioning", 120)]
    [alert] = run(detector, events)
    assert alert.event_ids == [e["eventID"] for e in events] and alert.count == 3
    assert alert.context["rules"] == ["trail_stopped", "bucket_deleted", "versioning_suspended"]
    # The same three calls out of order: quiet; later steps in order complete the sequence from the stop.
    assert run(detector, [*deletes([0]), call("StopLogging", 60), call("PutBucketVersioning", 120)]) == []
    [late] = run(detector, [*deletes([0]), call("StopLogging", 60), call("PutBucketVersioning", 120),
                            *deletes([180]), call("PutBucketVersioning", 240)])
    assert late.count == 3 and late.event_time == late.last_event_time - 180


def test_temporal_ordered_near_misses(tmp_path: Path) -> None:
    detector = only(tmp_path, correlation(ORDERED))
    assert run(detector, [call("StopLogging", 0), *deletes([60])]) == []  # a step missing
    assert run(detector, [call("StopLogging", 0), *deletes([60]), call("PutBucketVersioning", 601)]) == []
    assert len(run(detector, [call("StopLogging", 0), *deletes([60]), call("PutBucketVersioning", 600)])) == 1
    other = [call("StopLogging", 0), *deletes([60], "bob"), call("PutBucketVersioning", 120)]
    assert run(detector, other) == []


def test_temporal_ordered_orders_by_event_time_not_arrival(tmp_path: Path) -> None:
    detector = only(tmp_path, correlation(ORDERED))
    stop, delete, suspend = call("StopLogging", 0), *deletes([60]), call("PutBucketVersioning", 120)
    assert len(run(detector, [suspend, stop, delete])) == 1  # late arrivals, in order by eventTime


def test_one_event_is_never_two_steps(tmp_path: Path) -> None:
    both = """\
title: Any S3 Delete
name: any_s3_delete
tags: [attack.t1485]
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventSource: s3.amazonaws.com, eventName|startswith: Delete}
  condition: sel
"""
    body = ("type: temporal_ordered\nrules: [bucket_deleted, any_s3_delete]\n"
            "group-by: [userIdentity.arn]\ntimespan: 5m\n")
    detector = only(tmp_path, both, correlation(body))
    assert run(detector, deletes([0])) == []  # it matches both rules, but is one event
    assert len(run(detector, deletes([0, 10]))) == 1


def test_a_sequence_window_is_configurable_by_id_and_its_count_is_not(tmp_path: Path) -> None:
    detector = only(tmp_path, correlation(ORDERED))
    wider = apply_settings(detector, DetectorSettings(window_seconds=3600))
    assert wider.state == Ordered(steps=detector.state.steps, window_seconds=3600, label="rules")  # type: ignore[union-attr]
    assert len(run(wider, [call("StopLogging", 0), *deletes([60]), call("PutBucketVersioning", 1800)])) == 1
    with pytest.raises(RegistryError, match="no threshold or window"):
        apply_settings(detector, DetectorSettings(threshold=2))


# -- generate, aliases, references ------------------------------------------------------------------------


def test_referenced_rules_alert_on_their_own_only_with_generate(tmp_path: Path) -> None:
    quiet = only(tmp_path, correlation(EVENT_COUNT))
    assert run(quiet, deletes([0])) == []
    loaded = load(tmp_path, correlation(EVENT_COUNT + "generate: true\n"))
    assert not [p for p in loaded.problems if p.rule == "Bucket Deleted"]
    ids = [d.id for d in loaded.detectors]
    assert ids == ["sigma-bucket-deleted", "sigma-trail-stopped", "sigma-versioning-suspended",
                   "sigma-the-correlation"]
    engine = Engine(loaded.detectors)
    alerts = engine.process_records(deletes([0, 10, 20]), "test").alerts + engine.flush()
    assert {a.detector for a in alerts} == {"sigma-bucket-deleted", "sigma-the-correlation"}


def test_aliases_name_the_group_field_for_each_rule(tmp_path: Path) -> None:
    body = """\
type: temporal
rules: [trail_stopped, bucket_deleted]
group-by: [actor]
timespan: 5m
aliases:
  actor:
    trail_stopped: userIdentity.arn
    bucket_deleted: requestParameters.deletedFor
"""
    detector = only(tmp_path, correlation(body))
    alice = "arn:aws:iam::111122223333:user/alice"
    by_bob = iam_user("bob")
    matched = [call("StopLogging", 0), cloudtrail_event("DeleteBucket", "s3.amazonaws.com", 10, identity=by_bob,
                                                        requestParameters={"deletedFor": alice})]
    [alert] = run(detector, matched)
    assert alert.context["group"] == {"actor": alice}
    unmatched = [call("StopLogging", 0), cloudtrail_event("DeleteBucket", "s3.amazonaws.com", 10, identity=by_bob,
                                                          requestParameters={"deletedFor": "someone-else"})]
    assert run(detector, unmatched) == []


def test_a_correlation_finds_its_rules_in_another_file(tmp_path: Path) -> None:
    (tmp_path / "a_blocks.yml").write_text(BLOCKS)
    (tmp_path / "b_correlation.yml").write_text(correlation(EVENT_COUNT))
    loaded = load_sigma_rules([tmp_path])
    assert not loaded.problems
    assert [d.id for d in loaded.detectors] == ["sigma-trail-stopped", "sigma-versioning-suspended",
                                                "sigma-the-correlation"]


@pytest.mark.parametrize(("body", "reason"), [
    (EVENT_COUNT.replace("gte: 3", "lt: 3"), "fewer than N (lt)"),
    (EVENT_COUNT.replace("gte: 3", "lte: 3"), "at most N (lte)"),
    (EVENT_COUNT.replace("gte: 3", "eq: 3"), "exactly N (eq)"),
    (EVENT_COUNT.replace("gte: 3", "neq: 3"), "other than N (neq)"),
    (VALUE_COUNT.replace("value_count", "value_sum"), "'value_sum' is not supported"),
    (TEMPORAL.replace("rules: [trail_stopped, bucket_deleted]", "condition: trail_stopped and not bucket_deleted"),
     "extended correlation conditions"),
    (EVENT_COUNT.replace("bucket_deleted", "no_such_rule"), "could not resolve"),
    (TEMPORAL + "condition: {gte: 3}\n", "can never be met"),
    (ORDERED + "condition: {gte: 2}\n", "every rule in order"),
])
def test_what_cannot_run_is_refused_with_the_reason(tmp_path: Path, body: str, reason: str) -> None:
    assert reason in problem(tmp_path, correlation(body))


def test_lt_is_refused_because_no_event_would_close_the_window(tmp_path: Path) -> None:
    message = problem(tmp_path, correlation(EVENT_COUNT.replace("gte: 3", "lt: 3")))
    assert "timespan to close with no event" in message and "only `gte` and `gt`" in message


def test_the_rules_a_skipped_correlation_uses_are_skipped_and_say_why(tmp_path: Path) -> None:
    loaded = load(tmp_path, correlation(EVENT_COUNT.replace("gte: 3", "lt: 3")))
    assert {d.id for d in loaded.detectors} == {"sigma-trail-stopped", "sigma-versioning-suspended"}
    blocked = {p.rule: p.message for p in loaded.problems}
    assert "'The Correlation'" in blocked["Bucket Deleted"] and "did not load" in blocked["Bucket Deleted"]
    assert "Trail Stopped" not in blocked  # not used by a correlation: it alerts on its own
    # ... which a correlation-free file shows: the unreferenced blocks load as ordinary rules.
    assert {d.id for d in load(tmp_path).detectors} == {"sigma-bucket-deleted", "sigma-trail-stopped",
                                                         "sigma-versioning-suspended"}


def test_a_correlation_of_correlations_is_refused(tmp_path: Path) -> None:
    inner = correlation(EVENT_COUNT, title="Inner").replace("name: ", "").replace(
        "id: 7e1d0000-0000-4000-8000-0000000000ff", "id: 7e1d0000-0000-4000-8000-0000000000fe\nname: inner")
    outer = correlation("type: event_count\nrules: inner\ntimespan: 1h\ncondition: {gte: 2}\n")
    loaded = load(tmp_path, inner, outer)
    problems = {p.rule: p.message for p in loaded.problems}
    assert "correlations of correlations" in problems["The Correlation"]
    assert "did not load" in problems["Inner"]  # only the outer one used it


def test_a_referenced_rule_that_cannot_load_names_itself_in_the_correlations_problem(tmp_path: Path) -> None:
    bad = """\
title: Windows Thing
name: windows_thing
logsource: {product: windows}
detection: {sel: {Image: x}, condition: sel}
"""
    body = "type: event_count\nrules: windows_thing\ntimespan: 1h\ncondition: {gte: 2}\n"
    message = problem(tmp_path, bad + "---\n" + correlation(body))
    assert "referenced rule 'windows_thing': logsource is not AWS CloudTrail" in message


# -- state: restarts and stores shared by replicas ------------------------------------------------------


def durable(detectors: list[Detector], path: Path, opened: list[EmbeddedStore]) -> Engine:
    store = EmbeddedStore(path, dedupe_capacity=100_000)
    opened.append(store)
    engine = Engine(detectors, store=store)
    store.restore()
    engine.restored()
    return engine


TEMPORAL_OF_THREE = ("type: temporal\nrules: [versioning_suspended, trail_stopped, bucket_deleted]\n"
                     "group-by: [userIdentity.arn]\ntimespan: 10m\n")


@pytest.mark.parametrize("body", [EVENT_COUNT, VALUE_COUNT, TEMPORAL_OF_THREE, ORDERED])
def test_a_correlation_survives_a_restart_with_the_same_alert(tmp_path: Path, body: str) -> None:
    detector = only(tmp_path, correlation(body))
    events = [call("StopLogging", 0), *deletes([60, 90]), call("PutBucketVersioning", 120), *deletes([150])]
    [uninterrupted] = run(detector, events)
    opened: list[EmbeddedStore] = []
    try:
        first = durable([detector], tmp_path / "state.sqlite", opened)
        assert first.process_records(events[:2], "before").alerts == []
        first.store.persist()  # then the process dies: what was persisted is all the next one has
        second = durable([detector], tmp_path / "state.sqlite", opened)
        alerts = {a.id: a for a in second.process_records(events[2:], "after").alerts}
        alerts.update({a.id: a for a in second.flush()})
    finally:
        for store in opened:
            store.close()
    [resumed] = alerts.values()
    assert (resumed.id, resumed.count, resumed.event_ids, resumed.context) == (
        uninterrupted.id, uninterrupted.count, uninterrupted.event_ids, uninterrupted.context)


@pytest.mark.parametrize("body", [EVENT_COUNT, VALUE_COUNT, TEMPORAL, ORDERED])
def test_a_correlation_reads_only_the_keys_its_findings_name(tmp_path: Path, body: str) -> None:
    detector = only(tmp_path, correlation(body))
    store = ReadsOnlyWhatWasWanted()
    engine = Engine([detector], EngineSettings(), store=store)
    events = [call("StopLogging", 0), *deletes([60, 90]), call("PutBucketVersioning", 120), *deletes([150])]
    assert apply_one_by_one(engine, store, [orjson.dumps({"Records": [e]}) for e in events]) > 0
    assert store.reads > 0 and not engine.stats.detector_errors


@pytest.mark.parametrize("body", [EVENT_COUNT, TEMPORAL_OF_THREE, ORDERED])
async def test_a_correlation_split_over_two_replicas_fires_once(tmp_path: Path, redis_server: RedisServer,
                                                                body: str) -> None:
    detector = only(tmp_path, correlation(body))
    first, second = Replica(redis_server.url, []), Replica(redis_server.url, [])
    for replica in (first, second):
        replica.engine = Engine([detector], EngineSettings(), store=replica.store)
    try:
        events = [call("StopLogging", 0), *deletes([60, 90]), call("PutBucketVersioning", 120), *deletes([150])]
        assert await first.process(events[:2]) == []
        alerts = await second.process(events[2:4])
        alerts += await first.process(events[4:])
        [alert] = alerts
        alone = Engine([detector])  # one process, the same three batches
        [expected] = [a for batch in (events[:2], events[2:4], events[4:])
                      for a in alone.process_records(batch, "test").alerts]
        assert (alert.id, alert.count, alert.event_ids) == (expected.id, expected.count, expected.event_ids)
    finally:
        await first.close()
        await second.close()


# -- the examples and the command line ----------------------------------------------------------------


def test_the_example_correlations(tmp_path: Path) -> None:
    loaded = load_sigma_rules([EXAMPLES])
    by_id = {d.id: d for d in loaded.detectors}
    admin = by_id["sigma-new-iam-user-made-administrator-within-the-hour"]
    created = call("CreateUser", 0, requestParameters={"userName": "backdoor"})
    attached = call("AttachUserPolicy", 600, requestParameters={
        "userName": "backdoor", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    [alert] = run(admin, [created, attached])
    assert alert.context["group"]["requestParameters.userName"] == "backdoor"
    other_user = {**attached, "requestParameters": {**attached["requestParameters"], "userName": "carol"}}
    assert run(admin, [created, other_user]) == []
    spray = by_id["sigma-failed-console-sign-ins-for-many-users-from-one-address"]
    failures = [cloudtrail_event("ConsoleLogin", "signin.amazonaws.com", i * 30, identity=iam_user(name),
                                 sourceIPAddress="203.0.113.66", responseElements={"ConsoleLogin": "Failure"})
                for i, name in enumerate(["ann", "ben", "cat", "dan", "eve"])]
    [sprayed] = run(spray, failures)
    assert sprayed.context["distinct_count"] == 5
    assert run(spray, failures[:4]) == []


def test_detectors_list_shows_correlations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rules.yml").write_text(BLOCKS + "---\n" + correlation(ORDERED))
    (tmp_path / "untagged.yml").write_text("title: Untagged\ntags: [attack.discovery]\n"
                                           "logsource: {product: aws, service: cloudtrail}\n"
                                           "detection: {sel: {eventName: ListBuckets}, condition: sel}\n")
    config = tmp_path / "trailsentry.yaml"
    config.write_text("rules:\n  sigma: [rules.yml, untagged.yml]\n")
    assert main(["detectors", "list", "--config", str(config), "--format", "json"]) == 0
    catalog = {entry["id"]: entry for entry in orjson.loads(capsys.readouterr().out)}
    entry = catalog["sigma-the-correlation"]
    assert entry["kind"] == "sigma" and entry["state"] == "Ordered"
    assert "Sigma temporal_ordered correlation" in entry["runbook"]
    assert "sigma-bucket-deleted" not in catalog  # a building block only
    assert main(["detectors", "list", "--config", str(config)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    assert rows["sigma-the-correlation"][1:4] == ["high", "sigma", "T1485"]
    assert rows["sigma-untagged"][1:5] == ["medium", "sigma", "-", "1"]  # no technique: a dash keeps the columns


@pytest.mark.parametrize("workers", ["1", "2"])
def test_scan_runs_a_correlation_split_over_files(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  workers: str) -> None:
    (tmp_path / "rules.yml").write_text(BLOCKS + "---\n" + correlation(ORDERED))
    config = tmp_path / "trailsentry.yaml"
    config.write_text("rules:\n  sigma: [rules.yml]\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    steps = [call("StopLogging", 0), *deletes([60]), call("PutBucketVersioning", 120)]
    for index, step in enumerate(steps):  # one file per step: the sequence crosses batches (and workers)
        (logs / f"part-{index}.jsonl").write_bytes(orjson.dumps(step) + b"\n")
    code = main(["scan", "--format", "jsonl", "--no-progress", "--workers", workers, "--config", str(config),
                 "--detector", "sigma-the-correlation", str(logs)])
    assert code == 0
    [alert] = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert alert["detector"] == "sigma-the-correlation" and alert["event_ids"] == [s["eventID"] for s in steps]
