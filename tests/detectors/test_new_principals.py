"""A principal created minutes ago is not invisible: its recon, region spray and first model call alert as an
established principal's would (issue 13, blind spot 11).

Which detectors could hide a brand-new principal: the learners that learn each key for a week
(`learn_per_key`). Of those, `new-region-for-principal` is the one about spreading out; it now alerts on a
brand-new principal (first seen after the detector's own week) that acts in three regions within six hours
(`learning_burst`). `new-source-ip-for-principal` and `new-user-agent-for-principal` stay as they are: for a
person never seen, every address and tool is new, which says nothing. `model-invocation-burst` learns no
week at all. The burst and scanner detectors (`access-denied-burst`, `scanner-user-agent`, ...) count from
the first event whoever calls: this scenario checks that too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from monitor.engine import Engine
from monitor.engine.registry import apply_settings
from monitor.engine.settings import DetectorSettings
from monitor.model import Alert, FirstSeen
from monitor.rules.builtin import builtin_detectors
from tests.helpers import ACCOUNT, api_call, denied, iam_user, latest, of

DAY = 86400.0
WEEK = 7 * DAY
BY_ID = {d.id: d for d in builtin_detectors()}
WATCHED = ("new-region-for-principal", "access-denied-burst", "model-invocation-burst", "model-access-requested")
ATTACKER = "203.0.113.77"


def _run(events: list[dict[str, Any]]) -> list[Alert]:
    engine = Engine([BY_ID[name] for name in WATCHED])
    events = sorted(events, key=lambda e: str(e["eventTime"]))
    return list(latest([*engine.process_records(events, "t").alerts, *engine.flush()]).values())


def _warm_up() -> list[dict[str, Any]]:
    """An established deploy role acting over the detectors' first week: their learning is over after it."""
    deploy = {"type": "AssumedRole", "principalId": "AROAEXAMPLEDEPLOY001:ci",
              "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci", "accountId": ACCOUNT}
    return [api_call(deploy, "ec2.amazonaws.com", "CreateTags", day * DAY, ip="198.51.100.10")
            for day in range(9)]


def _created(name: str, seconds: float) -> list[dict[str, Any]]:
    admin = iam_user("admin")
    return [api_call(admin, "iam.amazonaws.com", "CreateUser", seconds, requestParameters={"userName": name}),
            api_call(admin, "iam.amazonaws.com", "CreateAccessKey", seconds + 5, requestParameters={"userName": name})]


def _spray(name: str, start: float, regions: list[str]) -> list[dict[str, Any]]:
    user = iam_user(name, key="AKIAIOSFODNN7NEWUSER")
    return [api_call(user, "ec2.amazonaws.com", "RunInstances", start + 60 * n, ip=ATTACKER, region=region,
                     requestParameters={"instanceType": "g5.12xlarge"})
            for n, region in enumerate(regions)]


def test_a_user_created_minutes_ago_spraying_regions_probing_and_invoking_models_alerts() -> None:
    now = 8 * DAY + 3600
    user = iam_user("temp-ops", key="AKIAIOSFODNN7NEWUSER")
    probes = [denied(user, now + 300 + n, ip=ATTACKER) for n in range(25)]  # recon refused 25 times in a minute
    invoke = api_call(user, "bedrock.amazonaws.com", "InvokeModel", now + 900, ip=ATTACKER,
                      requestParameters={"modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0"})
    access = api_call(user, "bedrock.amazonaws.com", "PutUseCaseForModelAccess", now + 880, ip=ATTACKER,
                      requestParameters={"formData": "e30="})
    alerts = _run([*_warm_up(), *_created("temp-ops", now),
                   *_spray("temp-ops", now + 600, ["us-east-1", "eu-north-1", "ap-south-1", "sa-east-1"]),
                   *probes, invoke, access])
    [regions] = of(alerts, "new-region-for-principal")
    # The alert names every region of the burst (its first region included) and counts them.
    assert sorted(regions.context["new_regions"]) == ["ap-south-1", "eu-north-1", "sa-east-1", "us-east-1"]
    assert regions.principal.endswith(":user/temp-ops") and regions.count == 4
    assert len(of(alerts, "access-denied-burst")) == 1
    [first_model] = of(alerts, "model-invocation-burst")
    assert first_model.context["reason"] == "first seen"
    assert len(of(alerts, "model-access-requested")) == 1


def test_a_new_principal_in_two_regions_is_not_a_burst() -> None:
    now = 8 * DAY
    alerts = _run([*_warm_up(), *_created("builder", now), *_spray("builder", now + 600, ["us-east-1", "eu-west-1"])])
    assert of(alerts, "new-region-for-principal") == []


def test_three_regions_spread_over_more_than_six_hours_are_not_a_burst() -> None:
    now = 8 * DAY
    user = iam_user("builder", key="AKIAIOSFODNN7NEWUSER")
    spread = [api_call(user, "ec2.amazonaws.com", "CreateTags", now + hours * 3600, region=region)
              for hours, region in ((0, "us-east-1"), (4, "eu-west-1"), (11, "ap-south-1"))]
    assert of(_run([*_warm_up(), *spread]), "new-region-for-principal") == []


def test_during_the_detectors_own_first_week_a_busy_principal_is_not_known_to_be_new() -> None:
    # On a new install every principal is first seen: one acting in many regions is learned, not flagged.
    alerts = _run([*_warm_up(), *_spray("stacksets", 2 * DAY, ["us-east-1", "eu-west-1", "ap-south-1", "sa-east-1"])])
    assert of(alerts, "new-region-for-principal") == []


def test_an_established_principal_still_alerts_on_one_new_region() -> None:
    user = iam_user("veteran", key="AKIAIOSFODNN7VETERAN")
    history = [api_call(user, "ec2.amazonaws.com", "CreateTags", day * DAY, region="us-east-1") for day in range(9)]
    alerts = _run([*history, api_call(user, "ec2.amazonaws.com", "CreateTags", 9 * DAY, region="ap-east-1")])
    [alert] = of(alerts, "new-region-for-principal")
    assert alert.context["new_regions"] == ["ap-east-1"]


def test_a_learning_burst_is_declared_with_sane_bounds_and_survives_a_learning_override() -> None:
    region = BY_ID["new-region-for-principal"]
    with pytest.raises(ValueError, match="learning_burst"):
        dataclasses.replace(region, state=FirstSeen(label="x", learning_burst=-1))
    with pytest.raises(ValueError, match="burst_seconds"):
        dataclasses.replace(region, state=FirstSeen(label="x", learning_burst=3, burst_seconds=0))
    tuned = apply_settings(region, DetectorSettings(learning_seconds=DAY))
    assert isinstance(tuned.state, FirstSeen) and tuned.state.learning_burst == 3
    assert tuned.state.learning_seconds == DAY
    # `threshold` sets how many regions a brand-new principal's burst needs; `window_seconds` stays the history.
    tuned = apply_settings(region, DetectorSettings(threshold=5, window_seconds=3 * DAY))
    assert isinstance(tuned.state, FirstSeen)
    assert (tuned.state.learning_burst, tuned.state.history_seconds) == (5, 3 * DAY)
