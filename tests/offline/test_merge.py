"""`trailsentry merge`: shard outputs folded into one result, the same whatever their order, bad lines reported."""

from __future__ import annotations

import dataclasses
import itertools
import os
from io import BytesIO, StringIO
from pathlib import Path

import orjson
import pytest

from monitor import cli
from monitor.demo.objects import write_example_corpus
from monitor.engine import Engine
from monitor.model import Alert, Severity
from monitor.offline import report
from monitor.offline.merge import MAX_LINE_BYTES, BadLinePrinter, Merger, merge_files, parse_alert
from monitor.offline.report import ISSUE_LINES_PER_FILE, write_jsonl
from monitor.offline.scan import Scanner, expand_paths
from monitor.rules.builtin import builtin_detectors
from tests.helpers import ACCOUNT, alerts_of, trailsentry, write

AT = 1_780_000_000.0


def _alert(alert_id: str = "a" * 32, *, count: int = 1, last: float = AT, event_ids: int = 1,
           detector: str = "root-activity", first: float = AT, title: str = "Root user activity") -> Alert:
    return Alert(
        id=alert_id, detector=detector, title=title, severity=Severity.HIGH, account=ACCOUNT,
        region="us-east-1", principal=f"arn:aws:iam::{ACCOUNT}:root", source_ip="198.51.100.23",
        user_agent="aws-cli/2.15.30", event_source="iam.amazonaws.com", event_name="ListUsers",
        event_time=first, last_event_time=last, event_ids=[f"event-{i}" for i in range(event_ids)], count=count,
        mitre=("T1078.004",), runbook="https://example.com/runbooks/root", context={"mode": "hunt", "shard": 1},
    )


def _jsonl(alerts: list[Alert]) -> bytes:
    out = BytesIO()
    write_jsonl(alerts, out)
    return out.getvalue()


def _merged(*inputs: bytes) -> tuple[bytes, Merger, list[str]]:
    """Merge in-memory inputs the way merge_files reads files; the output and each bad line reported."""
    merger = Merger()
    reported: list[str] = []
    for number, data in enumerate(inputs):
        merger.read(BytesIO(data), f"shard-{number}.jsonl", lambda name, line, why: reported.append(
            f"{name}:{line}: {why}"))
    return _jsonl(merger.alerts()), merger, reported


# --- which version wins ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("weaker", "stronger"), [
    (_alert(count=3, last=AT + 500, event_ids=5), _alert(count=4)),  # the count first
    (_alert(count=4, event_ids=5), _alert(count=4, last=AT + 60)),  # then the latest last event
    (_alert(count=4, event_ids=2), _alert(count=4, event_ids=3)),  # then the most event ids
    (_alert(title="Root user activity"), _alert(title="Root user activity (more)")),  # then the larger JSON
])
def test_a_duplicate_id_folds_into_the_most_complete_version(weaker: Alert, stronger: Alert) -> None:
    for order in ((weaker, stronger), (stronger, weaker)):
        output, merger, reported = _merged(*(_jsonl([alert]) for alert in order))
        assert output == stronger.to_json() + b"\n"
        assert (merger.totals.read, merger.totals.written, merger.totals.duplicates) == (2, 1, 1)
        assert reported == []


def test_the_output_is_sorted_like_scan_and_independent_of_the_input_order() -> None:
    alerts = [
        _alert("b" * 32, first=AT + 10, last=AT + 10, count=2),
        _alert("a" * 32, first=AT + 10, last=AT + 20),
        _alert("c" * 32, first=AT + 10, detector="access-key-created"),
        _alert("d" * 32, first=AT - 5),
    ]
    versions = [
        _jsonl([alerts[0], dataclasses.replace(alerts[1], count=1, last_event_time=AT + 10)]),
        _jsonl([dataclasses.replace(alerts[0], count=1), alerts[2], alerts[3]]),
        _jsonl([alerts[1], alerts[3]]) + b"\n\n",  # blank lines are fine
        _jsonl([dataclasses.replace(alerts[2], event_ids=[]), alerts[0]]),
    ]
    expected = _jsonl(sorted(alerts, key=lambda a: (a.event_time, a.detector, a.id)))
    for order in itertools.permutations(versions):
        output, merger, reported = _merged(*order)
        assert output == expected
        assert (merger.totals.read, merger.totals.written, merger.totals.bad_lines) == (9, 4, 0)
        assert reported == []
    assert orjson.loads(expected.splitlines()[0])["id"] == "d" * 32


# --- against a real scan ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Alert]]:
    directory = tmp_path_factory.mktemp("corpus")
    write_example_corpus(directory)
    result = Scanner(Engine(builtin_detectors())).scan(expand_paths([str(directory)]))
    assert len(result.alerts) >= 8
    return directory, result.alerts


def test_shards_with_overlaps_and_stale_versions_merge_to_what_one_scan_prints(
        tmp_path: Path, corpus: tuple[Path, list[Alert]]) -> None:
    directory, alerts = corpus
    scanned = trailsentry("scan", "--format", "jsonl", str(directory))
    assert scanned.returncode == 0, scanned.stderr
    assert scanned.stdout == _jsonl(alerts)
    # Three shards: every alert in at least one, some in two, and older (smaller) versions of some in a third.
    stale = [dataclasses.replace(a, count=max(1, a.count - 1), event_ids=a.event_ids[:-1] or a.event_ids,
                                 last_event_time=a.event_time) for a in alerts[::3]]
    shards = [
        write(tmp_path / "shard-0.jsonl", _jsonl(alerts[: len(alerts) // 2 + 2])),
        write(tmp_path / "shard-1.jsonl", _jsonl(alerts[len(alerts) // 2 - 1:][::-1])),
        write(tmp_path / "shard-2.jsonl", _jsonl([*stale, alerts[0]])),
    ]
    result = trailsentry("merge", "--output", str(tmp_path / "merged.jsonl"), *map(str, shards))
    assert result.returncode == 0, result.stderr
    assert result.stdout == b""
    assert (tmp_path / "merged.jsonl").read_bytes() == scanned.stdout
    read = len(alerts) // 2 + 2 + len(alerts) - (len(alerts) // 2 - 1) + len(stale) + 1
    assert result.stderr.decode() == (f"merged 3 input(s): {read} alert(s) read, {len(alerts)} distinct written, "
                                      f"{read - len(alerts)} duplicate(s) folded, 0 bad line(s)\n")
    # The same through stdin and stdout, the shards in another order.
    piped = trailsentry("merge", str(shards[2]), "-", str(shards[0]), stdin=shards[1].read_bytes())
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == scanned.stdout


# --- bad input ---------------------------------------------------------------------------------------------


GOOD = orjson.loads(_alert().to_json())


def _with(**changes: object) -> bytes:
    data = {**GOOD, **changes}
    return orjson.dumps({k: v for k, v in data.items() if v is not ...})


BAD_LINES = {
    b"{not json": "invalid JSON",
    b"[1, 2]": "not an object but list",
    b'"alert"': "not an object but str",
    _with(id=...): "id missing or not a non-empty string",
    _with(id=""): "id missing or not a non-empty string",
    _with(id=7): "id missing or not a non-empty string",
    _with(detector=...): "detector missing",
    _with(event_time=...): "event_time missing",
    _with(event_time="yesterday"): "event_time is not an RFC 3339 time",
    _with(event_time="2026-03-01T12:00:00"): "event_time has no time zone",
    _with(last_event_time=12): "last_event_time is not a string",
    _with(event_time="0001-01-01T00:00:00+01:00"): "not an alert",  # a time no alert can render
    _with(severity="urgent"): "unknown severity",
    _with(count="3"): "count is not a positive integer",
    _with(count=True): "count is not a positive integer",
    _with(count=0): "count is not a positive integer",
    b'{"count": 1e400}': "invalid JSON",
    _with(count=2**63): "count is not a positive integer",  # parsed as a float
    _with(event_ids="event-1"): "event_ids is not a list of strings",
    _with(event_ids=[{"id": 1}]): "event_ids is not a list of strings",
    _with(mitre=[1]): "mitre is not a list of strings",
    _with(context=["mode", "hunt"]): "context is not an object",
    _with(principal={"arn": "x"}): "principal is not a string",
    _with(schema=2): "unsupported alert schema",
    b"[" * 5000 + b"]" * 5000: "invalid JSON",
    b'{"id": "\\ud800"}': "invalid JSON",
}


@pytest.mark.parametrize(("line", "reason"), BAD_LINES.items(), ids=range(len(BAD_LINES)))
def test_a_bad_line_says_why_and_the_rest_is_merged(line: bytes, reason: str) -> None:
    good = _alert("b" * 32)
    output, merger, reported = _merged(_jsonl([_alert()]) + line + b"\n" + _jsonl([good]))
    assert output == _jsonl([_alert(), good])
    assert merger.totals.bad_lines == 1
    [message] = reported
    assert message.startswith("shard-0.jsonl:2: ") and reason in message, message
    assert len(message) <= 240 and message.isprintable()


def test_a_line_too_long_is_skipped_without_being_held() -> None:
    huge = _with(title="x" * (MAX_LINE_BYTES + 10))
    output, merger, reported = _merged(huge + b"\n" + _jsonl([_alert()]) + huge)
    assert output == _jsonl([_alert()])
    assert reported == ["shard-0.jsonl:1: line over 1,048,576 bytes", "shard-0.jsonl:3: line over 1,048,576 bytes"]
    assert merger.totals.bad_lines == 2


def test_parse_alert_keeps_what_scan_wrote() -> None:
    alert = _alert(count=3, event_ids=3)
    assert parse_alert(alert.to_json()).to_json() == alert.to_json()


def test_bad_lines_through_the_command_line(tmp_path: Path) -> None:
    lines = [_alert().to_json(), *list(BAD_LINES)[:ISSUE_LINES_PER_FILE + 2], b"", _alert("b" * 32).to_json()]
    shard = write(tmp_path / "shard-0.jsonl", b"\n".join(lines) + b"\n")
    other = write(tmp_path / "shard-1.jsonl", b"[]\n" + _alert("c" * 32).to_json())  # no final newline
    result = trailsentry("merge", str(shard), str(other))
    assert result.returncode == 0, result.stderr
    assert [a["id"] for a in alerts_of(result.stdout)] == ["a" * 32, "b" * 32, "c" * 32]
    errors = result.stderr.decode().splitlines()
    assert errors[0].startswith(f"{shard}:2: invalid JSON (") and "line 1 column 2" in errors[0]
    assert [e.split(": ")[0] for e in errors[:ISSUE_LINES_PER_FILE]] == \
        [f"{shard}:{n}" for n in range(2, 2 + ISSUE_LINES_PER_FILE)]
    assert errors[ISSUE_LINES_PER_FILE] == f"{shard}: more bad lines; counted in the summary"
    assert errors[ISSUE_LINES_PER_FILE + 1] == f"{other}:1: not an object but list"
    assert errors[-1] == ("merged 2 input(s): 3 alert(s) read, 3 distinct written, 0 duplicate(s) folded, "
                          f"{ISSUE_LINES_PER_FILE + 3} bad line(s)")
    assert b"Traceback" not in result.stderr
    strict = trailsentry("merge", "--strict", str(shard), str(other))
    assert strict.returncode == 1 and strict.stdout == result.stdout


def test_a_missing_input_is_a_usage_error_and_nothing_is_written(tmp_path: Path) -> None:
    good = write(tmp_path / "shard-0.jsonl", _jsonl([_alert()]))
    output = write(tmp_path / "merged.jsonl", b"the previous result\n")
    missing = tmp_path / "shard-1.jsonl"
    result = trailsentry("merge", "--output", str(output), str(good), str(missing))
    assert result.returncode == 2
    assert result.stderr.decode() == f"error: cannot read {missing}: No such file or directory\n"
    assert output.read_bytes() == b"the previous result\n"
    folder = trailsentry("merge", str(tmp_path))
    assert folder.returncode == 2 and f"cannot read {tmp_path}: Is a directory" in folder.stderr.decode()
    assert folder.stdout == b""


# --- the output file -----------------------------------------------------------------------------------


def test_the_output_replaces_the_previous_one_whole(tmp_path: Path) -> None:
    shard = write(tmp_path / "shard-0.jsonl", _jsonl([_alert(), _alert(count=2)]))
    output = write(tmp_path / "merged.jsonl", b"the previous result\n")
    assert cli.main(["merge", "--output", str(output), str(shard), str(shard)]) == 0
    assert output.read_bytes() == _jsonl([_alert(count=2)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["merged.jsonl", "shard-0.jsonl"]  # no temporary left
    assert output.stat().st_mode & 0o777 == 0o666 & ~_umask()
    # An input may be the output: everything is read before the output is replaced.
    assert cli.main(["merge", "--output", str(shard), str(shard)]) == 0
    assert shard.read_bytes() == _jsonl([_alert(count=2)])


def test_a_failed_write_leaves_the_previous_output_and_no_temporary(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    shard = write(tmp_path / "shard-0.jsonl", _jsonl([_alert(), _alert("b" * 32)]))
    output = write(tmp_path / "merged.jsonl", b"the previous result\n")

    def write_half(alerts: list[Alert], out: BytesIO) -> None:
        out.write(alerts[0].to_json() + b"\n")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "write_jsonl", write_half)
    assert cli.main(["merge", "--output", str(output), str(shard)]) == 2
    assert output.read_bytes() == b"the previous result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["merged.jsonl", "shard-0.jsonl"]
    monkeypatch.undo()
    nowhere = tmp_path / "missing-folder" / "merged.jsonl"
    assert cli.main(["merge", "--output", str(nowhere), str(shard)]) == 2
    assert not nowhere.parent.exists()


def test_the_bad_line_printer_names_each_file_apart() -> None:
    stream = StringIO()
    printer = BadLinePrinter(stream)
    for number in range(1, ISSUE_LINES_PER_FILE + 3):
        printer("a\nb.jsonl", number, "invalid JSON")
    printer("c.jsonl", 9, "invalid JSON")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "a?b.jsonl:1: invalid JSON"
    assert lines[ISSUE_LINES_PER_FILE:] == ["a?b.jsonl: more bad lines; counted in the summary",
                                            "c.jsonl:9: invalid JSON"]


def test_merge_files_reads_every_input(tmp_path: Path) -> None:
    shards = [write(tmp_path / f"shard-{i}.jsonl", _jsonl([_alert(count=i + 1)])) for i in range(3)]
    merger = merge_files([str(p) for p in shards], lambda *_: None)
    assert [a.count for a in merger.alerts()] == [3]
    assert merger.totals.inputs == 3


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
