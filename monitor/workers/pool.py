"""A pool of worker processes that decode inputs and run detection; the caller applies the findings.

Files are split over workers, not detectors: every worker that re-decoded the same file would pay the
whole parse again. Input `i` goes to worker `i % N`, and the caller reads results input by input, so
findings reach the state in exactly the order one process would produce them: `--workers 2` gives
the alerts of `--workers 1`. Each worker streams a file's slices as it decodes them through a bounded
queue, so a worker runs at most `lookahead` slices ahead and memory stays bounded however large a
file is.

Workers are forked after the detectors are built (custom and Sigma rules are compiled closures), so
the pool must be created before the process starts threads of its own.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import queue
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.context import ForkProcess
from multiprocessing.queues import Queue
from typing import Any

from monitor.decode import DecodeLimits, decode_slices
from monitor.engine.detect import Detection
from monitor.engine.findings import SliceFindings
from monitor.model.issue import InputIssue

_SLICE, _END, _FAILED = "slice", "end", "failed"
# A worker whose parent died (SIGKILL, OOM kill) notices within this long and exits instead of lingering.
_ORPHAN_CHECK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Job:
    """One input: a file the worker reads (`path`), bytes already read (`data`), or one that could not be
    fetched (`unreadable`, why: it becomes the input's issue, in its place in the order)."""

    origin: str
    path: str | None = None
    data: bytes | None = None
    unreadable: str | None = None


class WorkerFailed(RuntimeError):
    """Detection failed on one input for a reason that is not the input's (a bug): its slices are void."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic collector while a batch is decoded and detected.

    Decoding allocates many objects that all stay alive until the batch is done; the collector would
    walk them again and again for nothing. The batch must be freed before it resumes.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def detect_locally(detection: Detection, job: Job, limits: DecodeLimits) -> Iterator[SliceFindings]:
    """The findings of one input, slice by slice, in this process (what a worker does)."""
    if job.unreadable is not None:
        yield _unreadable_issue(job.origin, job.unreadable)
        return
    if job.path is not None:
        try:
            handle = open(job.path, "rb")  # noqa: SIM115 - closed below, after the last slice
        except OSError as exc:
            yield _unreadable(job.origin, exc)
            return
        with handle:
            try:
                for part in decode_slices(handle, job.origin, limits):
                    yield detection.detect(part)
            except OSError as exc:  # the file went away or the disk failed mid-read
                yield _unreadable(job.origin, exc)
        return
    for part in decode_slices(job.data or b"", job.origin, limits):
        yield detection.detect(part)


def _unreadable(origin: str, exc: OSError) -> SliceFindings:
    return _unreadable_issue(origin, f"cannot read: {exc.strerror or exc}")


def _unreadable_issue(origin: str, why: str) -> SliceFindings:
    issue = InputIssue(origin, "unreadable", why)
    return SliceFindings(origin=origin, event_ids=[], times=[], findings=[], issues=[issue], skipped={})


class _Orphaned(Exception):
    """The process that started this worker is gone (killed with SIGKILL): nobody will read its results."""


def _work(detection: Detection, limits: DecodeLimits, inbox: Queue[Job | None], outbox: Queue[Any],
          parent: int) -> None:
    # `parent` is the pool's pid, taken before the fork: a worker first scheduled after its parent was
    # killed would read the reaper's pid from getppid() and never notice it is an orphan.
    try:
        while (job := _get(inbox, parent)) is not None:
            try:
                with gc_paused():
                    for found in detect_locally(detection, job, limits):
                        # Pickled here, not by the queue's feeder thread: handing live objects to that thread
                        # made each worker ~20% slower (the two threads contend for the GIL and the slice's
                        # objects live on until it has run).
                        _put(outbox, (_SLICE, pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL)), parent)
                        del found
            except _Orphaned:
                raise
            except Exception as exc:  # a bug, not the input: reported for this input, the worker goes on
                _put(outbox, (_FAILED, f"{type(exc).__name__}: {exc}"), parent)
                continue
            _put(outbox, (_END, None), parent)
    except _Orphaned:
        outbox.cancel_join_thread()  # exit now, without flushing results nobody reads


def _get(inbox: Queue[Job | None], parent: int) -> Job | None:
    while True:
        try:
            return inbox.get(timeout=_ORPHAN_CHECK_SECONDS)
        except queue.Empty:
            if os.getppid() != parent:
                raise _Orphaned from None


def _put(outbox: Queue[Any], item: Any, parent: int) -> None:
    while True:
        try:
            outbox.put(item, timeout=_ORPHAN_CHECK_SECONDS)
            return
        except queue.Full:
            if os.getppid() != parent:
                raise _Orphaned from None


class DetectionPool:
    def __init__(self, detection: Detection, limits: DecodeLimits, workers: int, lookahead: int = 4) -> None:
        context = multiprocessing.get_context("fork")
        self._inboxes: list[Queue[Job | None]] = []
        self._outboxes: list[Queue[Any]] = []
        self._processes: list[ForkProcess] = []
        self._lookahead = max(1, lookahead)
        parent = os.getpid()
        for index in range(workers):
            inbox: Queue[Job | None] = context.Queue()
            outbox: Queue[Any] = context.Queue(maxsize=self._lookahead)
            process = context.Process(target=_work, args=(detection, limits, inbox, outbox, parent),
                                      name=f"trailsentry-detect-{index}", daemon=True)
            process.start()
            self._inboxes.append(inbox)
            self._outboxes.append(outbox)
            self._processes.append(process)

        self._sent = 0  # jobs submitted
        self._taken = 0  # jobs whose results were taken

    @property
    def size(self) -> int:
        return len(self._processes)

    @property
    def in_flight(self) -> int:
        return self._sent - self._taken

    def submit(self, job: Job) -> None:
        """Hand a job to the next worker (round robin, so results can be taken in the same order)."""
        self._inboxes[self._sent % self.size].put(job)
        self._sent += 1

    def take(self, job: Job) -> Iterator[SliceFindings]:
        """The slices of the oldest job not taken yet (`job`, for error messages); consume them whole."""
        if self._taken >= self._sent:
            raise RuntimeError("no job in flight")
        outbox = self._outboxes[self._taken % self.size]
        self._taken += 1
        return self._slices(outbox, job)

    def run(self, jobs: Iterable[Job]) -> Iterator[tuple[Job, Iterator[SliceFindings]]]:
        """Each job in order, with its slices' findings; consume a job's slices before taking the next.

        Keeps `lookahead` jobs per worker submitted ahead, so no worker waits for the caller."""
        queued: list[Job] = []
        for job in jobs:
            self.submit(job)
            queued.append(job)
            if len(queued) >= self.size * self._lookahead:
                oldest = queued.pop(0)
                yield oldest, self.take(oldest)
        while queued:
            oldest = queued.pop(0)
            yield oldest, self.take(oldest)

    def _slices(self, outbox: Queue[Any], job: Job) -> Iterator[SliceFindings]:
        while True:
            kind, payload = outbox.get()
            if kind == _END:
                return
            if kind == _FAILED:
                raise WorkerFailed(f"{job.origin}: {payload}")
            yield pickle.loads(payload)

    def close(self) -> None:
        for inbox in self._inboxes:
            inbox.put(None)
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
