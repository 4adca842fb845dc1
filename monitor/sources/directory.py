"""Watch a local folder for CloudTrail files: the embedded default source, needing no AWS account.

Polls (no inotify dependency) every `interval_seconds`. The settle rule: a file
is taken once its size and modification time have not changed for
`settle_seconds` (seen the same at two looks that far apart), or at the first
look when it was moved in whole (its modification time is already that old:
`mv`, or a copy tool that writes a hidden temporary file and renames it). It is
read up to the size that settled and taken only if it is still unchanged after
the read, so a file that is being written, even during the read, is looked at
again later: a half-written last line is never read as bad input. A writer that
pauses longer than `settle_seconds` mid-file should write elsewhere and move the
file in. Each file is one batch (any format the decoder reads, gzip included). Processed files are remembered
by (relative path, size, mtime) in the checkpoint store, so a restart does not
emit them again; the memory holds only files that still exist, and a file that
changes is emitted again (the engine's eventID memory drops repeated events).
Hidden files and folders (".name", the usual temporary files of copy tools)
are ignored.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.sources.base import Batch, Emit, Source, SourceContext, SourceStats
from monitor.sources.settings import DirectorySettings

KIND = "directory"

log = logging.getLogger(__name__)

_READ_CHUNK = 1024 * 1024

Sleep = Callable[[float], Awaitable[None]]


def create(name: str, settings: DirectorySettings, context: SourceContext) -> Source:
    return DirectorySource(name, settings, context)


Signature = tuple[int, int]  # (size, mtime_ns)


@dataclass(slots=True)
class _Candidate:
    signature: Signature
    first_seen: float  # clock() when this signature was first looked at (wall clock, like mtimes)


class UnreadableFile(Exception):
    """A file that cannot be read as a batch (permissions, I/O error, not a regular file, too large)."""


class DirectorySource:
    def __init__(
        self,
        name: str,
        settings: DirectorySettings,
        context: SourceContext,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = name
        self.kind = KIND
        self.stats = SourceStats()
        self._settings = settings
        self._context = context
        self._clock = clock
        self._sleep = sleep
        self._root = settings.path
        self._processed: dict[str, Signature] = {}
        for key, value in context.checkpoints.items(name).items():
            signature = _parse_signature(value)
            if signature is not None:
                self._processed[key] = signature
        self._candidates: dict[str, _Candidate] = {}
        self._in_flight: dict[str, Signature] = {}
        self._failed: dict[str, Signature] = {}  # unreadable as they are now: not retried until they change
        self._healthy = False
        self._missing_logged = False

    def ready(self) -> bool:
        return self._healthy

    async def close(self) -> None:
        self._context.checkpoints.commit()

    async def run(self, emit: Emit) -> None:
        while True:
            await self.scan_once(emit)
            await self._sleep(self._settings.interval_seconds)

    async def scan_once(self, emit: Emit) -> None:
        """Look at the folder once: emit settled new files, forget files that are gone."""
        try:
            listing = await asyncio.to_thread(_list_files, self._root, self._settings.pattern)
        except OSError as exc:
            self._healthy = False
            self.stats.add("scan_errors")
            if not self._missing_logged:
                log.warning("source %s: cannot list %s: %s", self.name, self._root, exc.strerror or exc)
                self._missing_logged = True
            return
        self._healthy = True
        self._missing_logged = False
        self.stats.last_success = time.time()
        self.stats.add("scans")
        self._forget_missing(listing)
        now = self._clock()
        for relative, signature in sorted(listing.items()):
            if self._processed.get(relative) == signature or self._in_flight.get(relative) == signature:
                continue
            if self._failed.get(relative) == signature:
                continue
            if not self._settled(relative, signature, now):
                continue
            self._candidates.pop(relative, None)
            await self._emit_file(relative, signature, emit)

    def _settled(self, relative: str, signature: Signature, now: float) -> bool:
        """Unchanged for settle_seconds: by two looks that far apart, or by its own mtime at first sight."""
        settle = self._settings.settle_seconds
        candidate = self._candidates.get(relative)
        if candidate is None and now - signature[1] / 1e9 >= settle:
            return True  # moved in whole (or there before we looked): nothing has written it for a while
        if candidate is None or candidate.signature != signature:
            self._candidates[relative] = _Candidate(signature, now)
            return False
        return now - candidate.first_seen >= settle

    def _forget_missing(self, listing: dict[str, Signature]) -> None:
        for memory in (self._candidates, self._failed):
            for relative in [r for r in memory if r not in listing]:
                del memory[relative]
        gone = [r for r in self._processed if r not in listing and r not in self._in_flight]
        for relative in gone:
            del self._processed[relative]
            self._context.checkpoints.delete(self.name, relative)
        if gone:
            self._context.checkpoints.commit()

    async def _emit_file(self, relative: str, signature: Signature, emit: Emit) -> None:
        path = self._root / relative
        try:
            data = await asyncio.to_thread(read_settled, path, signature, self._settings.max_file_bytes)
        except UnreadableFile as exc:
            self._failed[relative] = signature
            self.stats.add("files_failed")
            log.warning("source %s: skipping %s: %s", self.name, path, exc)
            return
        if data is None:
            # Changed between the look and the read: look again next time.
            return
        self.stats.add("files_read")
        self.stats.add("bytes_read", len(data))
        if not data:
            self.stats.add("files_empty")
            self._remember(relative, signature)
            return
        self._in_flight[relative] = signature
        resolved = False

        async def ack() -> None:
            nonlocal resolved
            if resolved:
                return
            resolved = True
            self._in_flight.pop(relative, None)
            if self._settings.delete_after:
                await self._delete(path)
            self._remember(relative, signature)

        async def release(reason: str) -> None:
            nonlocal resolved
            if resolved:
                return
            resolved = True
            # Not remembered: the next scan offers the file again if it is unchanged (it had settled).
            self._in_flight.pop(relative, None)
            self._candidates[relative] = _Candidate(signature, float("-inf"))
            self.stats.add("batches_released")
            log.info("source %s: %s released (%s); it will be read again", self.name, path, reason)

        batch = Batch(source=self.name, origin=str(path), data=data, ack=ack, release=release,
                      landed_at=signature[1] / 1e9)
        self.stats.add("batches_emitted")
        try:
            await emit(batch)
        except BaseException:
            await release("not emitted")
            raise

    def _remember(self, relative: str, signature: Signature) -> None:
        self._processed[relative] = signature
        checkpoints = self._context.checkpoints
        checkpoints.put(self.name, relative, f"{signature[0]}:{signature[1]}")
        checkpoints.commit()

    async def _delete(self, path: Path) -> None:
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
            self.stats.add("files_deleted")
        except OSError as exc:
            self.stats.add("delete_errors")
            log.warning("source %s: could not delete %s: %s", self.name, path, exc.strerror or exc)


def _list_files(root: Path, pattern: str) -> dict[str, Signature]:
    """Regular files under `root` matching `pattern`, by path relative to root (a blocking call)."""
    if not root.is_dir():
        raise NotADirectoryError(20, "not a directory", str(root))
    matches = root.glob(pattern) if "/" in pattern else root.rglob(pattern)
    listing: dict[str, Signature] = {}
    for path in matches:
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts):
            continue
        try:
            info = path.stat()
        except OSError:
            continue  # vanished, or a dangling link: nothing to read
        if stat.S_ISREG(info.st_mode):
            listing[relative.as_posix()] = (info.st_size, info.st_mtime_ns)
    return listing


def read_settled(path: Path, signature: Signature, limit: int) -> bytes | None:
    """The file's bytes as it settled (`signature`: size, mtime), or None when it has changed since it was
    listed, before or during the read (still being written: look again later); UnreadableFile for anything
    unreadable. A blocking call."""
    try:
        # O_NONBLOCK: a FIFO swapped in after the listing must not block the reader thread.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UnreadableFile(exc.strerror or str(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile("not a regular file")
        if (info.st_size, info.st_mtime_ns) != signature:
            return None
        if info.st_size > limit:
            raise UnreadableFile(f"{info.st_size} bytes is more than max_file_bytes ({limit})")
        # Only what settled; then the end must follow. Bytes past it mean a writer is still at work.
        chunks: list[bytes] = []
        remaining = info.st_size
        while True:
            try:
                chunk = os.read(fd, min(_READ_CHUNK, remaining) if remaining else 1)
            except OSError as exc:
                raise UnreadableFile(exc.strerror or str(exc)) from None
            if not remaining:
                if chunk:
                    return None  # grew during the read
                break
            if not chunk:
                return None  # truncated during the read
            remaining -= len(chunk)
            chunks.append(chunk)
        after = os.fstat(fd)
        if (after.st_size, after.st_mtime_ns) != signature:
            return None
        return b"".join(chunks)
    finally:
        os.close(fd)


def _parse_signature(value: str) -> Signature | None:
    size, _, mtime = value.partition(":")
    if not size.isdigit() or not mtime.isdigit():
        return None
    return int(size), int(mtime)
