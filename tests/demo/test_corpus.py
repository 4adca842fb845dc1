"""The example corpus: realistic, deterministic, and every scenario alerts exactly where it should."""

from __future__ import annotations

import gzip
import random
import re
from collections import Counter
from pathlib import Path

import orjson
import pytest

from monitor.demo.background import background_events
from monitor.demo.builders import EXAMPLE_ACCOUNTS, EXAMPLE_REGIONS, EXAMPLE_START
from monitor.demo.objects import cloudtrail_object_key, encode_records, write_example_corpus
from monitor.demo.scenarios import MISSION_DETECTORS, SCENARIOS, TRAPS, Scenario, example_day
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
    expected = Counter(d for s in SCENARIOS for d in s.detectors)
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


@pytest.mark.parametrize("case", SCENARIOS + TRAPS, ids=lambda s: s.name)
def test_scenario_alerts_exactly_its_detectors(case: Scenario) -> None:
    rng = random.Random(5)
    events = background_events(rng, EXAMPLE_START, 600, EXAMPLE_ACCOUNTS, EXAMPLE_REGIONS)
    incident = case.build(rng, EXAMPLE_START + 1800, EXAMPLE_ACCOUNTS[0], "eu-west-1")
    alerts = _detect(events + incident)
    assert Counter(a.detector for a in alerts) == Counter(case.detectors)
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
