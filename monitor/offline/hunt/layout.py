"""Where CloudTrail keeps its history in S3, and which of it a hunt reads.

A trail delivers each object under the day it was delivered:

    s3://BUCKET/[PREFIX/]AWSLogs/[o-ORG/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_ID.json.gz

so the objects of a date range are found by listing the day folders of that range, never the bucket.
Digests (`CloudTrail-Digest/`) and Insight events (`CloudTrail-Insight/`) live beside `CloudTrail/`
and are never listed. Everything here is pure: names in, names out.
"""

from __future__ import annotations

import fnmatch
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

_S3_URL = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?\Z")
_NAME_TIME = re.compile(r"_(\d{8}T\d{4})Z_[^/]*\Z")
ACCOUNT = re.compile(r"\d{12}\Z")
ORGANIZATION = re.compile(r"o-[a-z0-9]{10,32}\Z")


class HuntUsageError(ValueError):
    """A hunt asked for something that cannot be read (a bad URL, date or shard)."""


@dataclass(frozen=True, slots=True)
class S3Location:
    """The trail's bucket and key prefix (the folder above `AWSLogs/`, without slashes at its ends)."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> S3Location:
        match = _S3_URL.match(url)
        if match is None:
            raise HuntUsageError(f"{url!r} is not an S3 location (s3://BUCKET or s3://BUCKET/PREFIX)")
        return cls(match["bucket"], (match["prefix"] or "").strip("/"))

    @property
    def logs(self) -> str:
        """The key prefix of the `AWSLogs/` folder."""
        return f"{self.prefix}/AWSLogs/" if self.prefix else "AWSLogs/"

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"


@dataclass(frozen=True, slots=True, order=True)
class Trail:
    """One account and region of a trail: the folder that holds its days."""

    account: str
    region: str
    folder: str  # the key prefix ending in `CloudTrail/REGION/`

    def day_prefix(self, day: date) -> str:
        return f"{self.folder}{day:%Y/%m/%d}/"


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """One log object to read, and where it sits in the event-time order of the hunt."""

    key: str
    size: int
    trail: Trail
    day: date

    @property
    def order(self) -> tuple[str, str]:
        """Objects are read in the order of the time in their names (the end of the events they hold)."""
        match = _NAME_TIME.search(self.key)
        return (match.group(1) if match else "", self.key)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """`--since` (inclusive) to `--until` (exclusive), in UTC."""

    since: datetime
    until: datetime

    def days(self) -> list[date]:
        """The delivery days whose folders are read: every day the range touches."""
        first = self.since.date()
        last = (self.until - timedelta(microseconds=1)).date()
        return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]

    def holds_name_time(self, ref: ObjectRef) -> bool:
        """Whether an object's name time falls in the range (objects of the first and last day are cut to it)."""
        stamp = ref.order[0]
        if not stamp:
            return True
        named = datetime.strptime(stamp, "%Y%m%dT%H%M").replace(tzinfo=UTC)
        return self.since <= named < self.until


def parse_time(text: str, flag: str) -> datetime:
    """A UTC date (`2026-01-31`) or time (`2026-01-31T12:00`, seconds and `Z` optional)."""
    cleaned = text.strip().removesuffix("Z").removesuffix("z")
    for layout in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(cleaned, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise HuntUsageError(f"{flag} {text!r}: expected a UTC date or time, like 2026-01-31 or 2026-01-31T12:00")


def time_range(since: str | None, until: str | None, now: datetime) -> TimeRange:
    """The range to read; without `--since` the last 7 days, without `--until` up to now."""
    end = parse_time(until, "--until") if until else now
    start = parse_time(since, "--since") if since else end - timedelta(days=7)
    if start >= end:
        raise HuntUsageError("--since must be before --until (--until is exclusive)")
    return TimeRange(start, end)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which accounts and regions to read: globs (`--account`, `--region`), every one when empty."""

    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    def account(self, account: str) -> bool:
        return not self.accounts or any(fnmatch.fnmatchcase(account, glob) for glob in self.accounts)

    def region(self, region: str) -> bool:
        return not self.regions or any(fnmatch.fnmatchcase(region, glob) for glob in self.regions)


@dataclass(frozen=True, slots=True)
class Shard:
    """`--shard I/N`: this machine reads the (account, day) units whose hash modulo N is I."""

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if match is None or not 0 <= int(match[1]) < int(match[2]):
            raise HuntUsageError(f"--shard {text!r}: expected I/N with 0 <= I < N, like 0/4")
        return cls(int(match[1]), int(match[2]))

    @property
    def split(self) -> bool:
        return self.count > 1

    def takes(self, account: str, day: date) -> bool:
        # crc32, not hash(): the same split on every machine and every Python.
        return zlib.crc32(f"{account}/{day:%Y-%m-%d}".encode()) % self.count == self.index

