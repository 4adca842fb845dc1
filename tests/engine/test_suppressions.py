"""Suppression matching: every field, globs, CIDRs, lists, expiry, hostile values, and through the real Engine."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from detectors.identity.access_denied_burst import DETECTOR as ACCESS_DENIED_BURST
from monitor.config import parse_config
from monitor.decode import decode_bytes
from monitor.engine import Engine, EngineSettings
from monitor.engine.suppressions import Suppression, SuppressionSet, principal_arns
from monitor.metrics.collector import Telemetry
from monitor.model import Detector, Event, Hit, Severity
from tests.helpers import BASE_TIME, cloudtrail_event, iam_user, typed
from tests.metrics.scrape import parse, value

TS = BASE_TIME.timestamp()
ACCOUNT = "111122223333"


def entry(**fields: Any) -> Suppression:
    fields.setdefault("name", "test")
    fields.setdefault("reason", "testing")
    if "source_cidrs" in fields:
        fields["source_cidrs"] = tuple(ipaddress.ip_network(c) for c in fields["source_cidrs"])
    for key in ("detectors", "principals", "user_agents", "event_names", "made_through"):
        if key in fields:
            fields[key] = tuple(fields[key])
    if "accounts" in fields:
        fields["accounts"] = frozenset(fields["accounts"])
    return Suppression(**fields)


def assumed_role(role: str = "BreakGlass", session: str = "jane", account: str = ACCOUNT,
                 path: str = "/") -> dict[str, Any]:
    return {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLE:{session}",
        "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}",
        "accountId": account,
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE",
                              "arn": f"arn:aws:iam::{account}:role{path}{role}", "accountId": account,
                              "userName": role},
            "attributes": {"mfaAuthenticated": "false", "creationDate": "2026-03-01T11:00:00Z"},
        },
    }


def call(name: str = "ListBuckets", identity: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return cloudtrail_event(name, "s3.amazonaws.com", 0, identity or iam_user(), **fields)


def matches(e: Suppression, record: dict[str, Any], ts: float = TS, detector: str = "any-detector") -> bool:
    return SuppressionSet([e]).match(detector, typed(record), ts) is e


# -- principal ----------------------------------------------------------------------------------------------


def test_principal_glob_matches_the_user_arn_case_sensitively() -> None:
    e = entry(principals=["arn:aws:iam::*:user/ci-*"])
    assert matches(e, call(identity=iam_user("ci-deployer")))
    assert not matches(e, call(identity=iam_user("alice")))
    assert not matches(e, call(identity=iam_user("CI-deployer")))  # ARNs are case-sensitive


def test_role_globs_match_assumed_role_sessions() -> None:
    short = entry(principals=["arn:aws:iam::*:role/BreakGlass"])
    session = entry(principals=["arn:aws:sts::111122223333:assumed-role/BreakGlass/*"])
    with_path = entry(principals=["arn:aws:iam::111122223333:role/admin/BreakGlass"])
    event = call(identity=assumed_role(path="/admin/"))
    assert principal_arns(typed(event)) == [
        "arn:aws:sts::111122223333:assumed-role/BreakGlass/jane",
        "arn:aws:iam::111122223333:role/BreakGlass",
        "arn:aws:iam::111122223333:role/admin/BreakGlass",
    ]
    assert matches(short, event) and matches(session, event) and matches(with_path, event)
    assert not matches(short, call(identity=assumed_role(role="BreakGlassNot")))
    # Without a session issuer the role ARN is still derived from the assumed-role ARN (other partitions too).
    ident = assumed_role(account="444455556666")
    ident["arn"] = "arn:aws-us-gov:sts::444455556666:assumed-role/BreakGlass/jane"
    del ident["sessionContext"]
    assert principal_arns(typed(call(identity=ident)))[1] == "arn:aws-us-gov:iam::444455556666:role/BreakGlass"
    assert matches(entry(principals=["arn:*:iam::*:role/BreakGlass"]), call(identity=ident))


def test_principal_without_arn_uses_the_alerts_identity() -> None:
    service = {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}
    assert principal_arns(typed(call(identity=service))) == ["AWSService:ec2.amazonaws.com"]
    assert matches(entry(principals=["AWSService:ec2.amazonaws.com"]), call(identity=service))
    no_identity = call()
    del no_identity["userIdentity"]
    assert principal_arns(typed(no_identity)) == []
    assert not matches(entry(principals=["arn:*"]), no_identity)


# -- account, user agent, event name ------------------------------------------------------------------------


def test_account_is_the_events_account_and_lists_are_any_of() -> None:
    e = entry(accounts=["444455556666", ACCOUNT])
    assert matches(e, call())
    assert not matches(e, call(recipientAccountId="999988887777"))
    # Without recipientAccountId, the caller's account.
    event = call(identity=iam_user(account="444455556666"))
    del event["recipientAccountId"]
    assert matches(e, event)


def test_user_agent_glob_is_case_insensitive() -> None:
    e = entry(user_agents=["*nessus*", "qualys/*"])
    assert matches(e, call(userAgent="Mozilla/5.0 (compatible; Nessus)"))
    assert matches(e, call(userAgent="QUALYS/2.1"))
    assert not matches(e, call(userAgent="aws-cli/2.15.0"))
    assert not matches(e, call(userAgent=""))


def test_made_through_matches_the_calling_service_only() -> None:
    """A pipeline's stack changes can be tuned without exempting the same role's direct calls."""
    e = entry(principals=["arn:aws:iam::*:user/alice"], made_through=["cloudformation.*"])
    identity = {**iam_user(), "invokedBy": "cloudformation.amazonaws.com"}
    assert matches(e, call(identity=identity, sourceIPAddress="cloudformation.amazonaws.com"))
    assert matches(e, call(sourceIPAddress="CloudFormation.amazonaws.com"))  # the service as source address
    assert not matches(e, call())  # alice's own direct call
    assert not matches(e, call(identity={**iam_user(), "invokedBy": "servicecatalog.amazonaws.com"}))


def test_event_name_exact_list_and_glob() -> None:
    e = entry(event_names=["GetObject", "List*"])
    assert matches(e, call("GetObject"))
    assert matches(e, call("ListBuckets"))
    assert not matches(e, call("getobject"))  # exact names are exact
    assert not matches(e, call("PutObject"))


# -- source CIDR --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("source_ip", "expected"), [
    ("203.0.113.9", True),
    ("203.0.114.9", False),
    ("2001:db8:0:1::5", True),
    ("2001:db9::5", False),
    ("::ffff:203.0.113.200", True),  # IPv4-mapped IPv6 is the IPv4 address
    ("AWS Internal", False),
    ("ec2.amazonaws.com", False),
    ("", False),
    ("203.0.113.9/32", False),
])
def test_source_cidr_ipv4_ipv6_and_non_ip_values(source_ip: str, expected: bool) -> None:
    e = entry(source_cidrs=["203.0.113.0/24", "2001:db8::/32"])
    assert matches(e, call(sourceIPAddress=source_ip)) is expected


def test_all_given_fields_must_match() -> None:
    e = entry(principals=["arn:aws:iam::*:user/scanner"], source_cidrs=["203.0.113.0/24"], event_names=["Get*"])
    good = call("GetBucketAcl", identity=iam_user("scanner"), sourceIPAddress="203.0.113.9")
    assert matches(e, good)
    assert not matches(e, {**good, "sourceIPAddress": "198.51.100.1"})
    assert not matches(e, {**good, "eventName": "PutBucketAcl"})
    assert not matches(e, {**good, "userIdentity": iam_user("alice")})


# -- expiry -------------------------------------------------------------------------------------------------


def test_expiry_applies_to_events_strictly_before_it() -> None:
    expires = datetime(2026, 7, 1, tzinfo=UTC).timestamp()
    e = entry(event_names=["ListBuckets"], expires=expires)
    assert matches(e, call(), ts=expires - 1)
    assert not matches(e, call(), ts=expires)
    assert not matches(e, call(), ts=expires + 86400)
    suppressions = SuppressionSet([e, entry(name="forever", event_names=["X"])])
    assert suppressions.expired(expires - 1) == []
    assert suppressions.expired(expires) == [e]


# -- global vs per detector ---------------------------------------------------------------------------------


def test_global_and_per_detector_entries() -> None:
    only_burst = entry(name="burst", detectors=["access-denied-burst"], event_names=["ListBuckets"])
    iam_family = entry(name="iam", detectors=["iam-*"], event_names=["ListBuckets"])
    everywhere = entry(name="all", detectors=["*"], user_agents=["scanner*"])
    unlisted = entry(name="unlisted", principals=["arn:aws:iam::*:user/robot"])
    suppressions = SuppressionSet([only_burst, iam_family, everywhere, unlisted])
    assert suppressions.for_detector("access-denied-burst") == (only_burst, everywhere, unlisted)
    assert suppressions.for_detector("iam-policy-changed") == (iam_family, everywhere, unlisted)
    assert suppressions.for_detector("root-console-login") == (everywhere, unlisted)
    listed = typed(call())
    assert suppressions.match("root-console-login", listed, TS) is None
    assert suppressions.match("access-denied-burst", listed, TS) is only_burst
    assert suppressions.match("iam-policy-changed", listed, TS) is iam_family
    assert suppressions.match("root-console-login", typed(call(userAgent="Scanner/1")), TS) is everywhere
    only = SuppressionSet([only_burst])
    assert only.applies_to("access-denied-burst") and not only.applies_to("root-console-login")
    assert only.match("root-console-login", listed, TS) is None
    empty = SuppressionSet()
    assert not empty and not empty.applies_to("access-denied-burst")
    assert empty.match("access-denied-burst", listed, TS) is None


# -- hostile events -----------------------------------------------------------------------------------------


HOSTILE_VALUES: list[Any] = [None, 7, 3.5, True, [], ["203.0.113.9"], {"a": 1}, "x" * 1_000_000, "\x00\ud800",
                             "*", "arn:aws:iam::111122223333:user/scanner" + "a" * 10_000, 2**70]


def events_of(record: Any) -> list[Event]:
    """What decoding makes of a possibly hostile record: its event, with fields of the wrong type left out."""
    return decode_bytes(json.dumps({"Records": [record]}, default=str).encode(), "hostile").events


@pytest.mark.parametrize("bad", HOSTILE_VALUES, ids=range(len(HOSTILE_VALUES)))
def test_hostile_values_never_raise_and_never_match(bad: Any) -> None:
    suppressions = SuppressionSet([
        entry(name="p", principals=["arn:aws:iam::*:user/scanner*"]),
        entry(name="a", accounts=[ACCOUNT], event_names=["Nothing"]),
        entry(name="c", source_cidrs=["0.0.0.0/0", "::/0"]),
        entry(name="u", user_agents=["*xxx"]),
        entry(name="n", event_names=["*x"]),
    ])
    identity = iam_user("alice")
    events: list[Any] = [
        call(identity=identity, sourceIPAddress=bad),
        call(identity=identity, sourceIPAddress="not an ip", userAgent=bad),
        call(identity=identity, sourceIPAddress="not an ip", eventName=bad),
        call(identity=bad, sourceIPAddress="not an ip"),
        call(identity={"type": "AssumedRole", "arn": bad, "sessionContext": {"sessionIssuer": bad}},
             sourceIPAddress="not an ip"),
        call(identity={"arn": "arn:aws:sts::1:assumed-role/", "sessionContext": bad}, sourceIPAddress="nope"),
        {"recipientAccountId": bad},
    ]
    for record in events:
        [event] = events_of(record)
        assert suppressions.match("d", event, TS) is None, bad


def test_many_entries_match_in_config_order() -> None:
    first = entry(name="first", event_names=["ListBuckets"])
    second = entry(name="second", event_names=["List*"])
    assert SuppressionSet([first, second]).match("d", typed(call()), TS) is first
    assert SuppressionSet([second, first]).match("d", typed(call()), TS) is second


# -- through the real Engine --------------------------------------------------------------------------------


def denied(seconds: float, source_ip: str, user: str = "scanner") -> dict[str, Any]:
    return cloudtrail_event("ListBuckets", "s3.amazonaws.com", seconds, iam_user(user), sourceIPAddress=source_ip,
                            errorCode="AccessDenied", errorMessage="Access Denied")


def always(event: Event, params: Mapping[str, Any]) -> Hit | None:
    return Hit()


def test_engine_drops_and_counts_suppressed_detections() -> None:
    config = parse_config({"suppressions": [
        {"name": "quarterly-scan", "detectors": ["access-denied-burst"], "source_cidr": "203.0.113.0/24",
         "reason": "authorised scanner", "expires": "2026-04-01"},
        {"name": "break-glass", "principal": "arn:aws:iam::*:role/BreakGlass", "reason": "audited elsewhere"},
    ]})
    every_call = Detector(id="every-call", title="Every call", severity=Severity.LOW, mitre=("T1078",), runbook="Look.",
                          match=always, all_events=True)
    burst = ACCESS_DENIED_BURST
    engine = Engine([burst, every_call], config.engine)
    telemetry = Telemetry()
    telemetry.register_engine(engine)
    # 30 denials from the scanner range and 30 from elsewhere, all before the expiry (2026-03-01 + minutes).
    scanner = [denied(i, "203.0.113.50") for i in range(30)]
    attacker = [denied(i, "198.51.100.66", user="intruder") for i in range(30)]
    role_call = cloudtrail_event("ListBuckets", "s3.amazonaws.com", 40, assumed_role())
    alerts = engine.process_records(scanner + attacker + [role_call], "batch").alerts + engine.flush()
    burst_alerts = [a for a in alerts if a.detector == "access-denied-burst"]
    assert {a.principal for a in burst_alerts} == {f"arn:aws:iam::{ACCOUNT}:user/intruder"}
    # The scanner's denials never reached the window; the global break-glass entry hides only the role's call.
    assert engine.stats.suppressed["access-denied-burst"] == 30
    assert engine.stats.suppressed["every-call"] == 1
    every = [a for a in alerts if a.detector == "every-call"]
    assert every and all("BreakGlass" not in a.principal for a in every)
    samples = parse(telemetry.exposition().decode())
    assert value(samples, "trailsentry_detections_suppressed_total", detector="access-denied-burst") == 30
    assert value(samples, "trailsentry_detections_suppressed_total", detector="every-call") == 1


def test_engine_stops_suppressing_at_the_expiry_by_event_time() -> None:
    expiry = BASE_TIME.replace(hour=13)
    config = parse_config({"suppressions": [
        {"detectors": ["access-denied-burst"], "source_cidr": "203.0.113.0/24", "reason": "scan window",
         "expires": expiry.isoformat()},
    ]})
    burst = ACCESS_DENIED_BURST
    engine = Engine([burst], config.engine)
    before = [denied(i, "203.0.113.50") for i in range(30)]  # 12:00, inside the window
    after = [denied(3600 + i, "203.0.113.50") for i in range(30)]  # 13:00 onwards: expired
    alerts = engine.process_records(before, "before").alerts
    assert alerts == [] and engine.stats.suppressed["access-denied-burst"] == 30
    alerts = engine.process_records(after, "after").alerts + engine.flush()
    assert [a.detector for a in alerts][:1] == ["access-denied-burst"]
    assert engine.stats.suppressed["access-denied-burst"] == 30


def test_default_settings_have_no_suppressions() -> None:
    settings = EngineSettings()
    assert not settings.suppressions and len(settings.suppressions) == 0
    assert parse_config({}).engine.suppressions == SuppressionSet()
