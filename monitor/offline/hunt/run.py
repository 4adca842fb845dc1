"""A hunt: CloudTrail history read straight from S3 through the scan's engine and worker processes.

The S3 side (`Fetcher`) runs in a thread; this module feeds what it hands on, in order, to the
`Scanner` (workers decode and detect, this process applies). With `--state FILE` the engine's state
lives in that SQLite file (`EmbeddedStore`), and every second or so the state, the `Ledger`'s record
of the objects read, the alerts found and the totals are saved in one transaction: a hunt stopped at
any instant (Ctrl-C, kill -9, a lost machine) resumes from the last save and gives the alerts of a hunt
that was never stopped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.aws.settings import AwsSettings
from monitor.engine import Engine
from monitor.engine.state.embedded import EmbeddedStore
from monitor.failpoints import Failpoints
from monitor.model import Alert
from monitor.offline.hunt.fetch import DayRead, Fetched, Fetcher, HuntQuery, Listing
from monitor.offline.hunt.ledger import Ledger
from monitor.offline.hunt.s3 import S3Counters
from monitor.offline.scan import Scanner, ScanResult, ScanTotals
from monitor.workers import Job

# Saved at least this often: a resumed hunt repeats at most this much work.
SAVE_EVERY_SECONDS = 1.0
SAVE_EVERY_OBJECTS = 64
HUNT_MODE = "hunt"
SPOOL_PREFIX = "trailsentry-hunt-"  # downloads wait in $TMPDIR/trailsentry-hunt-PID-*/ until applied


@dataclass(slots=True)
class HuntProgress:
    """What the progress bar shows."""

    listing: Listing
    objects: int = 0  # read by this run
    bytes: int = 0
    events: int = 0
    started: float = 0.0


@dataclass(slots=True)
class HuntResult:
    scan: ScanResult
    listing: Listing
    s3: S3Counters
    resumed: bool


def clear_stale_spools(mine: Path) -> None:
    """Remove the spool folders that hunts killed with SIGKILL left behind (their process is gone, or it
    had this process's pid: a container's restarted hunt is pid 1 again)."""
    for folder in mine.parent.glob(f"{SPOOL_PREFIX}*-*"):
        pid = folder.name.removeprefix(SPOOL_PREFIX).split("-", 1)[0]
        if folder == mine or not pid.isdigit():
            continue
        if int(pid) == os.getpid() or not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def query_fingerprint(query: HuntQuery, detectors: list[str]) -> dict[str, Any]:
    """What must not change between the runs of one resumable hunt."""
    return {"location": query.location.url(query.location.prefix), "since": query.window.since.isoformat(),
            "until": query.window.until.isoformat(), "accounts": list(query.selection.accounts),
            "regions": list(query.selection.regions), "organizations": query.organizations,
            "shard": f"{query.shard.index}/{query.shard.count}", "detectors": sorted(detectors)}


def mark_hunt(alerts: list[Alert]) -> None:
    for alert in alerts:
        alert.context["mode"] = HUNT_MODE


class Hunt:
    def __init__(self, engine: Engine, query: HuntQuery, aws: AwsSettings, *, scanner: Scanner, concurrency: int,
                 state: Path | None = None) -> None:
        self.engine = engine
        self.query = query
        self.aws = aws
        self.scanner = scanner
        self.concurrency = concurrency
        self.ledger: Ledger | None = None
        self._failpoints = Failpoints.from_environment()
        self._store: EmbeddedStore | None = None
        if state is not None:
            if not isinstance(engine.store, EmbeddedStore):
                raise TypeError("a resumable hunt needs the engine built on the state file's EmbeddedStore")
            self._store = engine.store
            self.ledger = Ledger(self._store.database, query_fingerprint(query, [d.id for d in engine.detectors]))
            self._resume(self.ledger)

    def _resume(self, ledger: Ledger) -> None:
        assert self._store is not None
        self._store.restore()
        self.engine.restored()
        self.scanner.keep(ledger.saved_alerts)
        saved = ledger.saved_totals
        if saved:
            self.scanner.totals = ScanTotals.from_dict(saved.get("scan") or {})
            self.engine.stats.detector_errors.update(saved.get("detector_errors") or {})
            self.engine.stats.suppressed.update(saved.get("suppressed") or {})

    def run(self, progress: Callable[[HuntProgress], None] | None = None) -> HuntResult:
        with tempfile.TemporaryDirectory(prefix=f"{SPOOL_PREFIX}{os.getpid()}-") as spool:
            clear_stale_spools(Path(spool))
            return self._run(Path(spool), progress)

    def _run(self, spool: Path, progress: Callable[[HuntProgress], None] | None) -> HuntResult:
        ledger = self.ledger
        pool = self.scanner.pool()
        fetcher = Fetcher(self.query, self.aws, concurrency=self.concurrency, spool=spool,
                          skip=ledger.done if ledger is not None else lambda ref: False,
                          complete=ledger.complete if ledger is not None else lambda trail, day: False)
        shown = HuntProgress(fetcher.listing, started=time.monotonic())
        refs: dict[str, Fetched] = {}
        days: deque[tuple[int, DayRead]] = deque()  # each DayRead after the number of jobs handed on before it
        handed = 0

        def jobs() -> Iterator[Job]:
            nonlocal handed
            for item in fetcher.items():
                if isinstance(item, DayRead):
                    days.append((handed, item))
                    continue
                origin = self.query.location.url(item.ref.key)
                refs[origin] = item
                handed += 1
                yield Job(origin, path=item.path) if item.error is None else Job(origin, unreadable=item.error)

        saved_at = time.monotonic()
        applied = 0
        try:
            fetcher.start()  # forked like the workers, before this process starts threads of its own
            for job, slices in self.scanner.findings(jobs(), pool):
                fetched = refs.pop(job.origin)
                alerts = self.scanner.scan_one(job, slices)
                if fetched.path is not None:
                    os.unlink(fetched.path)
                shown.listing = fetcher.listing
                applied += 1
                shown.objects += 1
                shown.bytes += fetched.ref.size
                shown.events = self.scanner.totals.events
                if ledger is not None:
                    ledger.read(fetched.ref)
                    ledger.keep(alerts)
                self._days_read(days, applied)
                if ledger is not None and (applied % SAVE_EVERY_OBJECTS == 0
                                           or time.monotonic() - saved_at >= SAVE_EVERY_SECONDS):
                    self._save()
                    saved_at = time.monotonic()
                if progress is not None:
                    progress(shown)
            self._days_read(days, applied)
            final = self.engine.flush()
            self.scanner.keep(final)
            if ledger is not None:
                ledger.keep(final)
                self._save()
        finally:
            fetcher.stop()
            if pool is not None:
                pool.close()
        result = self.scanner.result()
        mark_hunt(result.alerts)
        return HuntResult(result, fetcher.listing, fetcher.counters, ledger is not None and ledger.resumed)

    def _days_read(self, days: deque[tuple[int, DayRead]], applied: int) -> None:
        while days and days[0][0] <= applied:
            _, read = days.popleft()
            if self.ledger is not None:
                self.ledger.finished(read.trails, read.day)

    def _save(self) -> None:
        assert self.ledger is not None and self._store is not None
        stats = self.engine.stats
        self.ledger.totals({"scan": self.scanner.totals.to_dict(), "detector_errors": dict(stats.detector_errors),
                            "suppressed": dict(stats.suppressed)})
        self._failpoints.reached("before_save")
        self._store.persist_with(self.ledger.write)
        self.ledger.written()
        self._failpoints.reached("after_save")
