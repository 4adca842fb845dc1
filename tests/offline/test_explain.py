"""`trailsentry explain`: one alert found in alert files or scanned from CloudTrail, and told as a readable page.

The incident alerts here are written by hand in the shape docs/PREAMBLE14 fixes for `attack-sequence`
(context: incident, actor, sequence, tactics, timeline, identities, source_ips, user_agents, member_alerts,
narrative); the end-to-end test from CloudTrail to an incident comes with the engine side.
"""

from __future__ import annotations

import gzip
import random
import unicodedata
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor import cli
from monitor.demo.builders import EXAMPLE_ACCOUNTS, EXAMPLE_START
from monitor.demo.storyline import attack_storyline
from monitor.offline.explain import clean, width
from monitor.offline.report import EXIT_OK, EXIT_USAGE, EXIT_WARNINGS
from tests.helpers import ACCOUNT, iam_user, root, signin, trailsentry, write

INCIDENT_ID = "5f1c2e9a0b7d4c3e8f6a1b2c3d4e5f60"
DANA = f"arn:aws:iam::{ACCOUNT}:user/dana"
OPS_BACKUP = f"arn:aws:iam::{ACCOUNT}:user/ops-backup"
TIMELINE_HEADINGS = ("TIME", "TACTIC", "STEP", "KIND", "EVENT", "PRINCIPAL", "TARGET", "SOURCE IP")


def _step(time: str, tactic: str, step: str, kind: str, event: str, principal: str, target: str, ip: str,
          alert_id: str = "") -> dict[str, Any]:
    return {"time": time, "tactic": tactic, "step": step, "kind": kind, "title": f"{step} by {principal}",
            "event_name": event, "principal": principal, "target": target,
            "event_id": f"8c2f1e4a-0000-4b1c-9d2e-{abs(hash((time, event))) % 10**12:012d}", "alert_id": alert_id,
            "source_ip": ip, "user_agent": "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-kali3-amd64"}


STEPS = [
    _step("2026-03-01T10:00:04Z", "discovery", "credential-discovery", "signal", "GetCallerIdentity", DANA, "",
          "198.51.100.77"),
    _step("2026-03-01T10:00:31Z", "discovery", "recon-burst", "signal", "ListUsers", DANA, "", "198.51.100.77"),
    _step("2026-03-01T10:02:10Z", "persistence", "access-key-created", "alert", "CreateAccessKey", DANA, OPS_BACKUP,
          "198.51.100.77", alert_id="a" * 32),
    _step("2026-03-01T10:03:02Z", "privilege-escalation", "admin-policy-attached", "alert", "AttachUserPolicy",
          OPS_BACKUP, "arn:aws:iam::aws:policy/AdministratorAccess", "203.0.113.7", alert_id="b" * 32),
    _step("2026-03-01T10:03:40Z", "defense-evasion", "cloudtrail-config-changed", "alert", "PutEventSelectors",
          OPS_BACKUP, f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/organization-trail", "203.0.113.7",
          alert_id="c" * 32),
    _step("2026-03-01T10:04:15Z", "exfiltration", "snapshot-or-image-shared", "alert", "ModifySnapshotAttribute",
          OPS_BACKUP, "snap-0a1b2c3d4e5f60718", "203.0.113.7", alert_id="d" * 32),
]


def incident(alert_id: str = INCIDENT_ID, *, steps: list[dict[str, Any]] | None = None, count: int | None = None,
             **context: Any) -> dict[str, Any]:
    """An `attack-sequence` alert as the engine writes it (schema v1 plus `tactics`)."""
    steps = STEPS if steps is None else steps
    body: dict[str, Any] = {
        "incident": alert_id, "actor": DANA, "sequence": "persistence-then-use",
        "tactics": ["discovery", "persistence", "privilege-escalation", "defense-evasion", "exfiltration"],
        "timeline": steps, "timeline_omitted": 0,
        "identities": [{"identity": OPS_BACKUP, "linked_to": DANA, "how": "created the access key"},
                       {"identity": "AKIAOPSBACKUPNEWKEY1", "linked_to": OPS_BACKUP, "how": "same access key"}],
        "source_ips": ["198.51.100.77", "203.0.113.7"],
        "user_agents": ["aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-kali3-amd64"],
        "member_alerts": ["a" * 32, "b" * 32, "c" * 32, "d" * 32],
        "narrative": "user/dana created an access key for user/ops-backup at 10:02, used it from 203.0.113.7 at "
                     "10:03 to attach AdministratorAccess to user/ops-backup, changed the event selectors of trail "
                     "organization-trail at 10:03 and shared snapshot snap-0a1b2c3d4e5f60718 with account "
                     "999988887777 at 10:04.",
    }
    body.update(context)
    return {
        "schema": 1, "id": alert_id, "detector": "attack-sequence",
        "title": "Attack sequence: persistence through a new access key, then its use", "severity": "critical",
        "account": ACCOUNT, "account_alias": "prod", "region": "us-east-1", "principal": DANA,
        "source_ip": "198.51.100.77", "user_agent": steps[0]["user_agent"] if steps else "",
        "event_source": "sts.amazonaws.com", "event_name": "GetCallerIdentity",
        "event_time": steps[0]["time"] if steps else "2026-03-01T10:00:04Z",
        "last_event_time": steps[-1]["time"] if steps else "2026-03-01T10:00:04Z",
        "event_ids": [s["event_id"] for s in steps][:20], "count": count if count is not None else len(steps),
        "mitre": ["T1098.001", "T1562.008", "T1537"], "runbook": "", "tactics": body["tactics"], "context": body,
    }


def ordinary(alert_id: str = "b" * 32, **context: Any) -> dict[str, Any]:
    return {
        "schema": 1, "id": alert_id, "detector": "admin-policy-attached",
        "title": "AdministratorAccess attached", "severity": "high", "account": ACCOUNT, "region": "us-east-1",
        "principal": OPS_BACKUP, "source_ip": "203.0.113.7", "user_agent": "aws-cli/2.15.30",
        "event_source": "iam.amazonaws.com", "event_name": "AttachUserPolicy",
        "event_time": "2026-03-01T10:03:02Z", "last_event_time": "2026-03-01T10:03:02Z",
        "event_ids": ["8c2f1e4a-0000-4b1c-9d2e-000000000001"], "count": 1, "mitre": ["T1098"],
        "runbook": "https://example.com/runbooks/admin", "tactics": ["privilege-escalation", "persistence"],
        "context": {"policy": "arn:aws:iam::aws:policy/AdministratorAccess", "target": "user/ops-backup",
                    "incident": INCIDENT_ID, **context},
    }


def jsonl(*alerts: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(a) + b"\n" for a in alerts)


def explain(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["explain", *args])
    out, err = capsys.readouterr()
    return code, out, err


def cells(line: str) -> list[str]:
    """A line as terminal cells: a wide character takes two (its second cell is "")."""
    out: list[str] = []
    for ch in line:
        out.append(ch)
        if unicodedata.east_asian_width(ch) in ("W", "F"):
            out.append("")
    return out


def timeline_rows(text: str) -> tuple[list[str], list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Timeline"))
    header = lines[start + 1]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("  ") or line.startswith("  ..."):
            break
        rows.append(line)
    return [header], rows


def column_starts(header: str) -> list[int]:
    return [header.index(heading) for heading in TIMELINE_HEADINGS]


def assert_aligned(header: str, rows: list[str]) -> None:
    starts = column_starts(header)
    for row in rows:
        row_cells = cells(row)
        for start in starts[1:]:
            # Two spaces before every column: no cell ran into the next one.
            assert row_cells[start - 1] == " " and row_cells[start - 2] == " ", (start, row)
            assert row_cells[start] not in (" ", ""), (start, row)


def assert_terminal_safe(text: str) -> None:
    for ch in text:
        if ch == "\n":
            continue
        assert ch.isprintable(), repr(ch)
        assert unicodedata.category(ch) not in ("Cf", "Mn", "Me", "Zl", "Zp"), repr(ch)


# --- an incident from alert files -------------------------------------------------------------------------------


def test_an_incident_prints_its_header_timeline_links_and_story(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "alerts.jsonl", jsonl(ordinary(), incident(), ordinary("e" * 32)))
    code, out, err = explain(capsys, INCIDENT_ID, "--from", str(path))
    assert code == EXIT_OK, err
    lines = out.splitlines()
    assert lines[0] == f"Incident {INCIDENT_ID}: Attack sequence: persistence through a new access key, then its use"
    header = "\n".join(lines[:10])
    for expected in ("severity  critical", f"actor     {DANA}", "sequence  persistence-then-use",
                     "tactics   discovery, persistence, privilege-escalation, defense-evasion, exfiltration",
                     "first     2026-03-01T10:00:04Z", "last      2026-03-01T10:04:15Z",
                     "account   111122223333 (prod)"):
        assert expected in header, (expected, header)
    [heading], rows = timeline_rows(out)
    assert heading.split() == ["TIME", "TACTIC", "STEP", "KIND", "EVENT", "PRINCIPAL", "TARGET", "SOURCE", "IP"]
    assert len(rows) == len(STEPS)
    assert [row.split()[0] for row in rows] == [s["time"] for s in STEPS]
    assert [row.split()[4] for row in rows] == [s["event_name"] for s in STEPS]
    assert "user/ops-backup" in rows[2] and rows[2].split()[5] == "user/dana"  # ARNs shown by their resource part
    assert rows[3].rstrip().endswith("203.0.113.7")
    assert_aligned(heading, rows)
    assert "Identities linked" in out
    link = next(line for line in lines if "created the access key" in line)
    assert link.split() == ["user/ops-backup", "user/dana", "created", "the", "access", "key"]
    assert "Source addresses (2)" in out and "  203.0.113.7" in lines
    assert "User agents (1)" in out
    assert "Member alerts (4)" in out and f"  {'c' * 32}" in lines
    story = out.split("What happened\n", 1)[1]
    assert story.startswith("  user/dana created an access key for user/ops-backup at 10:02")
    assert all(len(line) <= 100 for line in story.splitlines())
    assert "shared snapshot snap-0a1b2c3d4e5f60718" in " ".join(story.split())


def test_the_latest_version_of_an_incident_wins_whatever_the_file_order(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    early = write(tmp_path / "a.jsonl", jsonl(incident(steps=STEPS[:3])))
    late = write(tmp_path / "b.jsonl", jsonl(incident()))
    for order in ((early, late), (late, early)):
        code, out, err = explain(capsys, INCIDENT_ID, "--from", *map(str, order))
        assert code == EXIT_OK, err
        _, rows = timeline_rows(out)
        assert len(rows) == len(STEPS)
        assert "Timeline (6 step(s), oldest first)" in out


def test_a_sink_file_with_updates_and_a_folder_of_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A file sink appends every emission: the first, then updates as the incident grows.
    sink = jsonl(incident(steps=STEPS[:3]), ordinary(), incident(steps=STEPS[:5]), incident())
    write(tmp_path / "out" / "sink.jsonl", sink)
    write(tmp_path / "out" / "old" / "scan.jsonl.gz", gzip.compress(jsonl(incident(steps=STEPS[:2]))))
    code, out, err = explain(capsys, INCIDENT_ID, "--from", str(tmp_path / "out"))
    assert code == EXIT_OK, err
    assert len(timeline_rows(out)[1]) == len(STEPS)


def test_omitted_steps_are_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "alerts.jsonl", jsonl(incident(timeline_omitted=17)))
    code, out, _ = explain(capsys, INCIDENT_ID, "--from", str(path))
    assert code == EXIT_OK
    assert "  ... 17 more step(s) not kept in the alert" in out


# --- hostile strings --------------------------------------------------------------------------------------------


HOSTILE = [
    "evil\nNEXTLINE\rback\ttab",
    "\x1b[2J\x1b[31mred\x1b]0;title\x07",
    "admin\u202egnp.exe\u200b\u200d\ufeff",
    "用户名用户名用户名用户名用户名用户名用户名用户名用户名用户名用户名",  # wide: two columns each
    "e\u0301\u0301\u0301\u0301 combining",
    "x" * 5000,
    "\u2028line\u2029para\x00nul\x7fdel\x85nel",
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_strings_never_break_the_columns_or_reach_the_terminal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    steps = [dict(step) for step in STEPS]
    for step in steps[1::2]:
        for key in ("tactic", "step", "kind", "event_name", "principal", "target", "source_ip", "time"):
            step[key] = value
    steps[2]["principal"] = "arn:aws:iam::111122223333:user/" + value
    alert = incident(steps=steps, actor=value, sequence=value, narrative=value * 3,
                     identities=[{"identity": value, "linked_to": value, "how": value}],
                     source_ips=[value], user_agents=[value], member_alerts=[value])
    alert["title"] = value
    alert["last_event_time"] = STEPS[-1]["time"]  # the alert's own times are checked when it is read
    path = write(tmp_path / "alerts.jsonl", jsonl(alert))
    code, out, err = explain(capsys, INCIDENT_ID, "--from", str(path))
    assert code == EXIT_OK, err
    assert_terminal_safe(out)
    [heading], rows = timeline_rows(out)
    assert len(rows) == len(STEPS)
    assert_aligned(heading, rows)
    assert all(width(line) <= 2 + 20 + 20 + 32 + 6 + 32 + 40 + 40 + 39 + 7 * 2 for line in rows)
    assert max(width(line) for line in out.splitlines()) <= 300


def test_clean_clips_by_columns_and_marks_the_cut() -> None:
    assert clean("abc", 3) == "abc"
    assert clean("abcd", 3) == "ab…"
    assert clean("用户名", 4) == "用…"
    assert width(clean("用户名用户名", 7)) <= 7
    assert clean("a\x1bb\u200bc", 10) == "a?b?c"


def test_hostile_shapes_in_an_alert_file_are_shown_not_obeyed(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    alert = incident(timeline=[{"time": 5, "step": ["x"], "principal": {"a": 1}}, "not an object", None],
                     identities="nope", source_ips={"a": 1}, member_alerts=[1, None], timeline_omitted="many",
                     tactics="discovery")
    path = write(tmp_path / "alerts.jsonl", jsonl(alert))
    code, out, err = explain(capsys, INCIDENT_ID, "--from", str(path))
    assert code == EXIT_OK, err
    _, rows = timeline_rows(out)
    assert len(rows) == 1 and '["x"]' in rows[0]
    assert "tactics   discovery" in out


# --- finding the alert ------------------------------------------------------------------------------------------


def test_not_found_names_how_many_alerts_were_searched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "alerts.jsonl", jsonl(incident(), ordinary(), ordinary("e" * 32), ordinary()))
    code, out, err = explain(capsys, "0123456789abcdef", "--from", str(path))
    assert code == EXIT_WARNINGS
    assert out == ""
    assert err == "error: no alert with id '0123456789abcdef': 3 alert(s) searched from 1 alert file(s)\n"


def test_a_unique_prefix_is_enough_and_is_stated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "alerts.jsonl", jsonl(incident(), ordinary()))
    code, out, err = explain(capsys, INCIDENT_ID[:7], "--from", str(path))
    assert code == EXIT_OK, err
    assert out.splitlines()[0] == f"(id prefix {INCIDENT_ID[:7]} is alert {INCIDENT_ID})"
    assert out.splitlines()[1].startswith(f"Incident {INCIDENT_ID}")


def test_an_ambiguous_prefix_lists_the_candidates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = INCIDENT_ID[:6] + "ffffffffffffffffffffffffff"
    path = write(tmp_path / "alerts.jsonl", jsonl(incident(), ordinary(other)))
    code, out, err = explain(capsys, INCIDENT_ID[:6], "--from", str(path))
    assert code == EXIT_USAGE
    assert out == ""
    assert f"id prefix '{INCIDENT_ID[:6]}' matches 2 alerts" in err
    assert f"{INCIDENT_ID}  attack-sequence" in err and f"{other}  admin-policy-attached" in err
    # An exact id is never ambiguous, even when it is a prefix of another.
    longer = INCIDENT_ID + "0"
    path = write(tmp_path / "more.jsonl", jsonl(incident(), ordinary(longer)))
    code, out, _ = explain(capsys, INCIDENT_ID, "--from", str(path))
    assert code == EXIT_OK and out.startswith(f"Incident {INCIDENT_ID}")


def test_a_prefix_shorter_than_four_characters_is_not_searched(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "alerts.jsonl", jsonl(incident()))
    code, _, err = explain(capsys, INCIDENT_ID[:3], "--from", str(path))
    assert code == EXIT_WARNINGS
    assert "a prefix needs at least 4 characters" in err


def test_an_unreadable_path_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = explain(capsys, INCIDENT_ID, "--from", str(tmp_path / "missing.jsonl"))
    assert (code, out) == (EXIT_USAGE, "")
    assert "missing.jsonl: no such file or directory" in err
    broken = write(tmp_path / "broken.jsonl.gz", b"\x1f\x8b\x08\x00not really gzip")
    code, out, err = explain(capsys, INCIDENT_ID, "--from", str(broken))
    assert (code, out) == (EXIT_USAGE, "")
    assert "broken.jsonl.gz: cannot read" in err


def test_bad_lines_are_reported_and_the_rest_searched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = jsonl(ordinary()) + b"{not json\n" + b'{"schema": 1, "detector": "x"}\n' + jsonl(incident())
    path = write(tmp_path / "alerts.jsonl", data)
    code, out, err = explain(capsys, INCIDENT_ID, "--from", str(path))
    assert code == EXIT_OK
    assert f"{path}:2: invalid JSON" in err and f"{path}:3: " in err
    assert out.startswith(f"Incident {INCIDENT_ID}")


# --- other alerts, json ------------------------------------------------------------------------------------------


def test_an_ordinary_alert_prints_its_fields_and_context(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "alerts.jsonl", jsonl(incident(), ordinary(extra={"nested": ["a", 1]})))
    code, out, err = explain(capsys, "b" * 32, "--from", str(path))
    assert code == EXIT_OK, err
    lines = out.splitlines()
    assert lines[0] == f"Alert {'b' * 32}: AdministratorAccess attached"
    for expected in ("detector    admin-policy-attached", "severity    high", f"principal   {OPS_BACKUP}",
                     "source ip   203.0.113.7", "event       iam.amazonaws.com AttachUserPolicy",
                     "tactics     privilege-escalation, persistence", f"incident    {INCIDENT_ID}",
                     "count       1"):
        assert f"  {expected}" in lines, expected
    context = out.split("Context\n", 1)[1].splitlines()
    assert context == ["  policy  arn:aws:iam::aws:policy/AdministratorAccess", "  target  user/ops-backup",
                       '  extra   {"nested":["a",1]}', "", "Runbook", "  https://example.com/runbooks/admin"]


def test_json_prints_the_alert_object_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alert = incident()
    alert["signal"] = False
    alert["field_from_a_newer_version"] = {"kept": True}
    path = write(tmp_path / "alerts.jsonl", jsonl(ordinary(), alert))
    code, out, err = explain(capsys, INCIDENT_ID[:8], "--from", str(path), "--format", "json")
    assert code == EXIT_OK, err
    assert out.count("\n") == 1
    assert orjson.loads(out) == alert
    assert err == f"id prefix {INCIDENT_ID[:8]} is alert {INCIDENT_ID}\n"


def test_alerts_on_stdin(tmp_path: Path) -> None:
    result = trailsentry("explain", "b" * 32, "--from", "-", "--format", "json", stdin=jsonl(incident(), ordinary()))
    assert result.returncode == EXIT_OK, result.stderr.decode()
    assert orjson.loads(result.stdout)["detector"] == "admin-policy-attached"


# --- from CloudTrail: the scan code path ------------------------------------------------------------------------


def _root_login_logs(tmp_path: Path) -> Path:
    records = [signin(root(), 0, "Success"), signin(iam_user("dana"), 60, "Success", mfa_used="No")]
    return write(tmp_path / "logs" / f"{ACCOUNT}_CloudTrail_us-east-1_20260301T1200Z_abc.json",
                 orjson.dumps({"Records": records}))


def test_cloudtrail_logs_are_scanned_and_the_alert_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = _root_login_logs(tmp_path)
    scanned = trailsentry("scan", "--format", "jsonl", str(logs))
    assert scanned.returncode == 0, scanned.stderr.decode()
    alerts = {a["detector"]: a for a in map(orjson.loads, scanned.stdout.splitlines())}
    wanted = alerts["root-console-login"]
    code, out, err = explain(capsys, wanted["id"][:10], "--from", str(tmp_path / "logs"), "--format", "json")
    assert code == EXIT_OK, err
    assert orjson.loads(out) == wanted  # the same alert `scan` writes
    code, out, err = explain(capsys, wanted["id"], "--from", str(logs))
    assert code == EXIT_OK
    assert out.startswith(f"Alert {wanted['id']}: ")
    assert "  detector    root-console-login" in out.splitlines()


def test_alert_files_and_cloudtrail_together(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = _root_login_logs(tmp_path)
    alerts = write(tmp_path / "alerts.jsonl", jsonl(incident()))
    code, _, err = explain(capsys, "ffff0000", "--from", str(alerts), str(logs))
    assert code == EXIT_WARNINGS
    assert "alert(s) searched from 1 alert file(s) and 1 CloudTrail file(s) scanned" in err
    code, out, _ = explain(capsys, INCIDENT_ID, "--from", str(logs), "--from", str(alerts))
    assert code == EXIT_OK and out.startswith("Incident ")


def test_cloudtrail_on_stdin(tmp_path: Path) -> None:
    data = gzip.compress(_root_login_logs(tmp_path).read_bytes())
    result = trailsentry("explain", "0000000000", "--from", "-", stdin=data)
    assert result.returncode == EXIT_WARNINGS
    assert result.stdout == b""
    assert b"alert(s) searched from 1 CloudTrail file(s) scanned" in result.stderr


def test_the_demo_storylines_incident_explained_from_its_cloudtrail(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """End to end: the attacker storyline's logs, scanned, give one incident; `explain` prints its story."""
    logs = tmp_path / "logs"
    logs.mkdir()
    events = attack_storyline(random.Random(7), EXAMPLE_START + 3600, EXAMPLE_ACCOUNTS[0])
    half = len(events) // 2  # two files, given in reverse order: the scan orders by event time
    (logs / "b.json").write_bytes(orjson.dumps({"Records": events[half:]}))
    (logs / "a.json").write_bytes(orjson.dumps({"Records": events[:half]}))
    scanned = trailsentry("scan", "--format", "jsonl", str(logs / "b.json"), str(logs / "a.json"))
    assert scanned.returncode == 0, scanned.stderr.decode()
    (incident,) = [a for a in map(orjson.loads, scanned.stdout.splitlines()) if a["detector"] == "attack-sequence"]
    code, out, err = explain(capsys, incident["id"], "--from", str(logs))
    assert code == EXIT_OK, err
    assert "user/dana" in out and "user/ops-backup" in out
    steps = {step["step"] for step in incident["context"]["timeline"]}
    assert {"access-key-created", "admin-policy-attached", "snapshot-or-image-shared"} <= steps
    for step in incident["context"]["timeline"]:
        assert step["event_name"] in out  # every step of the timeline is a row of the table
