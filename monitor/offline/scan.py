"""The offline job behind `trailsentry scan`: files in, alerts out.

Files are read in event-time order (CloudTrail names each object after the time it covers), so
windows and episodes behave as they would have live, even across the accounts and regions of an
organization trail. With worker processes, workers decode and detect while this process applies the
findings in that same order: the alerts do not depend on the number of workers.

A file is one batch: its state changes are kept together or undone together. Bad input is an issue
(reported with the file and line or record, counted, the rest flows); a failure of trailsentry
itself on a file is an internal error: the file's effects are undone, it is reported, and the scan
goes on.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.decode import DecodeLimits
from monitor.engine import Engine
from monitor.engine.findings import SliceFindings, drain
from monitor.failpoints import Failpoints
from monitor.model import Alert, InputIssue
from monitor.workers import DetectionPool, Job, detect_locally
from monitor.workers.pool import gc_paused

log = logging.getLogger("trailsentry.scan")

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
    internal_errors: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"files": self.files, "bytes_read": self.bytes_read, "events": self.events,
                "duplicates": self.duplicates, "skipped": dict(self.skipped), "issues": dict(self.issues),
                "files_with_issues": self.files_with_issues, "internal_errors": self.internal_errors}

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> ScanTotals:
        return cls(files=int(saved.get("files", 0)), bytes_read=int(saved.get("bytes_read", 0)),
                   events=int(saved.get("events", 0)), duplicates=int(saved.get("duplicates", 0)),
                   skipped=Counter(saved.get("skipped") or {}), issues=Counter(saved.get("issues") or {}),
                   files_with_issues=int(saved.get("files_with_issues", 0)),
                   internal_errors=int(saved.get("internal_errors", 0)))


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


def _job(path: str) -> Job:
    if path == STDIN:
        return Job(origin="<stdin>", data=sys.stdin.buffer.read())
    return Job(origin=path, path=path)


def _size(job: Job) -> int:
    if job.data is not None:
        return len(job.data)
    try:
        return os.path.getsize(job.path or "")
    except OSError:
        return 0


class Scanner:
    """Feeds files through decode, detection and the state, keeping the newest version of each alert."""

    def __init__(self, engine: Engine, *, limits: DecodeLimits | None = None, workers: int = 1,
                 on_issue: Callable[[InputIssue], None] | None = None, signals: bool = False) -> None:
        self.engine = engine
        self.signals = signals  # signals in the result too (`scan --signals`); never otherwise
        self.limits = limits or DecodeLimits()
        self.workers = workers
        self.on_issue = on_issue
        self.totals = ScanTotals()
        self._alerts: dict[str, Alert] = {}
        self._failpoints = Failpoints.from_environment()

    def scan(self, paths: list[str], progress: Callable[[int, int], None] | None = None) -> ScanResult:
        """Scan every file (in the given order) and close the episodes left open at the end."""
        jobs = (_job(path) for path in paths)
        pool = self.pool()
        try:
            for done, (job, slices) in enumerate(self.findings(jobs, pool), start=1):
                self.scan_one(job, slices)
                if progress is not None:
                    progress(done, self.totals.events)
        finally:
            if pool is not None:
                pool.close()
        return self.finish()

    def pool(self) -> DetectionPool | None:
        """Worker processes when asked for (create before this process starts threads: they are forked)."""
        return DetectionPool(self.engine.detection, self.limits, self.workers) if self.workers > 1 else None

    def findings(self, jobs: Iterator[Job],
                 pool: DetectionPool | None) -> Iterator[tuple[Job, Iterator[SliceFindings]]]:
        """Each job with its findings, in order: from the workers, or detected here."""
        if pool is not None:
            yield from pool.run(jobs)
            return
        for job in jobs:
            yield job, detect_locally(self.engine.detection, job, self.limits)

    def scan_one(self, job: Job, slices: Iterator[SliceFindings]) -> list[Alert]:
        """Apply one input's findings as one batch; the alerts it emitted (also kept for the result)."""
        totals = self.totals
        totals.files += 1
        totals.bytes_read += _size(job)
        issues: list[InputIssue] = []
        events = duplicates = 0
        skipped: Counter[str] = Counter()
        alerts: list[Alert] = []
        try:
            with gc_paused(), self.engine.batch():
                for found in slices:
                    self._failpoints.reached("mid_batch")
                    result = self.engine.apply(found)
                    events += result.events
                    duplicates += result.duplicates
                    issues.extend(result.issues)
                    skipped.update(found.skipped)
                    alerts.extend(result.alerts)
        except Exception as exc:  # WorkerFailed, or a bug in applying
            drain(slices)
            totals.internal_errors += 1
            log.error("internal error on %s (its effects were undone; the scan goes on): %s: %s",
                      job.origin, type(exc).__name__, str(exc)[:300])
            return []
        totals.events += events
        totals.duplicates += duplicates
        totals.skipped.update(skipped)
        self.report(issues)
        self.keep(alerts)
        return alerts

    def finish(self) -> ScanResult:
        """Close the episodes still open; the result (only the final version of each alert)."""
        self.keep(self.engine.flush())
        return self.result()

    def result(self) -> ScanResult:
        alerts = sorted((alert for alert in self._alerts.values() if self.signals or not alert.signal),
                        key=lambda a: (a.event_time, a.detector, a.id))
        return ScanResult(alerts=alerts, totals=self.totals)

    def keep(self, alerts: list[Alert]) -> None:
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

