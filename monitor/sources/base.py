"""The contract every source meets.

A source finds CloudTrail data (an S3 object, a file, a page of CloudWatch
log events) and hands it on as one `Batch` of raw bytes; decoding and
detection happen downstream, identically for every source. A batch carries
its own acknowledgement: the pipeline calls `ack()` only once the alerts the
batch produced and every state change its events caused are durable,
`release()` when the batch could not be processed (the source then leaves it
for redelivery: SQS visibility timeout, cursor not advanced), and
`quarantine()` (when given; else `ack()`) when it failed too many times.
Exactly one of them is called per batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from monitor.aws.clients import AwsClients
    from monitor.checkpoint import Cursors


async def _nothing() -> None:
    return None


@dataclass(slots=True)
class Batch:
    source: str  # the configured source name
    origin: str  # where the bytes came from: s3://bucket/key, file path, log group/stream
    data: bytes
    ack: Callable[[], Awaitable[None]] = _nothing
    release: Callable[[str], Awaitable[None]] = field(default=lambda reason: _nothing())
    # When the data landed (S3 LastModified, log ingestion time), epoch seconds; for delivery lag.
    landed_at: float | None = None
    # Give the batch up after repeated failures; None: acknowledge it (the default for every source
    # whose redelivery would only fail again). SQS leaves it to the queue's dead-letter queue instead.
    quarantine: Callable[[], Awaitable[None]] | None = None


Emit = Callable[[Batch], Awaitable[None]]


class Source(Protocol):
    name: str
    kind: str
    stats: SourceStats

    async def run(self, emit: Emit) -> None:
        """Find data and `await emit(batch)` for each piece until cancelled.

        `emit` blocks while downstream is busy (backpressure). The source must
        not swallow `asyncio.CancelledError`.
        """
        ...

    async def close(self) -> None:
        """Release clients and commit cursors. Called once, after `run` ended."""
        ...

    def ready(self) -> bool:
        """True once the source has reached its upstream at least once and is not failing."""
        ...


@dataclass(slots=True)
class SourceContext:
    """What a source gets from the composition root (monitor/app.py)."""

    clients: AwsClients
    checkpoints: Cursors


class SourceStats:
    """Plain integer counters a source bumps (per batch or per API call, never per event).

    The metrics module reads them at scrape time, so counting costs nothing on
    the hot path. Keys are fixed names such as "messages_received",
    "messages_deleted", "messages_failed", "objects_read", "bytes_read",
    "skipped_digest", "skipped_test_event", "skipped_not_cloudtrail",
    "log_events_read"; every AWS call is counted per operation with `api_call`
    ("api_calls:GetObject") and failed ones again with `api_failure`
    ("api_throttles:GetObject", "api_errors:ReceiveMessage").
    """

    __slots__ = ("counts", "last_success")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.last_success: float = 0.0  # wall-clock time of the last successful upstream call

    def add(self, key: str, amount: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + amount

    def api_call(self, api: str) -> None:
        """Count one AWS call (made, whatever its outcome) by its operation name: "api_calls:FilterLogEvents"."""
        self.add(f"api_calls:{api}")

    def api_failure(self, throttled: bool, api: str) -> None:
        """Count a failed AWS call per operation: "api_throttles:GetObject", "api_errors:ReceiveMessage"."""
        self.add(f"{'api_throttles' if throttled else 'api_errors'}:{api}")

    def total(self, prefix: str) -> int:
        """The sum of `prefix` and every `prefix:<detail>` key (e.g. all API errors of any operation)."""
        return sum(n for key, n in self.counts.items() if key == prefix or key.startswith(prefix + ":"))
