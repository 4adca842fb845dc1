"""What a hunt tells the person running it: the progress bar, the dry run's plan, and the summary."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import IO

from monitor.model import Detector, Keys
from monitor.offline.hunt.fetch import HuntQuery, Listing
from monitor.offline.hunt.run import HuntProgress, HuntResult

# Compressed CloudTrail a hunt reads per second and worker (benchmarks/hunt.py: 17 MB/s with one worker on
# 2 vCPUs): the dry run's time estimate.
BYTES_PER_SECOND_PER_WORKER = 16 * 1024 * 1024
_ACCOUNT_FACTS = frozenset({"account", "principal", "access_key"})


def size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if count < 1024 or unit == "TB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class HuntBar:
    """One line on a terminal: objects, bytes, events, events/s and the ETA from what is listed so far."""

    def __init__(self, stream: IO[str], enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self._last = 0.0

    def __call__(self, shown: HuntProgress) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.25:
            return
        self._last = now
        self.stream.write("\r\x1b[K" + progress_line(shown, now))
        self.stream.flush()

    def clear(self) -> None:
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def progress_line(shown: HuntProgress, now: float) -> str:
    listing = shown.listing
    objects, total_bytes = listing.estimated()
    todo_objects = max(objects - listing.objects_done_before, shown.objects)
    todo_bytes = max(total_bytes - listing.bytes_done_before, shown.bytes)
    elapsed = max(now - shown.started, 1e-6)
    rate = shown.bytes / elapsed
    eta = duration((todo_bytes - shown.bytes) / rate) if rate > 0 else "?"
    approximate = "~" if listing.folders_listed < listing.folders else ""
    width = 24
    filled = int(width * shown.bytes / todo_bytes) if todo_bytes else width
    return (f"[{'#' * filled}{'.' * (width - filled)}] {shown.objects:,}/{approximate}{todo_objects:,} objects, "
            f"{size(shown.bytes)}/{approximate}{size(todo_bytes)}, {shown.events:,} events, "
            f"{shown.events / elapsed:,.0f} events/s, ETA {eta}")


def cross_account_detectors(detectors: Iterable[Detector]) -> list[str]:
    """Stateful detectors whose declared group key names no account (a key taken from each Hit is the
    detector's own business: principals carry their account): one key can gather several accounts."""
    return sorted(d.id for d in detectors if d.state is not None and isinstance(d.group_by, Keys)
                  and d.group_by.facts and not _ACCOUNT_FACTS & set(d.group_by.facts))


def hunt_lines(result: HuntResult, query: HuntQuery, split_detectors: list[str]) -> list[str]:
    listing, s3 = result.listing, result.s3
    discovery = listing.discovery
    lines = [f"hunt: {query.location.url(query.location.prefix)} from {query.window.since:%Y-%m-%d %H:%M} to "
             f"{query.window.until:%Y-%m-%d %H:%M} UTC (until exclusive): {len(listing.trails)} account/region "
             f"folder(s), {listing.folders:,} day folder(s)"]
    if result.resumed:
        lines.append(f"  resumed: {listing.objects_done_before:,} object(s) read by an earlier run were skipped")
    lines.append(f"  S3 calls: {s3.calls['ListObjectsV2']:,} list, {s3.calls['GetObject']:,} get; "
                 f"throttled {s3.throttles:,} time(s), other failures retried {s3.retries:,}")
    if discovery is not None and discovery.unread_organizations:
        lines.append(f"  not read: organization trail folder(s) {', '.join(discovery.unread_organizations)} "
                     "(add --org to read them)")
    if query.shard.split:
        lines.append(f"  shard {query.shard.index}/{query.shard.count}: this run read the (account, day) units of "
                     "its shard only; windows that cross midnight UTC are cut at the shard boundary")
        if split_detectors:
            lines.append(f"  detectors that count across accounts saw only this shard's accounts: "
                         f"{', '.join(split_detectors)}")
    return lines


def dry_run_lines(listing: Listing, calls: int, workers: int) -> list[str]:
    seconds = listing.bytes / (BYTES_PER_SECOND_PER_WORKER * max(1, workers))
    to_read = listing.objects - listing.objects_done_before
    lines = [f"would read {to_read:,} object(s), {size(listing.bytes - listing.bytes_done_before)} "
             f"from {listing.folders:,} day folder(s) of {len(listing.trails)} account/region folder(s)"]
    if listing.objects_done_before:
        lines.append(f"  {listing.objects_done_before:,} object(s) already read by an earlier run are not counted")
    lines.append(f"  listing took {calls:,} S3 list call(s); estimated scan time {duration(seconds)} with "
                 f"{workers} worker(s) at {size(BYTES_PER_SECOND_PER_WORKER)}/s each")
    return lines
