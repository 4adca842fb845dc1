"""Alerts that never hide the worst event: an episode lists every distinct target it folds, and a worse
call or a new kind of target re-emits it at once under the same id; the same across restarts."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.engine import Engine, EngineSettings
from monitor.engine.episodes import CODEC, MAX_KIND_EXTRAS, MAX_OMITTED, fold_targets
from monitor.engine.episodes import SPACE as EPISODES
from monitor.engine.state.embedded import EmbeddedStore
from monitor.model import Alert, Detector, Hit, Severity, keys
from monitor.model.alert import MAX_TARGETS, TARGETS, TARGETS_OMITTED
from monitor.rules.builtin import builtin_detectors
from tests.helpers import ACCOUNT, OTHER_ACCOUNT, api_call, iam_user, latest, root

ACTOR_IP = "203.0.113.66"
ALICE = iam_user("alice")


def catalog(*ids: str) -> list[Detector]:
    chosen = [d for d in builtin_detectors() if d.id in ids]
    assert {d.id for d in chosen} == set(ids)
    return chosen


def call(source: str, name: str, seconds: float, request: dict[str, Any], response: Any = None) -> dict[str, Any]:
    return api_call(ALICE, source, name, seconds, ip=ACTOR_IP, requestParameters=request, responseElements=response)


def access_key(user: str, key_id: str, seconds: float) -> dict[str, Any]:
    return call("iam.amazonaws.com", "CreateAccessKey", seconds, {"userName": user},
                {"accessKey": {"userName": user, "accessKeyId": key_id, "status": "Active",
                               "createDate": "Mar 1, 2026 12:00:00 PM"}})


def image_shared(image: str, seconds: float) -> dict[str, Any]:
    return call("ec2.amazonaws.com", "ModifyImageAttribute", seconds,
                {"imageId": image, "attributeType": "launchPermission",
                 "launchPermission": {"add": {"items": [{"userId": OTHER_ACCOUNT}]}}}, {"_return": True})


def db_snapshot_shared(snapshot: str, seconds: float) -> dict[str, Any]:
    return call("rds.amazonaws.com", "ModifyDBSnapshotAttribute", seconds,
                {"dBSnapshotIdentifier": snapshot, "attributeName": "restore", "valuesToAdd": [OTHER_ACCOUNT]})


def selectors_blinded(trail: str, seconds: float) -> dict[str, Any]:
    return call("cloudtrail.amazonaws.com", "PutEventSelectors", seconds,
                {"trailName": trail, "eventSelectors": [{"readWriteType": "ReadOnly",
                                                         "includeManagementEvents": True, "dataResources": []}]})


def trail_deleted(trail: str, seconds: float) -> dict[str, Any]:
    return call("cloudtrail.amazonaws.com", "DeleteTrail", seconds, {"name": trail})


def bucket_policy(bucket: str, seconds: float) -> dict[str, Any]:
    return call("s3.amazonaws.com", "PutBucketPolicy", seconds,
                {"bucketName": bucket, "bucketPolicy": {"Version": "2012-10-17", "Statement": []}, "Host": bucket})


def emissions(engine: Engine, *batches: list[dict[str, Any]]) -> list[list[Alert]]:
    """What each batch emitted, then what closing the episodes emitted."""
    out = [engine.process_records(batch, f"batch-{n}").alerts for n, batch in enumerate(batches)]
    out.append(engine.flush())
    return out


def test_two_keys_for_two_users_are_both_listed_and_a_key_for_another_user_updates_at_once() -> None:
    engine = Engine(catalog("access-key-created"))
    own = access_key("alice", "AKIAEXAMPLEALICE0001", 0)
    deploy = access_key("deploy-bot", "AKIAEXAMPLEDEPLOY001", 30)
    admin = access_key("admin", "AKIAEXAMPLEADMIN0001", 95)
    [[opened], [escalated], [], final] = emissions(engine, [own], [deploy], [admin])
    # A key for another user after one for herself: the alert is re-sent at once, titled for the worse event.
    assert escalated.id == opened.id and escalated.severity == Severity.HIGH
    assert escalated.title == "Access key created for another user"
    assert escalated.context["updated_for"] == "severity rose to high"
    assert escalated.context[TARGETS] == ["user:alice", "access-key:AKIAEXAMPLEALICE0001",
                                          "user:deploy-bot", "access-key:AKIAEXAMPLEDEPLOY001"]
    # The second key for another user only joins the list: shown in the final update, with every key.
    [closed] = final
    assert (closed.id, closed.count) == (opened.id, 3)
    assert closed.context[TARGETS] == [
        "user:alice", "access-key:AKIAEXAMPLEALICE0001", "user:deploy-bot", "access-key:AKIAEXAMPLEDEPLOY001",
        "user:admin", "access-key:AKIAEXAMPLEADMIN0001"]
    assert "updated_for" not in closed.context and TARGETS_OMITTED not in closed.context


def test_an_rds_snapshot_shared_behind_an_ami_share_updates_the_alert_at_once() -> None:
    engine = Engine(catalog("snapshot-or-image-shared"))
    [[opened], [updated], [], [closed]] = emissions(
        engine, [image_shared("ami-0abcdef1234567890", 0)], [db_snapshot_shared("prod-db-final", 40)],
        [image_shared("ami-0fedcba9876543210", 60)])
    assert opened.context[TARGETS] == ["image:ami-0abcdef1234567890"]
    assert (updated.id, updated.count) == (opened.id, 2)
    assert updated.context["updated_for"] == "new call rds:ModifyDBSnapshotAttribute"
    assert updated.context[TARGETS] == ["image:ami-0abcdef1234567890", "db-snapshot:prod-db-final"]
    # A second AMI is a known call and kind: it joins, and the final update lists all three.
    assert (closed.id, closed.count) == (opened.id, 3)
    assert closed.context[TARGETS] == ["image:ami-0abcdef1234567890", "db-snapshot:prod-db-final",
                                       "image:ami-0fedcba9876543210"]


def test_trails_deleted_behind_a_selector_change_update_the_alert_at_once() -> None:
    engine = Engine(catalog("cloudtrail-logging-stopped"))
    [[opened], [updated], [], [closed]] = emissions(
        engine, [selectors_blinded("org-trail", 0)], [trail_deleted("org-trail", 20)],
        [trail_deleted("backup-trail", 35)])
    assert opened.event_name == "PutEventSelectors" and opened.context[TARGETS] == ["trail:org-trail"]
    assert updated.id == opened.id and updated.context["updated_for"] == "new call cloudtrail:DeleteTrail"
    assert (closed.id, closed.count) == (opened.id, 3)
    assert closed.context[TARGETS] == ["trail:org-trail", "trail:backup-trail"]


def test_a_new_call_does_not_re_emit_a_medium_alert_before_it_closes() -> None:
    # iam-policy-changed is medium: a pipeline's CreatePolicy, AttachRolePolicy... wait for the episode's end.
    engine = Engine(catalog("iam-policy-changed"))
    create = call("iam.amazonaws.com", "CreatePolicy", 0, {"policyName": "deploy-extra"})
    attach = call("iam.amazonaws.com", "AttachRolePolicy", 10,
                  {"roleName": "deployer", "policyArn": f"arn:aws:iam::{ACCOUNT}:policy/deploy-extra"})
    [[opened], [], [closed]] = emissions(engine, [create], [attach])
    assert closed.id == opened.id
    assert closed.context[TARGETS] == ["policy:deploy-extra", "policy:arn:aws:iam::111122223333:policy/deploy-extra",
                                       "role:deployer"]


def test_the_list_is_capped_and_the_rest_counted_once_each() -> None:
    engine = Engine(catalog("s3-bucket-policy-changed"))
    buckets = [f"example-bucket-{n:02d}" for n in range(30)]
    first = [bucket_policy(name, n) for n, name in enumerate(buckets)]
    again = [bucket_policy(name, 100 + n) for n, name in enumerate(buckets[-5:])]  # repeats of omitted ones
    [[opened], [], [closed]] = emissions(engine, first, again)
    assert opened.context[TARGETS] == ["bucket:example-bucket-00"]
    assert closed.count == 35
    assert closed.context[TARGETS] == [f"bucket:{name}" for name in buckets[:MAX_TARGETS]]
    assert closed.context[TARGETS_OMITTED] == 10
    assert len(orjson.dumps(closed.to_dict())) < 8_000


def test_past_the_cap_a_new_kind_is_still_listed_and_the_count_is_bounded() -> None:
    many = [f"user:u{n}" for n in range(MAX_TARGETS + MAX_OMITTED + 50)]
    context, omitted, kinds = fold_targets({}, (), many)
    assert kinds == ["user"] and len(context[TARGETS]) == MAX_TARGETS
    assert context[TARGETS_OMITTED] == len(omitted) == MAX_OMITTED  # a lower bound past what is remembered
    roles = [f"role:r{n}" for n in range(MAX_KIND_EXTRAS + 3)]
    context, omitted, kinds = fold_targets(context, omitted, [*roles, "key:k", 7, None, ""])
    # The first of each kind not listed yet goes on the list past the cap, up to MAX_KIND_EXTRAS of them.
    assert kinds == ["role", "key"] and context[TARGETS][MAX_TARGETS:] == ["role:r0", "key:k"]
    context, omitted, kinds = fold_targets(context, omitted, [f"kind{n}:x" for n in range(MAX_KIND_EXTRAS)])
    assert len(kinds) == MAX_KIND_EXTRAS - 2 and len(context[TARGETS]) == MAX_TARGETS + MAX_KIND_EXTRAS
    unchanged, same, none = fold_targets(context, omitted, ["user:u0", "role:r0"])
    assert (unchanged, same, none) == (context, omitted, [])


def test_one_event_naming_more_targets_than_the_cap_opens_an_alert_that_counts_them() -> None:
    def many(event: Any, params: Any) -> Hit:
        return Hit(context={TARGETS: [f"instance:i-{n:017x}" for n in range(MAX_TARGETS + 4)]})

    detector = Detector(id="many-targets", title="Many targets", severity=Severity.HIGH, mitre=("T1078",),
                        runbook="Check it.", match=many, events=frozenset({("ssm.amazonaws.com", "SendCommand")}),
                        group_by=keys("principal"))
    engine = Engine([detector])
    [[opened], [], [closed]] = emissions(engine, [call("ssm.amazonaws.com", "SendCommand", 0, {})],
                                         [call("ssm.amazonaws.com", "SendCommand", 5, {})])
    assert len(opened.context[TARGETS]) == MAX_TARGETS and opened.context[TARGETS_OMITTED] == 4
    assert closed.context[TARGETS_OMITTED] == 4  # the same four again: counted once


# -- restarts ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def stores() -> Iterator[list[EmbeddedStore]]:
    opened: list[EmbeddedStore] = []
    yield opened
    for store in opened:
        store.close()


def durable(detectors: list[Detector], path: Path, opened: list[EmbeddedStore]) -> Engine:
    store = EmbeddedStore(path, dedupe_capacity=EngineSettings().dedupe_capacity)
    opened.append(store)
    engine = Engine(detectors, store=store)
    store.restore()
    engine.restored()
    return engine


@pytest.mark.parametrize("case", ["trails", "capped"])
def test_an_episode_persisted_mid_way_ends_as_an_uninterrupted_one(case: str, tmp_path: Path,
                                                                   stores: list[EmbeddedStore]) -> None:
    if case == "trails":
        detectors = catalog("cloudtrail-logging-stopped")
        before = [selectors_blinded("org-trail", 0), trail_deleted("org-trail", 20)]
        after = [trail_deleted("backup-trail", 35), trail_deleted("archive-trail", 50)]
    else:
        detectors = catalog("s3-bucket-policy-changed")
        before = [bucket_policy(f"example-bucket-{n:02d}", n) for n in range(25)]
        after = [bucket_policy(f"example-bucket-{n:02d}", 100 + n) for n in range(20, 28)]
    uninterrupted = Engine(detectors)
    expected = [a.to_dict() for batch in emissions(uninterrupted, [dict(e) for e in before],
                                                   [dict(e) for e in after]) for a in batch]

    first = durable(detectors, tmp_path / "state.sqlite", stores)
    got = [a.to_dict() for a in first.process_records([dict(e) for e in before], "batch-0").alerts]
    first.store.persist()
    second = durable(detectors, tmp_path / "state.sqlite", stores)
    got += [a.to_dict() for a in second.process_records([dict(e) for e in after], "batch-1").alerts]
    got += [a.to_dict() for a in second.flush()]
    assert got == expected
    final = latest([Alert.from_dict(a) for a in got])
    assert len(final) == 1


def test_reads_never_count_as_a_worse_call_and_a_change_does() -> None:
    engine = Engine(catalog("root-activity"))

    def by_root(name: str, seconds: float, source: str = "ec2.amazonaws.com", read: bool = True) -> dict[str, Any]:
        return api_call(root(), source, name, seconds, ip=ACTOR_IP, readOnly=read)

    [[opened], [], [updated], []] = emissions(
        engine, [by_root("DescribeInstances", 0)],
        [by_root("DescribeVolumes", 10), by_root("GetRole", 20, "iam.amazonaws.com")],
        [by_root("CreateUser", 30, "iam.amazonaws.com", read=False)])
    assert (updated.id, updated.count) == (opened.id, 4)
    assert updated.context["updated_for"] == "new call iam:CreateUser"


def test_an_episode_saved_by_an_earlier_version_takes_its_first_call_as_known() -> None:
    engine = Engine(catalog("cloudtrail-logging-stopped"))
    [opened] = engine.process_records([trail_deleted("org-trail", 0)], "a").alerts
    saved = CODEC.dump(engine.applier.episodes.get("cloudtrail-logging-stopped", next(
        key.split("\x1f", 1)[1] for key, _ in engine.store.items(EPISODES))))
    assert saved["calls"] == ["cloudtrail:DeleteTrail"]
    earlier = {name: value for name, value in saved.items() if name not in ("calls", "omitted")}
    restored = CODEC.load(orjson.loads(orjson.dumps(earlier)))
    assert (restored.calls, restored.omitted, restored.alert.id) == (("cloudtrail:DeleteTrail",), (), opened.id)


def test_an_alert_folded_keeps_every_field_it_is_not_given() -> None:
    alert = Alert(id="a1", detector="d", title="t", severity=Severity.LOW, account=ACCOUNT, region="eu-west-1",
                  principal="p", source_ip="198.51.100.7", user_agent="ua", event_source="s", event_name="n",
                  event_time=1.0, last_event_time=2.0, event_ids=["e1"], count=1, mitre=("T1078",), runbook="r",
                  context={"k": 1}, account_alias="prod", tactics=("initial-access",), signal=True)
    changes: dict[str, Any] = {"count": 3, "event_time": 0.5, "last_event_time": 9.0, "event_ids": ["e1", "e2"],
                               "severity": Severity.HIGH, "title": "worse", "context": {"k": 2}}
    assert alert.folded(**changes) == dataclasses.replace(alert, **changes)
