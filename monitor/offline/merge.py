"""`trailsentry merge`: the JSON Lines alerts of several scans (a sharded hunt's outputs) as one result.

An alert id seen in several inputs (one episode seen by two shards, a shard run twice) is kept once, in
its most complete version: the highest `count`, then the latest `last_event_time`, then the most
`event_ids`, then the largest `to_json()` (the longest, then the greatest bytes). That is a total order
on what is written, so the result does not depend on the order of the inputs. It is sorted as `scan`
sorts its alerts.

A line that is not an alert is reported (file and line), counted and skipped; the rest is merged.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import orjson

from monitor.model import Alert
from monitor.model.alert import ALERT_SCHEMA_VERSION, clip
from monitor.model.severity import Severity
from monitor.offline.report import ISSUE_LINES_PER_FILE

STDIN = "-"
# An alert of scan's is a few kB (fields clipped to 1,024 characters, at most 20 event ids); a line
# past this is not one of them, and is skipped without being held whole.
MAX_LINE_BYTES = 1024 * 1024
MAX_REASON_CHARS = 200
_MAX_COUNT = 2**63 - 1
_TEXT_FIELDS = ("title", "account", "account_alias", "region", "principal", "source_ip", "user_agent",
                "event_source", "event_name", "runbook")


class UnreadableInput(OSError):
    """An input or the output cannot be opened, read or written: a usage error naming the file."""


class BadLine(ValueError):
    pass


@dataclass(slots=True)
class MergeTotals:
    inputs: int = 0
    read: int = 0
    written: int = 0
    bad_lines: int = 0

    @property
    def duplicates(self) -> int:
        return self.read - self.written

    def summary(self) -> str:
        return (f"merged {self.inputs} input(s): {self.read:,} alert(s) read, {self.written:,} distinct written, "
                f"{self.duplicates:,} duplicate(s) folded, {self.bad_lines:,} bad line(s)\n")


def printable(text: str, limit: int = MAX_REASON_CHARS) -> str:
    return clip("".join(ch if ch.isprintable() else "?" for ch in text), limit)


def parse_alert(line: bytes) -> Alert:
    """One line as an Alert, or BadLine saying why it is not one."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BadLine(f"invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadLine(f"not an object but {type(data).__name__}")
    _check(data)
    try:
        alert = Alert.from_dict(data)
        alert.to_json()  # what will be written: a value it cannot render fails here, not at the end
    except (ValueError, TypeError, OverflowError, KeyError) as exc:
        raise BadLine(f"not an alert ({type(exc).__name__}: {exc})") from None
    return alert


def _check(data: dict[str, Any]) -> None:
    """The schema's fields and types: `Alert.from_dict` would turn many wrong values into strings."""
    if data.get("schema", ALERT_SCHEMA_VERSION) != ALERT_SCHEMA_VERSION:
        raise BadLine("unsupported alert schema")
    for name in ("id", "detector", "event_time", "title", "severity"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise BadLine(f"{name} missing or not a non-empty string")
    for name in _TEXT_FIELDS:
        if not isinstance(data.get(name, ""), str):
            raise BadLine(f"{name} is not a string")
    if data["severity"].strip().upper() not in Severity.__members__:
        raise BadLine("unknown severity")
    for name in ("event_time", "last_event_time"):
        if name in data:
            _check_time(name, data[name])
    count = data.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= _MAX_COUNT:
        raise BadLine("count is not a positive integer")
    for name in ("event_ids", "mitre"):
        values = data.get(name, [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise BadLine(f"{name} is not a list of strings")
    if not isinstance(data.get("context") or {}, dict):
        raise BadLine("context is not an object")


def _check_time(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise BadLine(f"{name} is not a string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadLine(f"{name} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise BadLine(f"{name} has no time zone")


def lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) for each line; None for a line over MAX_LINE_BYTES, never held whole."""
    number = 0
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := stream.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            yield number, None
            continue
        yield number, line


class Merger:
    """The most complete version of each alert id seen so far."""

    def __init__(self) -> None:
        self._best: dict[str, tuple[tuple[int, float, int, int, bytes], Alert]] = {}
        self.totals = MergeTotals()

    def add(self, alert: Alert) -> None:
        self.totals.read += 1
        rendered = alert.to_json()
        rank = (alert.count, alert.last_event_time, len(alert.event_ids), len(rendered), rendered)
        held = self._best.get(alert.id)
        if held is None or rank > held[0]:
            self._best[alert.id] = (rank, alert)

    def read(self, stream: IO[bytes], name: str, on_bad: Callable[[str, int, str], None]) -> None:
        """Every alert of one input; each bad line is passed to `on_bad(name, line, reason)` and counted."""
        self.totals.inputs += 1
        for number, line in lines(stream):
            if line is None:
                reason = f"line over {MAX_LINE_BYTES:,} bytes"
            elif not line.strip():
                continue
            else:
                try:
                    self.add(parse_alert(line))
                    continue
                except BadLine as exc:
                    reason = str(exc)
            self.totals.bad_lines += 1
            on_bad(name, number, printable(reason))

    def alerts(self) -> list[Alert]:
        """Sorted as `scan` sorts (see Scanner.finish)."""
        merged = sorted((alert for _, alert in self._best.values()), key=lambda a: (a.event_time, a.detector, a.id))
        self.totals.written = len(merged)
        return merged


class BadLinePrinter:
    """`FILE:LINE: reason` on stderr for the first bad lines of each input, as `scan` caps its warnings."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._shown: dict[str, int] = {}

    def __call__(self, name: str, number: int, reason: str) -> None:
        shown = self._shown[name] = self._shown.get(name, 0) + 1
        if shown <= ISSUE_LINES_PER_FILE:
            self.stream.write(f"{printable(name)}:{number}: {reason}\n")
        elif shown == ISSUE_LINES_PER_FILE + 1:
            self.stream.write(f"{printable(name)}: more bad lines; counted in the summary\n")


def merge_files(paths: list[str], on_bad: Callable[[str, int, str], None]) -> Merger:
    """Every input merged; UnreadableInput, before any output is written, when one cannot be read."""
    merger = Merger()
    inputs = open_inputs(paths)
    try:
        for name, stream in inputs:
            try:
                merger.read(stream, name, on_bad)
            except OSError as exc:
                raise UnreadableInput(f"cannot read {printable(name)}: {exc.strerror or exc}") from None
    finally:
        close_inputs(inputs)
    return merger


def open_inputs(paths: list[str]) -> list[tuple[str, IO[bytes]]]:
    """Each input opened before any is read: a missing one stops the merge before any output is written."""
    opened: list[tuple[str, IO[bytes]]] = []
    try:
        for path in paths:
            if path == STDIN:
                opened.append(("<stdin>", sys.stdin.buffer))
                continue
            try:
                opened.append((path, open(path, "rb")))  # noqa: SIM115 - closed by the caller
            except OSError as exc:
                raise UnreadableInput(f"cannot read {printable(path)}: {exc.strerror or exc}") from None
    except UnreadableInput:
        close_inputs(opened)
        raise
    return opened


def close_inputs(opened: list[tuple[str, IO[bytes]]]) -> None:
    for _, stream in opened:
        if stream is not sys.stdin.buffer:
            stream.close()
