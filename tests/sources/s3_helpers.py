"""Helpers for the S3 source tests: CloudTrail objects, a collecting `emit`, and running a source."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import json
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import orjson

from monitor.decode import decode_bytes
from monitor.sources.base import Batch, Emit, Source
from tests.aws_emulator import Emulator

_ids = itertools.count(1)


def event(name: str = "DescribeInstances", account: str = "111122223333", region: str = "us-east-1",
          time: str = "2026-03-01T12:00:00Z") -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "eventID": f"00000000-0000-4000-9000-{next(_ids):012d}",
        "eventTime": time,
        "eventSource": "ec2.amazonaws.com",
        "eventName": name,
        "awsRegion": region,
        "recipientAccountId": account,
        "userIdentity": {"type": "IAMUser", "accountId": account, "arn": f"arn:aws:iam::{account}:user/alice"},
        "sourceIPAddress": "203.0.113.7",
    }


def log_object(*events: dict[str, Any]) -> bytes:
    """A CloudTrail delivery object: gzipped {"Records": [...]}."""
    return gzip.compress(orjson.dumps({"Records": list(events)}))


def event_ids(batch: Batch) -> list[str]:
    decoded = decode_bytes(batch.data, batch.origin)
    assert not decoded.issues, decoded.issues
    return [e.eventID for e in decoded.events]


class Collector:
    """An `emit` that queues every batch; the test acks or releases them (or `auto_ack`)."""

    def __init__(self, *, auto_ack: bool = False) -> None:
        self.batches: list[Batch] = []
        self.queue: asyncio.Queue[Batch] = asyncio.Queue()
        self.auto_ack = auto_ack

    async def __call__(self, batch: Batch) -> None:
        self.batches.append(batch)
        if self.auto_ack:
            await batch.ack()
        self.queue.put_nowait(batch)

    async def next(self, limit: float = 20.0) -> Batch:
        return await asyncio.wait_for(self.queue.get(), limit)

    def origins(self) -> list[str]:
        return [b.origin for b in self.batches]


@contextlib.asynccontextmanager
async def running(source: Source, emit: Emit) -> AsyncIterator[asyncio.Task[None]]:
    """Run `source` in a task; on exit cancel it, check it re-raised CancelledError, and close it."""
    task = asyncio.create_task(source.run(emit))
    try:
        yield task
    finally:
        if task.done() and not task.cancelled():
            task.result()  # surface a crash of the source
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await source.close()


def moto_state(aws: Emulator) -> dict[str, Any]:
    """moto's internal model state (messages with visible_at and receive counts, ...)."""
    with urllib.request.urlopen(f"{aws.endpoint_url}/moto-api/data.json", timeout=10) as response:
        data: dict[str, Any] = json.loads(response.read())
    return data
