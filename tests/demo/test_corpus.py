"""The example corpus: realistic, deterministic, and every scenario alerts exactly where it should."""

from __future__ import annotations

import gzip
import random
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from monitor.demo.background import background_events
from monitor.demo.builders import EXAMPLE_ACCOUNTS, EXAMPLE_REGIONS, EXAMPLE_START
from monitor.demo.objects import cloudtrail_object_key, encode_records, write_example_corpus
from monitor.demo.scenarios import MISSION_DETECTORS, SCENARIOS, STORYLINES, TRAPS, Scenario, example_day
from monitor.demo.storyline import attack_storyline, new_key_id
from monitor.demo.traffic import SCHEDULE
from monitor.engine import Engine
from monitor.model import Alert, InputIssue
from monitor.model.event import Record
from monitor.offline.scan import Scanner, expand_paths
from monitor.rules.builtin import builtin_detectors

_KEY = re.compile(
    r"^AWSLogs/(?:o-[a-z0-9]{10}/)?(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/"
    r"\1_CloudTrail_\2_(\d{8})T(\d{4})Z_[A-Za-z0-9]{16}\.json\.gz$"
)
_EVENT_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


# Weak signals (recon, refused calls...) are not alerts: what these tests count is what would page someone.
SIGNALS = frozenset(d.id for d in builtin_detectors() if d.signal)


def _scan_dir(directory: Path) -> tuple[list[Alert], Scanner, list[InputIssue]]:
    issues: list[InputIssue] = []
    scanner = Scanner(Engine(builtin_detectors()), on_issue=issues.append)
    result = scanner.scan(expand_paths([str(directory)]))
    return [a for a in result.alerts if a.detector not in SIGNALS], scanner, issues


def _detect(events: list[Record]) -> list[Alert]:
    """Run events through the real engine; keep the newest emission of each alert id."""
    engine = Engine(builtin_detectors())
    events = sorted(events, key=lambda e: e["eventTime"])
    newest: dict[str, Alert] = {}
    result = engine.process_records(events, "test")
    assert result.issues == []
    for alert in [*result.alerts, *engine.flush()]:
        newest[alert.id] = alert
    return [alert for alert in newest.values() if alert.detector not in SIGNALS]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("example-corpus")
    write_example_corpus(directory)
    return directory


def test_mission_detectors_exist() -> None:
    known = {d.id for d in builtin_detectors()}
    assert known >= MISSION_DETECTORS


def test_corpus_scans_cleanly_and_every_scenario_alerts_once(corpus: Path) -> None:
    alerts, scanner, issues = _scan_dir(corpus)
    assert issues == []
    totals = scanner.totals
    assert totals.issues == Counter()
    assert totals.skipped == Counter({"digest": 1, "insight": 2})
    assert totals.duplicates == 0
    assert totals.events > 3000
    expected = sum((s.expected() for s in (*SCENARIOS, *STORYLINES)), Counter[str]())
    assert Counter(a.detector for a in alerts) == expected
    # Each episode carries the events of its scenario.
    by_detector = {a.detector: a for a in alerts}
    assert by_detector["access-denied-burst"].count == 25
    assert by_detector["console-login-failure-burst"].count >= 5
    assert by_detector["root-activity"].count == 5
    assert by_detector["non-mfa-sensitive-call"].count == 2


def test_corpus_layout_and_formats(corpus: Path) -> None:
    files = [p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file()]
    logs = [f for f in files if "/CloudTrail/" in f]
    assert logs and all(_KEY.match(f) for f in logs)
    assert {_KEY.match(f).group(1) for f in logs} == set(EXAMPLE_ACCOUNTS)  # type: ignore[union-attr]
    assert {_KEY.match(f).group(2) for f in logs} == set(EXAMPLE_REGIONS)  # type: ignore[union-attr]
    assert sum("/CloudTrail-Digest/" in f for f in files) == 1
    assert sum("/CloudTrail-Insight/" in f for f in files) == 1
    assert (corpus / "exports" / "siem-export.jsonl").read_bytes().count(b"\n") == 120
    assert len(orjson.loads((corpus / "exports" / "athena-query-result.json").read_bytes())) == 120
    cloudwatch = [f for f in files if f.startswith("exports/cloudwatch/")]
    assert len(cloudwatch) == 1
    first_line = gzip.decompress((corpus / cloudwatch[0]).read_bytes()).split(b"\n")[0]
    assert re.match(rb"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z \{", first_line)


def test_each_format_holds_its_own_events(corpus: Path) -> None:
    ids: Counter[str] = Counter()
    for path in corpus.rglob("*"):
        if not path.is_file() or "CloudTrail-Digest" in path.name:
            continue
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        for match in re.finditer(rb'"eventID":"([0-9a-f-]{36})"', data):
            ids[match.group(1).decode()] += 1
    assert ids and max(ids.values()) == 1


def test_events_look_like_cloudtrail() -> None:
    events = background_events(random.Random(7), EXAMPLE_START, 2000, EXAMPLE_ACCOUNTS, EXAMPLE_REGIONS)
    assert len(events) == 2000
    assert [e["eventTime"] for e in events] == sorted(e["eventTime"] for e in events)
    kinds = Counter(e["userIdentity"].get("type") for e in events)
    assert {"AssumedRole", "IAMUser", "AWSService"} <= set(kinds)
    assert "Root" not in kinds
    assert {e["eventCategory"] for e in events} == {"Management", "Data"}
    assert any(e.get("eventType") == "AwsServiceEvent" for e in events)
    assert any(e.get("errorCode") for e in events)
    assert any(e["eventName"] == "ConsoleLogin" for e in events)
    for event in events:
        assert _EVENT_TIME.match(event["eventTime"])
        assert _UUID4.match(event["eventID"])
        assert event["recipientAccountId"] in EXAMPLE_ACCOUNTS
        assert event["awsRegion"] in EXAMPLE_REGIONS
        assert event["sourceIPAddress"] and event["userAgent"]
        if event["eventSource"] in ("iam.amazonaws.com", "signin.amazonaws.com"):
            assert event["awsRegion"] == "us-east-1"  # global services record in us-east-1
        if event["userIdentity"].get("type") == "AssumedRole":
            issuer = event["userIdentity"]["sessionContext"]["sessionIssuer"]
            assert issuer["type"] == "Role" and issuer["arn"].startswith("arn:aws:iam::")


def test_background_alone_is_quiet() -> None:
    rng = random.Random(11)
    events = background_events(rng, EXAMPLE_START, 20_000, EXAMPLE_ACCOUNTS, EXAMPLE_REGIONS, duration=6 * 3600)
    assert _detect(events) == []


@pytest.mark.parametrize("case", SCENARIOS + STORYLINES + TRAPS, ids=lambda s: s.name)
def test_scenario_alerts_exactly_its_detectors(case: Scenario) -> None:
    rng = random.Random(5)
    events = background_events(rng, EXAMPLE_START, 600, EXAMPLE_ACCOUNTS, EXAMPLE_REGIONS)
    incident = case.build(rng, EXAMPLE_START + 1800, EXAMPLE_ACCOUNTS[0], "eu-west-1")
    alerts = _detect(events + incident)
    assert Counter(a.detector for a in alerts) == case.expected()
    incident_ids = {e["eventID"] for e in incident}
    for alert in alerts:
        assert set(alert.event_ids) <= incident_ids
        assert alert.account == EXAMPLE_ACCOUNTS[0]


def test_access_key_alert_carries_no_secret() -> None:
    rng = random.Random(3)
    case = next(s for s in SCENARIOS if s.name == "access-key-created")
    events = case.build(rng, EXAMPLE_START, "111122223333", "us-east-1")
    assert events[0]["responseElements"]["accessKey"]["userName"] == "svc-backup"
    assert "secretAccessKey" not in orjson.dumps(events).decode()


def test_object_keys() -> None:
    rng = random.Random(1)
    plain = cloudtrail_object_key("111122223333", "eu-west-1", EXAMPLE_START + 3 * 3600 + 5 * 60 + 59, rng)
    assert plain.startswith("AWSLogs/111122223333/CloudTrail/eu-west-1/2026/03/01/"
                            "111122223333_CloudTrail_eu-west-1_20260301T0305Z_")
    organization = cloudtrail_object_key("444455556666", "us-east-1", EXAMPLE_START, rng, "o-a1b2c3d4e5")
    assert organization.startswith("AWSLogs/o-a1b2c3d4e5/444455556666/CloudTrail/us-east-1/2026/03/01/")
    assert _KEY.match(plain) and _KEY.match(organization)
    assert plain != cloudtrail_object_key("111122223333", "eu-west-1", EXAMPLE_START + 3 * 3600 + 5 * 60 + 59, rng)


def test_encode_records_round_trips() -> None:
    events = example_day(random.Random(2), background=50, include=())
    data = encode_records(events)
    assert data[:2] == b"\x1f\x8b"
    assert orjson.loads(gzip.decompress(data)) == {"Records": events}


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_example_corpus(first)
    write_example_corpus(second)
    names = sorted(p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    other = tmp_path / "c"
    write_example_corpus(other, seed=2)
    assert sorted(p.name for p in other.rglob("*.json.gz")) != sorted(p.name for p in first.rglob("*.json.gz"))


# --- the attacker storyline ----------------------------------------------------------------------------------------
# That it becomes one `attack-sequence` incident is asserted with the engine side of issue 14; these check the
# story the incident is to be built from: every step present, in order, linked by the minted key's id.


def _story_steps(events: list[Record], account: str) -> dict[str, Record]:
    """The storyline's landmark events by step name (each exactly once)."""
    key = new_key_id(account)
    dana, backup = f"arn:aws:iam::{account}:user/dana", f"arn:aws:iam::{account}:user/ops-backup"

    def one(name: str, arn: str, **where: str) -> Record:
        found = [e for e in events if e["eventName"] == name and e["userIdentity"].get("arn") == arn
                 and all(e["userIdentity"].get(k) == v for k, v in where.items())]
        assert len(found) == 1, (name, arn, len(found))
        return found[0]

    return {
        "check-dana": one("GetCallerIdentity", dana),
        "mint-key": one("CreateAccessKey", dana),
        "check-key": one("GetCallerIdentity", backup, accessKeyId=key),
        "escalate": one("AttachUserPolicy", backup, accessKeyId=key),
        "blind-trail": one("PutEventSelectors", backup, accessKeyId=key),
        "share-snapshot": one("ModifySnapshotAttribute", backup, accessKeyId=key),
    }


def test_the_storyline_is_one_actor_across_two_identities() -> None:
    account = EXAMPLE_ACCOUNTS[0]
    events = attack_storyline(random.Random(9), EXAMPLE_START + 600, account, "eu-west-1")
    assert [e["eventTime"] for e in events] == sorted(e["eventTime"] for e in events)
    steps = _story_steps(events, account)
    order = list(steps.values())
    assert [e["eventTime"] for e in order] == sorted(e["eventTime"] for e in order)
    assert len({e["eventID"] for e in events}) == len(events)

    # dana's leaked key: a new address and tool, then a few hundred reads, some refused.
    dana_key = steps["check-dana"]["userIdentity"]["accessKeyId"]
    dana_ip, agent = steps["check-dana"]["sourceIPAddress"], steps["check-dana"]["userAgent"]
    assert dana_key.startswith("AKIA") and steps["check-dana"]["userIdentity"]["type"] == "IAMUser"
    assert "kali" in agent and dana_ip.startswith("203.0.113.")
    recon = [e for e in events if steps["check-dana"]["eventTime"] < e["eventTime"] < steps["mint-key"]["eventTime"]]
    assert len(recon) >= 200
    assert all(e["userIdentity"]["accessKeyId"] == dana_key and e["sourceIPAddress"] == dana_ip for e in recon)
    assert all(e["eventName"].startswith(("List", "Describe", "Get")) for e in recon)
    refused = [e for e in recon if e.get("errorCode")]
    assert 5 <= len(refused) < 20  # some refused (below access-denied-burst: those are signals, not a page)
    assert {e["eventSource"] for e in recon} >= {"iam.amazonaws.com", "s3.amazonaws.com", "ec2.amazonaws.com",
                                                 "cloudtrail.amazonaws.com"}

    # The key dana mints for ops-backup is the key every later call is made with, from 203.0.113.7.
    minted = steps["mint-key"]
    assert minted["requestParameters"] == {"userName": "ops-backup"}
    created = minted["responseElements"]["accessKey"]
    assert created["accessKeyId"] == new_key_id(account) and created["userName"] == "ops-backup"
    assert "secretAccessKey" not in orjson.dumps(events).decode()
    after = [e for e in events if e["eventTime"] > minted["eventTime"]]
    assert after == [steps[name] for name in ("check-key", "escalate", "blind-trail", "share-snapshot")]
    assert all(e["sourceIPAddress"] == "203.0.113.7" for e in after)
    before = events[:events.index(minted)]
    assert not any(e["userIdentity"].get("accessKeyId") == created["accessKeyId"] for e in before)
    assert steps["escalate"]["requestParameters"] == {
        "userName": "ops-backup", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    assert steps["blind-trail"]["requestParameters"]["eventSelectors"][0]["readWriteType"] == "ReadOnly"
    share = steps["share-snapshot"]["requestParameters"]
    assert share["createVolumePermission"]["add"]["items"] == [{"userId": "999988887777"}]
    assert steps["share-snapshot"]["awsRegion"] == "eu-west-1" and steps["escalate"]["awsRegion"] == "us-east-1"
    # The live demo writes records five minutes behind the wall clock: the story must fit in that.
    span = _seconds(events[-1]) - _seconds(events[0])
    assert 120 <= span < 270


def _seconds(event: Record) -> float:
    return datetime.strptime(event["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def test_the_storyline_is_in_the_example_corpus_in_order(corpus: Path) -> None:
    events: list[Record] = []
    for path in corpus.rglob("*.json.gz"):
        if "/CloudTrail/" in path.as_posix():
            events.extend(orjson.loads(gzip.decompress(path.read_bytes()))["Records"])
    steps = _story_steps(events, EXAMPLE_ACCOUNTS[0])
    times = [e["eventTime"] for e in steps.values()]
    assert times == sorted(times)
    assert sum(e["userIdentity"].get("userName") == "dana" for e in events) >= 200


def test_the_live_demo_plays_the_storyline_within_its_first_minute() -> None:
    [at] = [at for at, name in SCHEDULE if name == "attack-storyline"]
    assert at < 60
