"""S3 calls of a hunt: delimiter listings to find accounts and regions, day listings, and downloads.

Every call goes through `S3Reader.call`: throttling (`SlowDown`, 503, 429) backs off with jitter and
is retried for as long as it lasts (counted, never fatal); other server and network failures are
retried a few times, then raised. botocore's own retries are off so that each throttle is seen and
counted here.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from monitor.aws.backoff import Backoff, is_throttle
from monitor.offline.hunt.layout import ACCOUNT, ORGANIZATION, ObjectRef, S3Location, Selection, Trail

# Attempts for a failure that is not throttling (a 500, a reset connection) before it is the object's issue.
OTHER_FAILURE_ATTEMPTS = 5
_SERVER_FAILURES = frozenset({500, 502, 504})


def client_config(concurrency: int) -> AioConfig:
    """One connection per concurrent download; retries are ours (see the module docstring)."""
    return AioConfig(max_pool_connections=max(10, concurrency), retries={"mode": "standard", "total_max_attempts": 1},
                     connect_timeout=10, read_timeout=60)


@dataclass(slots=True)
class S3Counters:
    calls: Counter[str] = field(default_factory=Counter)  # by operation: ListObjectsV2, GetObject
    throttles: int = 0
    retries: int = 0  # other failures retried
    downloading: int = 0  # GetObject calls in progress
    most_downloading: int = 0
    listed_prefixes: list[str] = field(default_factory=list)


class S3Reader:
    def __init__(self, client: Any, location: S3Location, *, backoff_base: float = 0.2,
                 backoff_cap: float = 20.0) -> None:
        self._client = client
        self.location = location
        self.counters = S3Counters()
        self._backoff = (backoff_base, backoff_cap)

    async def call(self, operation: str, send: Callable[[], Awaitable[Any]]) -> Any:
        backoff = Backoff(*self._backoff)
        failures = 0
        while True:
            self.counters.calls[operation] += 1
            try:
                return await send()
            except ClientError as exc:
                if is_throttle(exc) or _status(exc) == 503:
                    self.counters.throttles += 1
                    await asyncio.sleep(backoff.next_delay())
                    continue
                if _status(exc) not in _SERVER_FAILURES:
                    raise
                failure: Exception = exc
            except (TimeoutError, BotoCoreError, aiohttp.ClientError, OSError) as exc:
                failure = exc
            failures += 1
            if failures >= OTHER_FAILURE_ATTEMPTS:
                raise failure
            self.counters.retries += 1
            await asyncio.sleep(backoff.next_delay())

    async def _pages(self, operation: str, prefix: str, delimiter: str | None) -> list[dict[str, Any]]:
        self.counters.listed_prefixes.append(prefix)
        pages: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            arguments: dict[str, Any] = {"Bucket": self.location.bucket, "Prefix": prefix}
            if delimiter:
                arguments["Delimiter"] = delimiter
            if token:
                arguments["ContinuationToken"] = token

            async def send(arguments: dict[str, Any] = arguments) -> Any:
                return await self._client.list_objects_v2(**arguments)

            page = await self.call(operation, send)
            pages.append(page)
            token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            if not token:
                return pages

    async def folders(self, prefix: str) -> list[str]:
        """The names of the folders right under `prefix` (one delimiter listing)."""
        names: list[str] = []
        for page in await self._pages("ListObjectsV2", prefix, "/"):
            for common in page.get("CommonPrefixes") or ():
                names.append(str(common["Prefix"])[len(prefix):].rstrip("/"))
        return names

    async def objects(self, trail: Trail, day: date) -> list[ObjectRef]:
        """The objects of one account, region and delivery day."""
        refs = []
        for page in await self._pages("ListObjectsV2", trail.day_prefix(day), None):
            for item in page.get("Contents") or ():
                key = str(item["Key"])
                if not key.endswith("/"):
                    refs.append(ObjectRef(key, int(item.get("Size") or 0), trail, day))
        return refs

    async def read(self, key: str) -> bytes:
        async def send() -> bytes:
            response = await self._client.get_object(Bucket=self.location.bucket, Key=key)
            async with response["Body"] as body:
                data: bytes = await body.read()
                return data

        counters = self.counters
        counters.downloading += 1
        counters.most_downloading = max(counters.most_downloading, counters.downloading)
        try:
            result: bytes = await self.call("GetObject", send)
        finally:
            counters.downloading -= 1
        return result


def _status(exc: ClientError) -> int:
    meta = exc.response.get("ResponseMetadata") or {}
    return int(meta.get("HTTPStatusCode") or 0)


@dataclass(slots=True)
class Discovery:
    trails: list[Trail]
    unread_organizations: list[str]  # organization folders present but not asked for (no --org)


async def discover(reader: S3Reader, selection: Selection, organizations: bool,
                   concurrency: int = 16) -> Discovery:
    """Every (account, region) folder of the trail that the selection takes, with delimiter listings."""
    logs = reader.location.logs
    accounts: list[tuple[str, str]] = []  # (account, its folder)
    skipped_organizations: list[str] = []
    for name in await reader.folders(logs):
        if ACCOUNT.match(name):
            if selection.account(name):
                accounts.append((name, f"{logs}{name}/"))
        elif ORGANIZATION.match(name):
            if not organizations:
                skipped_organizations.append(name)
                continue
            for member in await reader.folders(f"{logs}{name}/"):
                if ACCOUNT.match(member) and selection.account(member):
                    accounts.append((member, f"{logs}{name}/{member}/"))
    limit = asyncio.Semaphore(concurrency)

    async def regions(account: str, folder: str) -> list[Trail]:
        async with limit:
            names = await reader.folders(f"{folder}CloudTrail/")
        return [Trail(account, region, f"{folder}CloudTrail/{region}/") for region in names if selection.region(region)]

    found = await asyncio.gather(*(regions(account, folder) for account, folder in accounts))
    return Discovery(sorted(trail for trails in found for trail in trails), skipped_organizations)


def describe_error(exc: BaseException) -> str:
    """An AWS failure in one line: the error code and message (no request ids or credentials)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error") or {}
        return f"{error.get('Code') or 'error'}: {str(error.get('Message') or '')[:200]}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"
