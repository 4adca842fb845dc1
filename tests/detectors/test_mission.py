"""The mission's detectors through the real engine: episodes, windows, traps and hostile input."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.identity import access_denied_burst, root_activity
from detectors.identity.non_mfa_sensitive_call import DETECTOR as NON_MFA
from monitor.decode import decode_bytes
from monitor.engine import DetectorSettings, Engine, configure
from monitor.model import Alert, Detector, Hit, Severity
from monitor.model import Event as TypedEvent
from monitor.model.alert import MAX_EVENT_IDS
from monitor.offline.samples import load_cases, samples_path
from monitor.rules.builtin import builtin_detectors
from tests.helpers import (
    ACCOUNT,
    ATTACKER_IP,
    MISSION,
    OTHER_ACCOUNT,
    SECRET,
    api_call,
    at,
    denied,
    failed_signin,
    failed_signin_identity,
    iam_user,
    latest,
    log_delivery_denied,
    of,
    root,
    signin,
)

DETECTORS = builtin_detectors()
Event = dict[str, Any]


def run(*batches: list[Event], engine: Engine | None = None) -> tuple[Engine, list[Alert]]:
    """Every emission of every alert, in order: each batch through `process`, then `flush`."""
    engine = engine or Engine(DETECTORS)
    emitted: list[Alert] = []
    for batch in batches:
        emitted.extend(engine.process_records(batch, "test").alerts)
    emitted.extend(engine.flush())
    return engine, emitted


def filler(seconds: float) -> Event:
    """An ordinary read that no mission detector wants; it only moves event time forward."""
    return api_call(iam_user("reader", key="AKIAEXAMPLEREADER001"), "ec2.amazonaws.com", "DescribeRegions", seconds,
                    ip="192.0.2.10", readOnly=True)


# --- the three burst detectors, driven the same way --------------------------------------------------

Maker = Callable[[int, float], Event]
BURSTS: dict[str, tuple[int, Maker]] = {
    "console-login-failure-burst": (5, lambda i, t: failed_signin("alice", t)),
    "console-password-spray": (5, lambda i, t: failed_signin(f"user{i:04d}", t)),
    "access-denied-burst": (20, lambda i, t: denied(iam_user("ci-deployer"), t)),
}


@pytest.fixture(params=sorted(BURSTS))
def burst(request: pytest.FixtureRequest) -> tuple[str, int, Maker]:
    detector = str(request.param)
    need, make = BURSTS[detector]
    return detector, need, make


def test_burst_fires_once_with_its_count_and_event_ids(burst: tuple[str, int, Maker]) -> None:
    detector, need, make = burst
    events = [make(i, i * 20) for i in range(need)]
    engine, emitted = run(events)
    mine = of(emitted, detector)
    assert len(mine) == 1, "one emission: nothing joined after it fired"
    alert = mine[0]
    assert alert.count == need
    assert sorted(alert.event_ids) == sorted(e["eventID"] for e in events)
    assert alert.event_time < alert.last_event_time
    assert not engine.stats.detector_errors


def test_burst_one_short_does_not_fire(burst: tuple[str, int, Maker]) -> None:
    detector, need, make = burst
    _, emitted = run([make(i, i * 20) for i in range(need - 1)])
    assert of(emitted, detector) == []


def test_burst_spread_over_eleven_minutes_does_not_fire(burst: tuple[str, int, Maker]) -> None:
    detector, need, make = burst
    step = 660 / (need - 1)
    _, emitted = run([make(i, round(i * step)) for i in range(need)])
    assert of(emitted, detector) == []


def test_burst_tolerates_an_event_twenty_minutes_late(burst: tuple[str, int, Maker]) -> None:
    detector, need, make = burst
    events = [make(i, i * 10) for i in range(need)]
    late = events.pop(need // 2)
    newest = max(e["eventTime"] for e in events)
    assert newest == at((need - 1) * 10)
    # Event time moves 20 minutes past the late event before it arrives, in a later batch.
    _, emitted = run([*events, filler((need // 2) * 10 + 1200)], [late])
    mine = of(emitted, detector)
    assert len(latest(mine)) == 1
    assert late["eventID"] in mine[0].event_ids
    assert mine[0].count == need


def test_burst_in_reverse_order_fires_the_same(burst: tuple[str, int, Maker]) -> None:
    detector, need, make = burst
    events = [make(i, i * 15) for i in range(need)]
    _, emitted = run(list(reversed(events)))
    mine = latest(of(emitted, detector))
    assert len(mine) == 1
    assert next(iter(mine.values())).count == need


def test_a_thousand_matches_make_one_alert(burst: tuple[str, int, Maker]) -> None:
    detector, _, make = burst
    _, emitted = run([make(i, i * 3) for i in range(1000)])
    mine = of(emitted, detector)
    final = latest(mine)
    assert len(final) == 1
    alert = next(iter(final.values()))
    assert alert.count == 1000
    assert mine[-1].count == 1000  # the flush carried the final count
    assert len(alert.event_ids) == MAX_EVENT_IDS


def test_two_hours_apart_are_two_episodes(burst: tuple[str, int, Maker]) -> None:
    detector, need, make = burst
    first = [make(i, i * 10) for i in range(need)]
    second = [make(i + need, 7200 + i * 10) for i in range(need)]
    _, emitted = run(first + second)
    final = latest(of(emitted, detector))
    assert len(final) == 2
    assert sorted(a.count for a in final.values()) == [need, need]


# --- console-login-failure-burst ---------------------------------------------------------------------

def test_failures_for_hidden_user_names_group_per_account_as_unknown() -> None:
    events = [failed_signin(None, i * 30) for i in range(5)]
    events += [failed_signin(None, i * 30, account=OTHER_ACCOUNT) for i in range(4)]
    _, emitted = run(events)
    mine = of(emitted, "console-login-failure-burst")
    assert len(mine) == 1
    assert mine[0].account == ACCOUNT
    assert mine[0].context["user_known"] is False
    assert "HIDDEN_DUE_TO_SECURITY_REASONS" in mine[0].context["note"]
    assert "unknown" in mine[0].title


def test_failure_burst_keys_by_account_in_an_organization_trail() -> None:
    split = [failed_signin("admin", i * 30) for i in range(3)]
    split += [failed_signin("admin", 100 + i * 30, account=OTHER_ACCOUNT, region="eu-west-1") for i in range(2)]
    _, emitted = run(split)
    assert of(emitted, "console-login-failure-burst") == []

    both = [failed_signin("admin", i * 30) for i in range(5)]
    both += [failed_signin("admin", i * 30, account=OTHER_ACCOUNT, region="eu-west-1") for i in range(5)]
    _, emitted = run(both)
    assert sorted(a.account for a in latest(of(emitted, "console-login-failure-burst")).values()) == [
        ACCOUNT, OTHER_ACCOUNT]


def test_root_failures_count_too() -> None:
    _, emitted = run([signin(root(), i * 40, "Failure") for i in range(5)])
    mine = of(emitted, "console-login-failure-burst")
    assert len(mine) == 1
    assert mine[0].severity is Severity.HIGH
    assert "root" in mine[0].title
    assert len(latest(of(emitted, "root-console-login"))) == 1  # root-console-login folds them into one episode


# --- console-password-spray --------------------------------------------------------------------------

def test_spray_across_member_accounts_is_one_alert_keyed_by_address() -> None:
    targets = [("admin", ACCOUNT), ("deploy", ACCOUNT), ("admin", OTHER_ACCOUNT), ("backup", OTHER_ACCOUNT),
               ("admin", "777788889999")]
    events = [failed_signin(user, i * 20, account=account) for i, (user, account) in enumerate(targets)]
    _, emitted = run(events)
    mine = of(emitted, "console-password-spray")
    assert len(mine) == 1
    assert mine[0].source_ip == ATTACKER_IP
    assert mine[0].context["distinct_count"] == 5
    assert f"{OTHER_ACCOUNT}:admin" in mine[0].context["user_names"]
    assert "source IP alone" in mine[0].context["grouped_by"]


def test_hidden_user_names_never_make_a_spray() -> None:
    known = [failed_signin(name, i * 10) for i, name in enumerate(("alice", "bob", "carol", "dave"))]
    hidden = [failed_signin(None, 50 + i) for i in range(200)]
    _, emitted = run(known + hidden)
    assert of(emitted, "console-password-spray") == []


# --- access-denied-burst -----------------------------------------------------------------------------

def test_log_delivery_access_denied_flood_gives_no_alert() -> None:
    flood = [log_delivery_denied(i * 0.5, i) for i in range(5000)]
    internal = [denied({"type": "AWSService", "invokedBy": "config.amazonaws.com"}, i, ip="AWS Internal")
                for i in range(500)]
    linked = [denied({"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSServiceRoleForConfig/x",
                      "accountId": ACCOUNT}, i, ip="config.amazonaws.com") for i in range(500)]
    numbered = [denied(iam_user("svc"), i, ip="AWS Internal/3") for i in range(500)]
    engine, emitted = run(flood + internal + linked + numbered)
    assert [a for a in emitted if a.detector in MISSION] == []
    assert engine.stats.matches["access-denied-burst"] == 0
    assert not engine.stats.detector_errors


def test_access_denied_without_identity_is_not_counted() -> None:
    engine, emitted = run([denied(None, i) for i in range(100)])
    assert of(emitted, "access-denied-burst") == []
    assert engine.stats.matches["access-denied-burst"] == 0


def test_access_denied_context_names_the_error_and_call() -> None:
    events = [denied(iam_user("ci"), i * 5, code="Client.UnauthorizedOperation") for i in range(20)]
    _, emitted = run(events)
    mine = of(emitted, "access-denied-burst")
    assert len(mine) == 1
    assert mine[0].context["error_code"] == "Client.UnauthorizedOperation"
    assert mine[0].context["call"] == "iam:ListUsers"
    assert mine[0].severity is Severity.MEDIUM


# --- root-activity -----------------------------------------------------------------------------------

def test_ten_thousand_root_calls_are_one_alert() -> None:
    calls = ("ListBuckets", "GetBucketPolicy", "ListUsers", "DescribeInstances")
    events = [api_call(root(), "iam.amazonaws.com", calls[i % 4], i // 4, ip="203.0.113.10",
                       region=("us-east-1", "eu-west-1", "ap-south-1")[i % 3]) for i in range(10_000)]
    engine, emitted = run(events)
    mine = of(emitted, "root-activity")
    final = latest(mine)
    assert len(final) == 1
    assert mine[-1].count == 10_000
    assert mine[-1].severity is Severity.HIGH
    assert not engine.stats.detector_errors


def test_root_activity_is_one_alert_per_account() -> None:
    events = [api_call(root(ACCOUNT), "s3.amazonaws.com", "ListBuckets", 0, ip="198.51.100.9"),
              api_call(root(OTHER_ACCOUNT), "s3.amazonaws.com", "ListBuckets", 5, ip="198.51.100.9")]
    _, emitted = run(events)
    assert sorted(a.account for a in of(emitted, "root-activity")) == [ACCOUNT, OTHER_ACCOUNT]


def counting(detector: Detector, calls: list[str]) -> Detector:
    """The detector with a match that records the eventName of every event it is called on."""
    def match(event: TypedEvent, params: Mapping[str, Any]) -> Hit | Sequence[Hit] | None:
        calls.append(event.eventName)
        return detector.match(event, params)

    return dataclasses.replace(detector, match=match)


def test_catch_all_detectors_reject_ordinary_events_after_one_field() -> None:
    """The engine looks at one field (the identity type, the errorCode) and never calls them on the rest."""
    ordinary = [api_call(iam_user("alice"), "ec2.amazonaws.com", "DescribeInstances", i) for i in range(50)]
    wanted = [api_call(root(), "ec2.amazonaws.com", "StopInstances", 60),
              denied(iam_user("bob"), 61)]
    root_calls: list[str] = []
    denied_calls: list[str] = []
    engine = Engine([counting(root_activity.DETECTOR, root_calls),
                     counting(access_denied_burst.DETECTOR, denied_calls)])
    engine.process_records(ordinary + wanted, "test")
    assert root_calls == ["StopInstances"]
    assert denied_calls == ["ListUsers"]


# --- access-key-created ------------------------------------------------------------------------------

def create_key(identity: Event, seconds: float, target: str | None, **fields: Any) -> Event:
    response = {"accessKey": {"accessKeyId": "AKIAEXAMPLENEWKEY001", "status": "Active",
                              "userName": target or identity.get("userName", ""), "secretAccessKey": SECRET,
                              "createDate": "Mar 2, 2026, 2:05:11 PM"}}
    return api_call(identity, "iam.amazonaws.com", "CreateAccessKey", seconds,
                    requestParameters={"userName": target} if target else None, responseElements=response, **fields)


def test_secret_key_never_reaches_alert_json() -> None:
    events = [
        create_key(iam_user("alice"), 0, "bob"),
        create_key(root(), 10, None, ip="203.0.113.10"),
        create_key(iam_user("mallory", key="AKIAEXAMPLEMALLORY01"), 20, None,
                   additionalEventData={"secretAccessKey": SECRET}, secretAccessKey=SECRET),
    ]
    events[2]["requestParameters"] = {"userName": "mallory", "secretAccessKey": SECRET}
    _, emitted = run(events)
    keys = of(emitted, "access-key-created")
    assert len(latest(keys)) == 3
    assert {a.severity for a in keys} == {Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM}
    assert keys[0].context["access_key_id"] == "AKIAEXAMPLENEWKEY001"
    for alert in emitted:
        assert SECRET.encode() not in alert.to_json()
        assert SECRET not in repr(alert.context)


def test_key_for_another_user_escalates_the_open_episode() -> None:
    _, emitted = run([create_key(iam_user("alice"), 0, None), create_key(iam_user("alice"), 60, "bob")])
    keys = of(emitted, "access-key-created")
    assert len(latest(keys)) == 1
    assert [a.severity for a in keys][:2] == [Severity.MEDIUM, Severity.HIGH]
    assert keys[-1].count == 2


def test_failed_create_access_key_is_quiet() -> None:
    refused = create_key(iam_user("alice"), 0, "bob", errorCode="AccessDenied", errorMessage="not authorized")
    refused["responseElements"] = None
    _, emitted = run([refused])
    assert of(emitted, "access-key-created") == []


# --- console-login-without-mfa -----------------------------------------------------------------------

def test_sign_in_without_mfa_severity_and_federation_traps() -> None:
    role = "AWSReservedSSO_ReadOnly_0123456789abcdef"
    sso: Event = {"type": "AssumedRole", "principalId": "AROAEXAMPLESSOROLE01:alice@example.com",
                  "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/alice@example.com", "accountId": ACCOUNT,
                  "sessionContext": {"sessionIssuer": {"type": "Role", "userName": role}}}
    events = [
        signin(sso, 0, "Success", mfa_used=None, ip="192.0.2.1"),
        signin({**sso, "type": "SAMLUser"}, 5, "Success", mfa_used="No", ip="192.0.2.2"),
        signin(iam_user("alice", key=""), 10, "Success", mfa_used="Yes", ip="192.0.2.3"),
        signin(failed_signin_identity("alice"), 15, "Failure", mfa_used="No", ip="192.0.2.4"),
        signin(iam_user("bob", key=""), 20, "Success", mfa_used="No", ip="192.0.2.5"),
        signin(root(), 25, "Success", mfa_used="No", ip="192.0.2.6"),
    ]
    _, emitted = run(events)
    mine = {a.source_ip: a.severity for a in of(emitted, "console-login-without-mfa")}
    assert mine == {"192.0.2.5": Severity.MEDIUM, "192.0.2.6": Severity.HIGH}


# --- non-mfa-sensitive-call --------------------------------------------------------------------------

BRIEF_CALLS = {
    ("iam.amazonaws.com", name) for name in (
        "CreateUser", "DeleteUser", "AttachUserPolicy", "DetachRolePolicy", "PutGroupPolicy", "CreateAccessKey",
        "CreateLoginProfile", "DeactivateMFADevice", "DeleteVirtualMFADevice", "UpdateAssumeRolePolicy")
} | {
    ("sts.amazonaws.com", "GetFederationToken"), ("kms.amazonaws.com", "DisableKey"),
    ("kms.amazonaws.com", "ScheduleKeyDeletion"), ("kms.amazonaws.com", "PutKeyPolicy"),
    ("cloudtrail.amazonaws.com", "StopLogging"), ("cloudtrail.amazonaws.com", "DeleteTrail"),
    ("cloudtrail.amazonaws.com", "UpdateTrail"), ("cloudtrail.amazonaws.com", "PutEventSelectors"),
    ("organizations.amazonaws.com", "LeaveOrganization"), ("organizations.amazonaws.com", "DeleteOrganization"),
    ("organizations.amazonaws.com", "RemoveAccountFromOrganization"), ("organizations.amazonaws.com", "DetachPolicy"),
    ("s3.amazonaws.com", "PutBucketPolicy"), ("s3.amazonaws.com", "DeleteBucketPolicy"),
    ("s3.amazonaws.com", "PutBucketAcl"), ("s3.amazonaws.com", "PutBucketPublicAccessBlock"),
    ("s3.amazonaws.com", "DeleteBucketPublicAccessBlock"), ("s3.amazonaws.com", "PutAccountPublicAccessBlock"),
    ("s3.amazonaws.com", "DeletePublicAccessBlock"), ("guardduty.amazonaws.com", "DeleteDetector"),
    ("guardduty.amazonaws.com", "DisassociateFromMasterAccount"), ("guardduty.amazonaws.com", "UpdateDetector"),
    ("config.amazonaws.com", "StopConfigurationRecorder"), ("config.amazonaws.com", "DeleteConfigurationRecorder"),
    ("config.amazonaws.com", "DeleteDeliveryChannel"), ("securityhub.amazonaws.com", "DisableSecurityHub"),
    ("access-analyzer.amazonaws.com", "DeleteAnalyzer"),
}


def test_sensitive_list_covers_the_documented_calls() -> None:
    assert NON_MFA.events >= BRIEF_CALLS
    assert all(source.endswith(".amazonaws.com") for source, _ in NON_MFA.events)


def test_every_sensitive_call_without_mfa_fires_and_with_mfa_does_not() -> None:
    calls = sorted(NON_MFA.events)
    # One address per call so that each is its own episode and every call is seen to fire.
    without = [api_call(iam_user("ops"), source, name, i, ip=f"198.51.100.{i % 250}", account=ACCOUNT)
               for i, (source, name) in enumerate(calls) if i < 250]
    _, emitted = run(without)
    assert len(latest(of(emitted, "non-mfa-sensitive-call"))) == len(without)

    with_mfa = copy.deepcopy(without)
    for event in with_mfa:
        event["userIdentity"]["sessionContext"] = {"attributes": {"mfaAuthenticated": "true"}}
        event["eventID"] += "-mfa"
    _, emitted = run(with_mfa)
    assert of(emitted, "non-mfa-sensitive-call") == []


def test_config_extends_the_sensitive_list() -> None:
    event = api_call(iam_user("ops"), "ec2.amazonaws.com", "TerminateInstances", 0)
    _, emitted = run([copy.deepcopy(event)])
    assert of(emitted, "non-mfa-sensitive-call") == []
    extended = configure(DETECTORS, {"non-mfa-sensitive-call": DetectorSettings(
        extra_events=frozenset({("ec2.amazonaws.com", "TerminateInstances")}))})
    _, emitted = run([event], engine=Engine(extended))
    assert len(of(emitted, "non-mfa-sensitive-call")) == 1


def test_roles_and_refused_changes_are_not_reported() -> None:
    role = {"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci", "accountId": ACCOUNT,
            "sessionContext": {"attributes": {"mfaAuthenticated": "false"}}}
    events = [api_call(role, "iam.amazonaws.com", "AttachRolePolicy", 0),
              api_call(iam_user("ops"), "iam.amazonaws.com", "AttachRolePolicy", 1, errorCode="AccessDenied")]
    _, emitted = run(events)
    assert of(emitted, "non-mfa-sensitive-call") == []


# --- hostile input -----------------------------------------------------------------------------------

def hostile_events() -> list[Event]:
    base = [
        failed_signin("alice", 0), signin(iam_user("bob", key=""), 1, "Success"),
        denied(iam_user("carol"), 2), create_key(iam_user("dave"), 3, "erin"),
        api_call(root(), "cloudtrail.amazonaws.com", "StopLogging", 4),
    ]
    weird: list[Any] = [None, "Root", ["Root"], 7, 3.5, True, {"type": ["Root"]}, "x" * 100_000, "\x00\u202e\U0001f600"]
    fields = ("userIdentity", "requestParameters", "responseElements", "additionalEventData", "errorCode",
              "errorMessage", "sourceIPAddress", "recipientAccountId", "eventType", "userAgent", "awsRegion")
    out: list[Event] = []
    for event in base:
        for field in fields:
            for value in weird:
                mutated = copy.deepcopy(event)
                mutated[field] = value
                mutated["eventID"] = f"{event['eventID']}-{field}-{len(out)}"
                out.append(mutated)
        for inner in ("type", "userName", "arn", "accountId", "sessionContext", "invokedBy", "accessKeyId"):
            for value in weird:
                mutated = copy.deepcopy(event)
                mutated["userIdentity"] = {**mutated.get("userIdentity", {}), inner: value}
                mutated["eventID"] = f"{event['eventID']}-ui-{inner}-{len(out)}"
                out.append(mutated)
    return out


def test_hostile_field_types_never_raise() -> None:
    events = hostile_events()
    engine, emitted = run(events[: len(events) // 2], events[len(events) // 2:])
    assert dict(engine.stats.detector_errors) == {}
    assert engine.stats.events_processed == len(events)
    for alert in emitted:
        alert.to_json()


def _sample_events() -> list[list[Event]]:
    """Each detector's sample events, kept apart so that small sample files get drawn as often as big ones."""
    pools: list[list[Event]] = []
    for detector in DETECTORS:
        events = [e for case in load_cases(samples_path(detector)) for e in case["events"] if isinstance(e, dict)]
        if events:
            pools.append(events)
    return pools


SAMPLE_POOLS = _sample_events()
HOSTILE_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=40),
    st.sampled_from(["Root", "IAMUser", "AWSService", "AccessDenied", "Client.UnauthorizedOperation", "Failure",
                     "Success", "No", "true", "HIDDEN_DUE_TO_SECURITY_REASONS", "AWS Internal", "\x00", "x" * 10_000]),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.sampled_from(["type", "userName", "ConsoleLogin", "MFAUsed", "accessKey", "arn"]),
                    st.one_of(st.none(), st.integers(), st.text(max_size=8)), max_size=3),
)


# Fields that detectors read, so a mutation can also add one that the sample lacked.
KNOWN_FIELDS = [("errorCode",), ("errorMessage",), ("userIdentity",), ("userIdentity", "type"),
                ("userIdentity", "invokedBy"), ("responseElements",), ("requestParameters",),
                ("additionalEventData",), ("eventType",), ("sourceIPAddress",), ("recipientAccountId",)]


def _paths(value: Any, prefix: tuple[str, ...] = (), depth: int = 0) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    if isinstance(value, dict) and depth < 4:
        for key, inner in value.items():
            found.append((*prefix, key))
            found.extend(_paths(inner, (*prefix, key), depth + 1))
    return found


@st.composite
def mutated_event(draw: st.DrawFn) -> Event:
    pool = draw(st.sampled_from(SAMPLE_POOLS))
    event = copy.deepcopy(draw(st.sampled_from(pool)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(event)
        path = draw(st.sampled_from(KNOWN_FIELDS if not paths or draw(st.booleans()) else paths))
        parent: Any = event
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        if path[-1] in parent and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(HOSTILE_VALUES)
    return event


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated_event(), min_size=1, max_size=6))
def test_mutated_sample_events_never_cause_detector_errors(events: list[Event]) -> None:
    # Written by the standard library, which (unlike orjson) writes integers past 64 bits: the decoder reads them.
    engine = Engine(DETECTORS)
    emitted = [*engine.process(decode_bytes(json.dumps({"Records": events}).encode(), "test")).alerts, *engine.flush()]
    assert dict(engine.stats.detector_errors) == {}
    for alert in emitted:
        alert.to_json()
