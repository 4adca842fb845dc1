"""The detectors on real third-party CloudTrail data (../shared/data), read through the real decoder."""

from __future__ import annotations

from collections import Counter

import pytest

from monitor.decode import decode_bytes
from monitor.engine import Engine
from monitor.model import Alert
from monitor.model import event as f
from monitor.rules.builtin import builtin_detectors
from tests.helpers import DATA, MISSION, latest


def scan(name: str) -> tuple[Engine, list[Alert], int]:
    path = DATA / name / "events.jsonl"
    if not path.exists():
        pytest.skip(f"real data set {path} is absent (it lives outside the repository)")
    decoded = decode_bytes(path.read_bytes(), str(path))
    assert decoded.issues == []
    engine = Engine(builtin_detectors())
    result = engine.process(decoded)
    alerts = [*result.alerts, *engine.flush()]
    return engine, alerts, len(decoded.events)


def test_permiso_console_sessions_give_no_alerts() -> None:
    """Benign console browsing with no userIdentity and no sourceIPAddress: nothing to say, nothing raised.

    The set includes 21 successful ConsoleLogin, CreateAccessKey, StopLogging, DeleteTrail, PutBucketPolicy
    and 33 AccessDenied records, all without an identity: no detector can attribute them to anyone.
    """
    engine, alerts, count = scan("permiso_console_cartographer")
    assert count == 8170
    assert dict(engine.stats.detector_errors) == {}
    assert [(a.detector, a.title) for a in alerts] == []
    # Not even a match below a threshold: every mission detector needs an identity these records lack.
    assert {d: n for d, n in engine.stats.matches.items() if d in MISSION} == {}
    # The one detector that sees every event finds no instance-role session here to look at.
    assert engine.stats.matches["instance-credentials-used-elsewhere"] == 0


def test_otrf_ec2_proxy_s3_exfiltration() -> None:
    """Stolen EC2 instance-role credentials used from outside to list and read S3.

    What the mission detectors must say: nothing. The attacker acts as an AssumedRole session (roles are
    not in scope for the MFA detectors), reads only (no sensitive write, no new key), is never denied
    (no access-denied burst) and never uses root or the console. The IAM user in the set is an
    MFA-authenticated console session browsing EC2. Catching this incident belongs to the catalog's
    `instance-credentials-used-elsewhere` detector, not to the mission's: the instance's session was used
    by the AWS CLI on macOS (Darwin), a workstation, not a server.
    """
    engine, alerts, count = scan("otrf_ec2_proxy_s3_exfil")
    assert count == 103
    assert dict(engine.stats.detector_errors) == {}

    path = DATA / "otrf_ec2_proxy_s3_exfil" / "events.jsonl"
    events = decode_bytes(path.read_bytes(), str(path)).events
    kinds = Counter(e.userIdentity.type for e in events)
    assert kinds == {"IAMUser": 87, "AssumedRole": 11, "AWSService": 5}
    # The facts that make the mission detectors' silence right, checked on the data itself.
    assert not any(e.errorCode for e in events)
    assert not any(f.is_root(e) or e.eventSource == "signin.amazonaws.com" for e in events)
    assert all(f.mfa_authenticated(e) for e in events if e.userIdentity.type == "IAMUser")
    stolen = [e for e in events if e.userIdentity.type == "AssumedRole"]
    assert {e.eventName for e in stolen} == {"ListBuckets", "ListObjects", "GetObject"}
    assert all(not f.mfa_authenticated(e) for e in stolen)

    mission = [a for a in alerts if a.detector in MISSION]
    assert mission == []
    assert {d: n for d, n in engine.stats.matches.items() if d in MISSION} == {}
    # Other (catalog) detectors may speak about this incident, but as episodes, not one alert per event.
    assert len(latest(alerts)) <= 10

    # The catalog's answer: one high alert naming the stolen instance session, covering all of its calls.
    caught = [a for a in latest(alerts).values() if a.detector == "instance-credentials-used-elsewhere"]
    assert len(caught) == 1
    alert = caught[0]
    assert alert.principal == stolen[0].userIdentity.arn
    assert alert.principal.endswith("/MordorNginxStack-BankingWAFRole-9S3E0UAE1MM0/i-0317f6c6b66ae9c40")
    assert alert.severity.label == "high"
    assert alert.context["instance_id"] == "i-0317f6c6b66ae9c40"
    assert alert.context["reason"] == "workstation platform: darwin/"
    assert alert.count == len(stolen) == 11
    assert alert.source_ip == "1.2.3.4"


def test_signals_on_real_data() -> None:
    """The weak signals (`signal=True`) on real events: the stolen instance session's ListBuckets is the one
    discovery step worth remembering; the benign console sessions, with no identity, raise none."""
    _, alerts, _ = scan("otrf_ec2_proxy_s3_exfil")
    signals = {d.id for d in builtin_detectors() if d.signal}
    raised = [a for a in latest(alerts).values() if a.detector in signals]
    assert [(a.detector, a.title, a.principal.rsplit("/", 1)[-1]) for a in raised] == [
        ("buckets-enumeration", "Every bucket listed", "i-0317f6c6b66ae9c40")]
    _, alerts, _ = scan("permiso_console_cartographer")
    assert [a for a in alerts if a.detector in signals] == []
