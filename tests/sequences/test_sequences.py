"""Attack sequences end to end: multi-identity chains become one incident each, however they are read.

Real components throughout: the built-in catalog plus one test signal, the decoder, the engine over the
memory, embedded (SQLite) and Redis stores, and `scan`'s Scanner over files.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.configreader import Section
from monitor.decode import decode_bytes
from monitor.engine import Engine, EngineSettings
from monitor.engine.state.embedded import EmbeddedStore
from monitor.engine.suppressions import SuppressionSet
from monitor.engine.suppressions_settings import parse_suppressions
from monitor.model import Alert, Detector
from monitor.offline.scan import Scanner, expand_paths
from monitor.pipeline.tasks import newest_per_id
from monitor.rules.builtin import builtin_detectors
from tests.sequences import chains
from tests.sequences.chains import RECON, console_chain, minted_key_chain, stolen_role_chain

Chain = Callable[[], list[dict[str, Any]]]
CHAINS = [minted_key_chain, stolen_role_chain, console_chain]
SEQ = "attack-sequence"


def catalog() -> list[Detector]:
    return [*builtin_detectors(), RECON]


def run(events: list[dict[str, Any]], engine: Engine | None = None) -> tuple[Engine, dict[str, Alert]]:
    """Each event as a batch of its own, then the end of the input: the last emission of every alert id."""
    engine = engine or Engine(catalog())
    emitted: list[Alert] = []
    for event in events:
        emitted.extend(engine.process_records([event], "test").alerts)
    emitted.extend(engine.flush())
    return engine, {alert.id: alert for alert in emitted}


def incidents(alerts: dict[str, Alert]) -> list[Alert]:
    return [alert for alert in alerts.values() if alert.detector == SEQ]


# -- the three chains -----------------------------------------------------------------------------------


@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: c.__name__)
def test_each_chain_is_one_incident_with_every_step_and_its_links(chain: Chain) -> None:
    events = chain()
    _, alerts = run(events)
    [incident] = incidents(alerts)
    context = incident.context
    assert incident.id == context["incident"]
    steps = [alert for alert in alerts.values() if alert.detector != SEQ]
    # Every alert and signal of the chain is a step of the incident's timeline, oldest first.
    assert {entry["alert_id"] for entry in context["timeline"]} == {alert.id for alert in steps}
    times = [entry["time"] for entry in context["timeline"]]
    assert times == sorted(times) and context["timeline_omitted"] == 0
    assert context["member_alerts"] == [e["alert_id"] for e in context["timeline"] if e["kind"] == "alert"]
    assert {e["kind"] for e in context["timeline"]} == {"alert", "signal"}
    assert incident.count == len(context["timeline"])
    assert set(context["tactics"]) == set(incident.tactics) and len(incident.tactics) >= 2
    assert context["narrative"].startswith(f"Actor {context['actor'].rsplit(':', 1)[-1]}: ")
    assert chains.ATTACKER in context["source_ips"]


def test_a_key_minted_for_another_user_is_the_minters() -> None:
    _, alerts = run(minted_key_chain())
    [incident] = incidents(alerts)
    context = incident.context
    assert context["actor"] == incident.principal == "arn:aws:iam::111122223333:user/dana"
    assert context["sequence"] == "persistence-then-use" and incident.severity.label == "critical"
    assert {"identity": f"arn:aws:iam::111122223333:user/ops-backup (access key {chains.OPS_KEY})",
            "linked_to": "arn:aws:iam::111122223333:user/dana", "how": "created the access key"} \
        in context["identities"]
    steps = [(entry["step"], entry["principal"].rsplit("/", 1)[-1]) for entry in context["timeline"]]
    assert ("access-key-created", "dana") in steps and ("cloudtrail-logging-stopped", "ops-backup") in steps
    assert "user/dana CreateAccessKey on ops-backup at 10:02" in context["narrative"]
    assert (f"Linked: user/dana created the access key: user/ops-backup (access key {chains.OPS_KEY})"
            in context["narrative"])


def test_a_role_assumed_with_stolen_keys_is_the_key_owners() -> None:
    _, alerts = run(stolen_role_chain())
    [incident] = incidents(alerts)
    context = incident.context
    assert context["actor"] == "arn:aws:iam::111122223333:user/ci-deployer"
    assert context["sequence"] == "discovery-then-snapshot-shared"
    session = "arn:aws:sts::111122223333:assumed-role/DataPipelineRole/i-0a1b2c3d"
    assert {"identity": f"{session} (access key {chains.ROLE_KEY})",
            "linked_to": "arn:aws:iam::111122223333:user/ci-deployer",
            "how": "assumed the role with its credentials"} in context["identities"]
    assert {entry["principal"] for entry in context["timeline"]} == {session}


def test_a_console_session_and_the_role_it_switched_to_are_one_actor() -> None:
    _, alerts = run(console_chain())
    [incident] = incidents(alerts)
    context = incident.context
    assert context["actor"] == "arn:aws:iam::111122223333:user/erin"
    assert context["sequence"] == "tactics" and incident.severity.label == "critical"
    hows = {entry["how"] for entry in context["identities"]}
    assert "assumed the role with its credentials from a console session" in hows


def test_member_alerts_name_their_incident_once_part_of_one() -> None:
    engine = Engine(catalog())
    emitted: list[Alert] = []
    for event in minted_key_chain():
        emitted.extend(engine.process_records([event], "test").alerts)
    incident_id = next(alert.id for alert in emitted if alert.detector == SEQ)
    opened_at = next(index for index, alert in enumerate(emitted) if alert.detector == SEQ)
    later = [alert for alert in emitted[opened_at:] if alert.detector != SEQ and not alert.signal]
    assert later and all(alert.context["incident"] == incident_id for alert in later)


def test_an_incident_keeps_its_id_and_updates_at_most_once_a_minute() -> None:
    events = minted_key_chain()
    admin = events[2]
    # Two more steps within the minute after the incident's last emission: held, then emitted at the end.
    events += [chains.share_snapshot(chains.OPS, 905), chains.call(chains.OPS, "s3", "DeleteBucketPolicy", 910,
                                                                    request={"bucketName": "backups"})]
    engine = Engine(catalog())
    emissions: list[Alert] = []
    for event in events:
        emissions.extend(a for a in engine.process_records([event], "test").alerts if a.detector == SEQ)
    assert len({alert.id for alert in emissions}) == 1
    during = len(emissions)
    final = [alert for alert in engine.flush() if alert.detector == SEQ]
    assert len(final) == 1 and final[0].id == emissions[0].id
    assert final[0].count > emissions[-1].count  # what the minute held back
    assert admin["eventID"] in final[0].event_ids
    assert during >= 2
    assert all(later.last_event_time - earlier.last_event_time >= 60 or later.severity > earlier.severity
               for earlier, later in itertools.pairwise(emissions))


# -- read in any order, from any number of files, by any process ------------------------------------------


def _write(folder: Path, name: str, events: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(orjson.dumps({"Records": events}))


def _scan(paths: list[str]) -> list[Alert]:
    scanner = Scanner(Engine(catalog()))
    return scanner.scan(expand_paths(paths)).alerts


def _file_name(seconds: int) -> str:
    """A CloudTrail object name, whose time `scan` orders files by."""
    minute = f"{10 + seconds // 3600:02d}{(seconds % 3600) // 60:02d}"
    return f"111122223333_CloudTrail_us-east-1_20260302T{minute}Z_{seconds:016d}.json"


@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: c.__name__)
def test_split_over_three_files_in_shuffled_order_gives_the_identical_alert(chain: Chain, tmp_path: Path) -> None:
    events = chain()
    _write(tmp_path / "one", _file_name(0), events)
    [whole] = [alert for alert in _scan([str(tmp_path / "one")]) if alert.detector == SEQ]
    thirds = [events[: len(events) // 3 or 1], events[len(events) // 3 or 1: 2 * len(events) // 3 + 1],
              events[2 * len(events) // 3 + 1:]]
    names = []
    for part in thirds:
        first = min(int(e["eventTime"][14:16]) * 60 + int(e["eventTime"][17:19]) for e in part)
        names.append(_file_name(first))
        _write(tmp_path / "split", names[-1], list(reversed(part)) if len(part) == 1 else part)
    shuffled = [str(tmp_path / "split" / name) for name in names]
    random.Random(3).shuffle(shuffled)
    [split] = [alert for alert in _scan(shuffled) if alert.detector == SEQ]
    assert split.to_dict() == whole.to_dict()


@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: c.__name__)
def test_scan_matches_event_by_event_processing(chain: Chain, tmp_path: Path) -> None:
    """`scan` (one batch per file) and `run` (a batch per object as it arrives) give the same incident."""
    events = chain()
    _write(tmp_path, _file_name(0), events)
    [scanned] = [alert for alert in _scan([str(tmp_path)]) if alert.detector == SEQ]
    _, alerts = run(events)
    [live] = incidents(alerts)
    assert scanned.to_dict() == live.to_dict()


def _durable(path: Path) -> Engine:
    store = EmbeddedStore(path, dedupe_capacity=10_000)
    engine = Engine(catalog(), store=store)
    store.restore()
    engine.restored()
    return engine


@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: c.__name__)
def test_a_restart_mid_chain_gives_the_same_alert(chain: Chain, tmp_path: Path) -> None:
    events = chain()
    _, alerts = run(events)
    [uninterrupted] = incidents(alerts)
    path = tmp_path / "state.sqlite"
    first = _durable(path)
    emitted: list[Alert] = []
    half = len(events) // 2
    for event in events[:half]:
        emitted.extend(first.process_records([event], "test").alerts)
    first.store.persist()
    first.store.close()  # type: ignore[attr-defined]
    second = _durable(path)
    for event in events[half:]:
        emitted.extend(second.process_records([event], "test").alerts)
    emitted.extend(second.flush())
    second.store.close()  # type: ignore[attr-defined]
    [restarted] = [alert for alert in {a.id: a for a in emitted}.values() if alert.detector == SEQ]
    assert restarted.to_dict() == uninterrupted.to_dict()


def test_steps_applied_before_the_link_that_explains_them_move_to_the_actor() -> None:
    """Live, CloudTrail delivers regions and services apart: the new key's calls may be applied before the
    CreateAccessKey that links them. They move to the key creator's sequence when it arrives."""
    create, recon, attach, stop = minted_key_chain()
    _, in_order = run([create, recon, attach, stop])
    _, delivered_late = run([recon, attach, create, stop])
    [expected] = incidents(in_order)
    [found] = incidents(delivered_late)
    assert found.to_dict() == expected.to_dict()


# -- quiet where it should be -------------------------------------------------------------------------------


def _suppressed(entry: dict[str, Any]) -> SuppressionSet:
    """One allowlist entry as the config file gives it."""
    errors: list[str] = []
    found = parse_suppressions(Section({"suppressions": [entry]}, "", errors))
    assert not errors, errors
    return found


def test_an_allowlist_entry_for_attack_sequence_drops_the_incident_and_keeps_the_alerts() -> None:
    settings = EngineSettings(suppressions=_suppressed({"detectors": [SEQ], "principal": "*ops-backup",
                                                        "reason": "backup user runs the break-glass drill"}))
    _, alerts = run(minted_key_chain(), Engine(catalog(), settings))
    assert incidents(alerts) == []
    assert any(alert.detector == "cloudtrail-logging-stopped" for alert in alerts.values())


def test_a_suppressed_step_never_counts() -> None:
    settings = EngineSettings(suppressions=_suppressed({
        "detectors": ["snapshot-or-image-shared"], "event_name": "ModifySnapshotAttribute",
        "reason": "snapshots are shared with the DR account"}))
    _, alerts = run(stolen_role_chain(), Engine(catalog(), settings))
    # Without the share: discovery and privilege escalation only, two tactics and no named sequence.
    assert incidents(alerts) == []


def test_signals_alone_never_make_an_incident() -> None:
    events = [chains.recon(chains.OPS, name, source, 60 * index)
              for index, (name, source) in enumerate([("ListUsers", "iam"), ("DescribeSnapshots", "ec2"),
                                                      ("ListBuckets", "s3")])]
    engine, alerts = run(events)
    assert incidents(alerts) == [] and engine.stats.signals["test-recon-call"] >= 1


# -- signals and tactics ---------------------------------------------------------------------------------------


def test_signals_are_marked_counted_and_never_recorded() -> None:
    engine, alerts = run(minted_key_chain())
    signals = [alert for alert in alerts.values() if alert.signal]
    assert signals and all(alert.to_dict()["signal"] is True for alert in signals)
    assert all("signal" not in alert.to_dict() for alert in alerts.values() if not alert.signal)
    assert engine.stats.signals["test-recon-call"] >= 1 and "test-recon-call" not in engine.stats.alerts
    recorded = newest_per_id(list(alerts.values()))
    assert recorded and not any(alert.signal for alert in recorded)
    assert all(Alert.from_dict(alert.to_dict()) == alert for alert in alerts.values())


def test_scan_leaves_signals_out_unless_asked(tmp_path: Path) -> None:
    _write(tmp_path, _file_name(0), minted_key_chain())
    quiet = Scanner(Engine(catalog())).scan(expand_paths([str(tmp_path)])).alerts
    loud = Scanner(Engine(catalog()), signals=True).scan(expand_paths([str(tmp_path)])).alerts
    assert not any(alert.signal for alert in quiet)
    assert {alert.id for alert in loud if alert.signal} and len(loud) > len(quiet)


def test_every_alert_carries_its_tactics() -> None:
    _, alerts = run(stolen_role_chain())
    by_detector = {alert.detector: alert for alert in alerts.values()}
    assert by_detector["snapshot-or-image-shared"].tactics == ("exfiltration",)
    assert by_detector["admin-policy-attached"].to_dict()["tactics"] == ["persistence", "privilege-escalation"]
    assert by_detector["test-recon-call"].tactics == ("discovery",)


def test_the_linking_rule_alone_never_alerts() -> None:
    engine = Engine([d for d in catalog() if d.id == SEQ])
    result = engine.process(decode_bytes(orjson.dumps({"Records": minted_key_chain()}), "x"))
    assert result.alerts == [] and engine.flush() == []


# -- tuning ------------------------------------------------------------------------------------------------


def _configured(settings: dict[str, Any]) -> list[Detector]:
    from monitor.engine.registry import configure
    from monitor.engine.settings import DetectorSettings

    return configure(catalog(), {SEQ: DetectorSettings(**settings)})


def test_a_shorter_window_or_more_tactics_and_added_sequences_are_configured() -> None:
    # Four tactics wanted and no named sequence: chain (c) spans three, so it is no longer an incident.
    strict = _configured({"threshold": 4, "params": {"sequences": []}})
    _, alerts = run(console_chain(), Engine(strict))
    assert incidents(alerts) == []
    # A named sequence of one's own: discovery by a linked session, then a key created.
    added = _configured({"threshold": 9, "params": {"sequences": [], "extra_sequences": [
        {"id": "recon-then-new-key", "title": "Reconnaissance, then a new access key",
         "steps": [{"tactics": ["discovery"]}, {"detectors": ["access-key-created"]}]}]}})
    engine = Engine(added)
    emitted = [a for event in console_chain() for a in engine.process_records([event], "t").alerts if a.detector == SEQ]
    # Two tactics when it opens (high); the trail stopped afterwards makes three (critical), under one id.
    assert [a.severity.label for a in emitted] == ["high", "critical"] and len({a.id for a in emitted}) == 1
    assert emitted[-1].context["sequence"] == "recon-then-new-key"
    # Steps further apart than the window are no sequence.
    short = _configured({"window_seconds": 60})
    _, alerts = run(minted_key_chain(), Engine(short))
    assert incidents(alerts) == []


def test_a_malformed_sequence_is_refused_when_configured() -> None:
    from monitor.engine.registry import RegistryError

    with pytest.raises(RegistryError, match="unknown tactic"):
        _configured({"params": {"extra_sequences": [{"id": "x", "steps": [{"tactics": ["looting"]},
                                                                          {"tactics": ["impact"]}]}]}})
