"""The embedded default: JSON Lines on stdout, the same lines `scan --format jsonl` prints."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.alerts.conftest import make_alert, settings_from


async def test_default_console_sink_writes_json_lines_to_stdout(tmp_path: Path, running,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    alerting = running(settings_from({}), tmp_path / "o.sqlite")
    await alerting.start()
    first = make_alert("a1")
    second = make_alert("a2", principal="arn:aws:iam::111122223333:user/bob", user_agent="line\nbreak")
    await alerting.record([first, second])
    await alerting.wait_for(lambda s: s.sinks["console"].sent == 2)
    lines = capsys.readouterr().out.splitlines()
    assert [orjson.loads(line) for line in lines] == [first.to_dict(), second.to_dict()]


async def test_unwritable_file_is_retried_not_dropped(tmp_path: Path, running) -> None:
    target = tmp_path / "missing-dir" / "alerts.jsonl"
    settings = settings_from({"sinks": [{"type": "file", "path": str(target), "backoff_base_seconds": 0.01,
                                         "backoff_cap_seconds": 0.02}]})
    alerting = running(settings, tmp_path / "o.sqlite")
    await alerting.start()
    await alerting.record([make_alert("a1")])
    await alerting.wait_for(lambda s: s.sinks["file"].failed >= 1)
    target.parent.mkdir()
    await alerting.wait_for(lambda s: s.sinks["file"].sent == 1)
    assert [orjson.loads(line)["id"] for line in target.read_text().splitlines()] == ["a1"]
