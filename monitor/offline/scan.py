"""The offline job behind `trailsentry scan`: files in, alerts out.

Files are read in event-time order (CloudTrail names each object after the
time it covers), so windows and episodes behave as they would have live, even
across the accounts and regions of an organization trail.
"""

from __future__ import annotations

import gc
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from monitor.decode import DEFAULT_MAX_DECOMPRESSED_BYTES, decode_bytes
from monitor.engine import Engine
from monitor.model import Alert, InputIssue

STDIN = "-"

# <account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<unique>.json.gz
_CLOUDTRAIL_NAME_TIME = re.compile(r"_(\d{8}T\d{4}Z)_")


class UnreadablePath(OSError):
    pass


@dataclass(slots=True)
class ScanTotals:
    files: int = 0
    bytes_read: int = 0
    events: int = 0
    duplicates: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    issues: Counter[str] = field(default_factory=Counter)
    files_with_issues: int = 0


@dataclass(slots=True)
class ScanResult:
    alerts: list[Alert]
    totals: ScanTotals


def expand_paths(arguments: Iterable[str], unlisted: list[InputIssue] | None = None) -> list[str]:
    """Files to read, in event-time order.

    Raises UnreadablePath for an argument that is missing or cannot be opened. A folder below an
    argument that cannot be listed is reported in `unlisted` (and the rest is still read).
    """
    found: list[str] = []
    for argument in arguments:
        if argument == STDIN:
            found.append(STDIN)
            continue
        path = Path(argument)
        if path.is_dir():
            found.extend(_walk(path, unlisted))
        elif path.is_file():
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                raise UnreadablePath(f"{argument}: cannot read: {exc.strerror or exc}") from None
            found.append(str(path))
        else:
            raise UnreadablePath(f"{argument}: no such file or directory")
    return sorted(found, key=_time_order_key)


def _walk(root: Path, unlisted: list[InputIssue] | None) -> list[str]:
    def failed(error: OSError) -> None:
        if unlisted is not None:
            where = str(error.filename or root)
            unlisted.append(InputIssue(where, "unreadable", f"cannot list folder: {error.strerror or error}"))

    files: list[str] = []
    for folder, subfolders, names in os.walk(root, onerror=failed):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        files.extend(os.path.join(folder, name) for name in names if not name.startswith("."))
    return [f for f in files if os.path.isfile(f)]


def _time_order_key(path: str) -> tuple[str, str]:
    match = _CLOUDTRAIL_NAME_TIME.search(Path(path).name)
    return (match.group(1) if match else "", path)


def read_input(path: str) -> bytes:
    if path == STDIN:
        return sys.stdin.buffer.read()
    with open(path, "rb") as handle:
        return handle.read()


class Scanner:
    """Feeds files through decode and the engine, keeping the newest version of each alert."""

    def __init__(self, engine: Engine, *, max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
                 on_issue: Callable[[InputIssue], None] | None = None) -> None:
        self.engine = engine
        self.max_bytes = max_decompressed_bytes
        self.on_issue = on_issue
        self.totals = ScanTotals()
        self._alerts: dict[str, Alert] = {}

    def scan_file(self, path: str) -> None:
        origin = "<stdin>" if path == STDIN else path
        totals = self.totals
        totals.files += 1
        try:
            data = read_input(path)
        except OSError as exc:
            self.report([InputIssue(origin, "unreadable", f"cannot read: {exc.strerror or exc}")])
            return
        totals.bytes_read += len(data)
        # Parsing allocates millions of objects that all stay alive; pausing the
        # cyclic collector meanwhile roughly doubles throughput. The events are
        # released before it resumes, or its next run would walk all of them once.
        gc.disable()
        try:
            decoded = decode_bytes(data, origin, max_bytes=self.max_bytes)
            del data
            result = self.engine.process(decoded.events, origin, decoded.lines)
            decoded.events = []
        finally:
            gc.enable()
        totals.skipped.update(decoded.skipped)
        totals.events += result.events
        totals.duplicates += result.duplicates
        self.report([*decoded.issues, *result.issues])
        self._keep(result.alerts)

    def finish(self) -> ScanResult:
        self._keep(self.engine.flush())
        alerts = sorted(self._alerts.values(), key=lambda a: (a.event_time, a.detector, a.id))
        return ScanResult(alerts=alerts, totals=self.totals)

    def _keep(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self._alerts[alert.id] = alert  # later emissions of an episode supersede earlier ones

    def report(self, issues: list[InputIssue]) -> None:
        """Count and print input problems (also those found before reading, like unlistable folders)."""
        if not issues:
            return
        self.totals.files_with_issues += 1
        for issue in issues:
            self.totals.issues[issue.reason] += 1
        if self.on_issue is not None:
            for issue in issues:
                self.on_issue(issue)

