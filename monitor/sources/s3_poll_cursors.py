"""The cursors of the `s3-poll` source: which keys of each (account, region) stream are done, and how an
acknowledged or failed object moves them (see monitor/sources/s3_poll.py for the rules).

A stream's cursor is the newest key such that it and every earlier key of the stream has been
acked; keys above it are tracked in key order (in flight, acked, released) and the cursor only
moves over the contiguous acked run at the front. `done` remembers acked keys within the
look-back window, capped by `recent_keys` across all streams. Everything is persisted per stream
as JSON `{"cursor", "floor", "done"}` under `s3://<bucket>/<stream prefix>`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections import OrderedDict
from dataclasses import dataclass, field

from monitor.checkpoint import Cursors as CursorStore
from monitor.sources.base import SourceStats
from monitor.sources.settings import PollSettings

log = logging.getLogger("monitor.sources.s3_poll")

_NAME_TIME = re.compile(r"_(\d{8}T\d{4})Z")

INFLIGHT, ACKED, RELEASED = 0, 1, 2


def name_time(key: str) -> float | None:
    """The time CloudTrail put in the file name (`..._20260301T1205Z_...`), epoch seconds."""
    match = _NAME_TIME.search(key.rsplit("/", 1)[-1])
    if match is None:
        return None
    try:
        return dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M").replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return None


@dataclass(eq=False, slots=True)
class Stream:
    prefix: str  # .../<account>/CloudTrail/<region>/
    account: str
    region: str
    cursor: str
    floor: float  # nothing named before this is read
    pending: list[str] = field(default_factory=list)  # listed keys above the cursor, sorted
    status: dict[str, int] = field(default_factory=dict)  # their state: INFLIGHT, ACKED, RELEASED
    late: set[str] = field(default_factory=set)  # keys at or below the cursor in flight as late deliveries
    done: set[str] = field(default_factory=set)  # acked keys within the look-back window
    attempts: dict[str, int] = field(default_factory=dict)

    def start_key(self, epoch: float) -> str:
        """A key that sorts just before every CloudTrail file of this stream named at or after `epoch`."""
        moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
        return (f"{self.prefix}{moment:%Y/%m/%d}/{self.account}_CloudTrail_{self.region}_"
                f"{moment:%Y%m%dT%H%M}Z")


@dataclass(frozen=True, slots=True)
class Job:
    stream: Stream
    key: str
    late: bool


class Cursors:
    """Every stream of one source, by stream prefix, with the memory of recently acked keys."""

    def __init__(self, source: str, settings: PollSettings, checkpoints: CursorStore, stats: SourceStats) -> None:
        self._source = source
        self._settings = settings
        self._checkpoints = checkpoints
        self.stats = stats
        self._base = f"s3://{settings.bucket}/"
        self.streams: dict[str, Stream] = {}  # by stream prefix
        self._recent: OrderedDict[str, Stream] = OrderedDict()  # acked keys, least recently acked first
        self._loaded = False

    def restart_in_flight(self) -> None:
        """After a crashed run (the app calls run() again), what was queued died with it: list it again."""
        for stream in self.streams.values():
            stream.late.clear()
            for key, state in stream.status.items():
                if state == INFLIGHT:
                    stream.status[key] = RELEASED

    def load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        root = self._base + self._settings.prefix
        for key, value in self._checkpoints.items(self._source).items():
            if not key.startswith(root):
                continue
            prefix = key[len(self._base):]
            try:
                state = json.loads(value)
                parts = prefix.rstrip("/").split("/")
                stream = Stream(prefix, parts[-3], parts[-1], str(state["cursor"]), float(state["floor"]))
                done = [prefix + str(rel) for rel in state.get("done", [])]
            except (ValueError, KeyError, TypeError, IndexError):
                log.warning("%s: unreadable checkpoint for %s; the stream starts afresh", self._source, key)
                continue
            self.streams[prefix] = stream
            for done_key in sorted(done, key=lambda k: name_time(k) or 0.0):
                self.remember(stream, done_key)

    def persist(self, stream: Stream) -> None:
        start = len(stream.prefix)
        value = json.dumps({"cursor": stream.cursor, "floor": stream.floor,
                            "done": sorted(k[start:] for k in stream.done)}, separators=(",", ":"))
        self._checkpoints.put(self._source, self._base + stream.prefix, value)

    def settle(self, job: Job, *, ok: bool) -> None:
        stream, key = job.stream, job.key
        if not ok:
            attempts = stream.attempts.get(key, 0) + 1
            if attempts < self._settings.max_attempts:
                stream.attempts[key] = attempts
                if job.late:
                    stream.late.discard(key)  # the next pass finds it again
                elif key in stream.status:
                    stream.status[key] = RELEASED
                return
            self.stats.add("objects_abandoned")
            log.error("%s: giving up on %s%s after %d failed attempts", self._source, self._base, key, attempts)
        stream.attempts.pop(key, None)
        self.remember(stream, key)
        if job.late:
            stream.late.discard(key)
        elif key in stream.status:
            stream.status[key] = ACKED
            self.advance(stream)
        self.persist(stream)

    def advance(self, stream: Stream) -> None:
        moved = False
        while stream.pending and stream.status.get(stream.pending[0]) == ACKED:
            key = stream.pending.pop(0)
            del stream.status[key]
            stream.cursor = key
            moved = True
        if moved:
            self.prune(stream)
            self.persist(stream)

    def prune(self, stream: Stream) -> None:
        """Forget acked keys that fell out of the look-back window behind the cursor."""
        cursor_time = name_time(stream.cursor)
        if cursor_time is None:
            return
        horizon = cursor_time - self._settings.lookback_seconds
        for key in [k for k in stream.done if (name_time(k) or 0.0) < horizon]:
            stream.done.discard(key)
            self._recent.pop(key, None)

    def remember(self, stream: Stream, key: str) -> None:
        stream.done.add(key)
        self._recent[key] = stream
        self._recent.move_to_end(key)
        while len(self._recent) > self._settings.recent_keys:
            old, owner = self._recent.popitem(last=False)
            owner.done.discard(old)
