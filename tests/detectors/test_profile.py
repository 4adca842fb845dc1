"""The learning detectors: fast paths agree with the full verdict, and normalisers are tolerant."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from detectors._profile import principal_key, source_network, user_agent_family
from monitor.engine import Engine
from monitor.model import Detector
from monitor.offline.samples import load_cases, samples_path
from monitor.rules.builtin import builtin_detectors

PROFILED = [d for d in builtin_detectors() if d.first_seen is not None and d.first_seen.profile is not None]
# One key and value per event: the full verdict (match, group_by, value) can be compared with the profile.
# iam-user-shared learns two columns (networks and tools) per event, which only the profile can feed.
FAST_PATHED = [d for d in PROFILED if d.first_seen is not None and not d.first_seen.more_columns]


def _alerts(detector: Detector, events: list[Any]) -> list[tuple[str, int, str]]:
    engine = Engine([detector])
    alerts = {a.id: a for a in [*engine.process(events, "t").alerts, *engine.flush()]}
    return sorted((a.id, a.count, repr(sorted(a.context.items()))) for a in alerts.values())


def test_there_are_fast_pathed_detectors() -> None:
    assert {d.id for d in FAST_PATHED} >= {"new-source-ip-for-principal", "new-user-agent-for-principal",
                                           "new-region-for-principal", "instance-credentials-used-elsewhere"}
    assert {d.id for d in PROFILED} - {d.id for d in FAST_PATHED} == {"iam-user-shared"}


@pytest.mark.parametrize("detector", FAST_PATHED, ids=lambda d: d.id)
def test_the_profile_fast_path_gives_the_same_alerts_as_match_group_by_and_value(detector: Detector) -> None:
    assert detector.first_seen is not None
    slow = dataclasses.replace(detector, first_seen=dataclasses.replace(detector.first_seen, profile=None))
    cases = load_cases(samples_path(detector))
    every_event = [e for case in cases for e in case["events"]]
    for case in cases:
        assert _alerts(detector, case["events"]) == _alerts(slow, case["events"]), case["name"]
    # Mixed together (several principals, hostile shapes among them) they still agree.
    hostile: list[Any] = [{"userIdentity": None}, {"userIdentity": {"type": ["IAMUser"]}, "awsRegion": 5},
                          {"userIdentity": {"type": "IAMUser", "arn": 7}, "sourceIPAddress": {"x": 1}}]
    assert _alerts(detector, every_event + hostile) == _alerts(slow, every_event + hostile)


@pytest.mark.parametrize(("user_agent", "family"), [
    ("aws-cli/2.15.0 Python/3.11.6 Linux/5.10 exe/x86_64", "aws-cli"),
    ("aws-cli/1.29.0 Python/3.8.10 Windows/10 botocore/1.31.0", "aws-cli"),
    ("Boto3/1.34.1 md/Botocore#1.34.1 ua/2.0 os/linux#5.10", "boto3"),
    ("APN/1.0 HashiCorp/1.0 Terraform/1.5.7 (+https://www.terraform.io) terraform-provider-aws/5.31.0", "terraform"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15", "browser/macos"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/122.0.0.0", "browser/windows"),
    ("[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488]", None),
    ("AWS Internal", None),
    ("cloudformation.amazonaws.com", None),
    ("curl/8.4.0", "curl"),
    ("", None),
    ("\x00\x01 weird", "other"),
])
def test_user_agents_are_remembered_by_tool_family(user_agent: str, family: str | None) -> None:
    assert user_agent_family(user_agent) == family


@pytest.mark.parametrize(("source_ip", "network"), [
    ("203.0.113.77", "203.0.113.0/24"),
    ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
    ("::ffff:203.0.113.5", "203.0.113.0/24"),
    ("AWS Internal", None),
    ("ec2.amazonaws.com", None),
    ("999.1.1.1", None),
    ("1" * 5000, None),
])
def test_source_addresses_are_remembered_by_network(source_ip: str, network: str | None) -> None:
    assert source_network(source_ip) == network


def test_role_sessions_fold_into_their_role_and_aws_itself_has_no_key() -> None:
    identity = {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Deploy/i-0abc",
                "accountId": "111122223333"}
    session: dict[str, Any] = {"userIdentity": identity, "sourceIPAddress": "203.0.113.5"}
    assert principal_key(session) == "arn:aws:iam::111122223333:role/Deploy"
    for made_by_aws in ({**session, "sourceIPAddress": "AWS Internal"},
                        {**session, "eventType": "AwsServiceEvent"},
                        {**session, "userIdentity": {**identity, "invokedBy": "ec2.amazonaws.com"}}):
        assert principal_key(made_by_aws) is None


def test_detectors_sharing_one_profile_together_give_the_same_alerts_as_each_alone() -> None:
    events = [e for d in PROFILED for case in load_cases(samples_path(d)) for e in case["events"]]
    together = Engine(PROFILED)
    final = {a.id: a for a in [*together.process(events, "t").alerts, *together.flush()]}  # last emission wins
    shared = {(a.detector, a.id, a.count) for a in final.values()}
    alone = {(d.id, alert_id, count) for d in PROFILED for alert_id, count, _ in _alerts(d, events)}
    assert shared == alone
    assert {detector for detector, _, _ in shared} == {d.id for d in PROFILED}


def test_hostile_long_values_are_normalised_without_being_remembered() -> None:
    from detectors import _profile

    before = (_profile._memo_family.cache_info().currsize, _profile._memo_network.cache_info().currsize)
    for index in range(50):
        assert user_agent_family("curl/" + "x" * 5000 + str(index)) == "curl"
        assert source_network("1" * 100 + str(index)) is None
    after = (_profile._memo_family.cache_info().currsize, _profile._memo_network.cache_info().currsize)
    assert after == before
