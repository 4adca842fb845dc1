"""`s3-sqs`: read the CloudTrail objects announced on an SQS queue (the recommended mode).

Flow: one task long-polls ReceiveMessage; each message is parsed (monitor.sources.s3_messages) into the
objects it names; `download_concurrency` workers GetObject and `emit` one Batch per object; one
housekeeping task deletes finished messages (DeleteMessageBatch), pushes failed ones out with
backoff and extends the visibility of the ones still in flight (ChangeMessageVisibilityBatch).

A message is deleted only once every object it names has been acked. If any of its objects fails
(download error, or the pipeline releases the batch), the message is not deleted: once its last object
is settled its visibility is set to a delay growing with its receive count (`retry_base_seconds`,
doubling, capped at `retry_max_seconds`, with jitter) so it is not retried in a hot loop. At or past
`max_receives` receives a failing message is left alone (no visibility change, no delete) so the
queue's redrive policy moves it to the dead-letter queue, and it is counted as `messages_poison`.

Unparseable messages are handled the same way, not deleted: a body we cannot read may be a shape we do
not know yet that names real CloudTrail objects, and deleting it would lose those events silently.
They are counted (`messages_invalid`), logged with the message id only, retried with backoff and left
to the redrive policy (the dead-letter queue keeps the body for an operator to read) at `max_receives`.

Test events, SNS subscription confirmations, S3 events other than object creation, digest files and
keys that are not CloudTrail logs are acknowledged (deleted) and counted.

Memory stays bounded: at most `download_concurrency` objects are queued, downloading or blocked in
`emit` at once, the receive loop waits for a free slot before polling again, and the pipeline's
bounded queue holds the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from monitor.aws.backoff import Backoff, error_code, is_throttle
from monitor.sources.base import Batch, Emit, SourceContext, SourceStats
from monitor.sources.s3_messages import MessageError, ObjectRef, parse_message
from monitor.sources.s3_objects import classify_error, classify_key, get_object
from monitor.sources.settings import MAX_VISIBILITY, SqsSettings

KIND = "s3-sqs"
log = logging.getLogger(__name__)

SQS_BATCH = 10  # the most entries DeleteMessageBatch / ChangeMessageVisibilityBatch take



def create(name: str, settings: SqsSettings, context: SourceContext) -> SqsSource:
    return SqsSource(name, settings, context)


@dataclass(eq=False, slots=True)
class _Message:
    """One received message: settled once all its objects are acked (delete) or any failed (retry)."""

    id: str
    handle: str
    receive_count: int
    visible_until: float  # monotonic time its current visibility timeout ends
    outstanding: int = 0
    failed: bool = False
    delete_attempts: int = 0


@dataclass(frozen=True, slots=True)
class _Job:
    message: _Message
    ref: ObjectRef


class SqsSource:
    def __init__(self, name: str, settings: SqsSettings, context: SourceContext, *,
                 rng: random.Random | None = None) -> None:
        self.name = name
        self.kind = KIND
        self.stats = SourceStats()
        self._settings = settings
        self._context = context
        self._rng = rng or random.Random()
        self._inflight: set[_Message] = set()  # received, not yet settled
        self._to_delete: list[_Message] = []
        self._to_retry: list[_Message] = []
        self._jobs: asyncio.Queue[_Job] = asyncio.Queue()
        # One slot per object between "queued for download" and "emit returned".
        self._slots = asyncio.Semaphore(settings.download_concurrency)
        self._wake = asyncio.Event()
        self._healthy = False
        self._sqs: Any = None
        self._throttle = Backoff(0.5, 30.0, rng=self._rng)

    def ready(self) -> bool:
        return self._healthy

    async def run(self, emit: Emit) -> None:
        sqs, s3 = await self._connect()
        # The app restarts a crashed source by calling run() again: start from clean queues, and hand back
        # messages left over from the previous run (their queued objects died with it).
        self._jobs = asyncio.Queue()
        self._slots = asyncio.Semaphore(self._settings.download_concurrency)
        await self._hand_back(sqs)
        async with asyncio.TaskGroup() as group:
            for _ in range(self._settings.download_concurrency):
                group.create_task(self._worker(s3, emit))
            group.create_task(self._housekeeping(sqs))
            await self._receive_loop(sqs)

    async def close(self) -> None:
        """Delete what finished, back off what failed, and hand unfinished messages back to the queue."""
        if self._sqs is None:
            return
        with contextlib.suppress(Exception):
            await self._flush(self._sqs)
        await self._hand_back(self._sqs)

    async def _hand_back(self, sqs: Any) -> None:
        # Unfinished messages become visible now (another replica takes them); failed ones keep their backoff.
        unfinished = [(m, self.retry_delay(m.receive_count) if m.failed else 0) for m in self._inflight]
        self._inflight.clear()
        for start in range(0, len(unfinished), SQS_BATCH):
            with contextlib.suppress(Exception):
                await self._change_visibility(sqs, unfinished[start:start + SQS_BATCH], "release")

    # -- receiving ------------------------------------------------------------------------------

    async def _connect(self) -> tuple[Any, Any]:
        backoff = Backoff(1.0, 60.0, rng=self._rng)
        while True:
            try:
                sqs = await self._context.clients.client("sqs", self._settings.aws)
                s3 = await self._context.clients.client("s3", self._settings.aws)
            except Exception as exc:
                self._api_failure("CreateClient", exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            self._sqs = sqs
            return sqs, s3

    async def _receive_loop(self, sqs: Any) -> None:
        settings = self._settings
        backoff = Backoff(1.0, 60.0, rng=self._rng)
        while True:
            # Poll only when a download slot is free: never hold more messages than we can work on.
            async with self._slots:
                pass
            started = time.monotonic()
            self.stats.api_call("ReceiveMessage")
            try:
                response = await sqs.receive_message(
                    QueueUrl=settings.queue_url,
                    MaxNumberOfMessages=settings.max_messages,
                    WaitTimeSeconds=settings.wait_seconds,
                    VisibilityTimeout=settings.visibility_timeout,
                    AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                )
            except Exception as exc:
                self._healthy = False
                self._api_failure("ReceiveMessage", exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            self._healthy = True
            self._success()
            messages = response.get("Messages") or []
            self.stats.add("receive_calls")
            self.stats.add("messages_received", len(messages))
            for raw in messages:
                await self._accept(raw, started + settings.visibility_timeout)

    async def _accept(self, raw: dict[str, Any], visible_until: float) -> None:
        attributes = raw.get("Attributes") or {}
        try:
            receive_count = int(attributes.get("ApproximateReceiveCount", "1"))
        except ValueError:
            receive_count = 1
        message = _Message(str(raw.get("MessageId", "?")), str(raw.get("ReceiptHandle", "")), receive_count,
                           visible_until)
        try:
            parsed = parse_message(raw.get("Body") or "")
        except MessageError as exc:
            self.stats.add("messages_invalid")
            log.warning("%s: SQS message %s is not a notification trailsentry reads (%s); not deleted",
                        self.name, message.id, exc.reason)
            self._settle(message, failed=True)
            return
        if parsed.invalid_records:
            self.stats.add("records_invalid", len(parsed.invalid_records))
            log.warning("%s: SQS message %s: %d unreadable record(s): %s", self.name, message.id,
                        len(parsed.invalid_records), "; ".join(parsed.invalid_records[:3]))
        if parsed.skipped is not None:
            self.stats.add(f"skipped_{parsed.skipped}")
        refs: list[ObjectRef] = []
        for ref in parsed.objects:
            reason = classify_key(ref.key, self._settings.key_prefixes)
            if reason is None:
                refs.append(ref)
            else:
                self.stats.add(f"skipped_{reason}")
        if not refs:
            self._settle(message, failed=False)
            return
        message.outstanding = len(refs)
        self._inflight.add(message)
        for ref in refs:
            await self._slots.acquire()
            self._jobs.put_nowait(_Job(message, ref))

    # -- downloading ----------------------------------------------------------------------------

    async def _worker(self, s3: Any, emit: Emit) -> None:
        while True:
            job = await self._jobs.get()
            try:
                await self._process(job, s3, emit)
            finally:
                self._slots.release()

    async def _process(self, job: _Job, s3: Any, emit: Emit) -> None:
        message, ref = job.message, job.ref
        if message.failed:
            # A sibling object already failed: the whole message comes back anyway, skip the download.
            self._object_done(message, ok=False)
            return
        self.stats.api_call("GetObject")
        try:
            obj = await get_object(s3, ref.bucket, ref.key)
        except Exception as exc:
            await self._download_failed(ref, exc)
            self._object_done(message, ok=False)
            return
        self._throttle.reset()
        self._success()
        self.stats.add("objects_read")
        self.stats.add("bytes_read", len(obj.data))
        ack, release, quarantine = self._callbacks(message)
        try:
            await emit(Batch(source=self.name, origin=obj.origin, data=obj.data, ack=ack, release=release,
                             landed_at=obj.landed_at, quarantine=quarantine))
        except Exception as exc:  # a broken consumer must not kill the worker; the message comes back
            log.error("%s: emit failed for %s: %s", self.name, obj.origin, _describe(exc))
            await release("emit failed")

    async def _download_failed(self, ref: ObjectRef, exc: Exception) -> None:
        kind = classify_error(exc)
        origin = f"s3://{ref.bucket}/{ref.key}"
        if kind == "throttle":
            self.stats.api_failure(True, "GetObject")
            log.warning("%s: GetObject %s throttled; backing off", self.name, origin)
            await asyncio.sleep(self._throttle.next_delay())
            return
        if kind in ("missing", "too_large"):
            self.stats.add(f"objects_{kind}")
        else:
            self.stats.api_failure(False, "GetObject")
        log.warning("%s: GetObject %s failed (%s): %s", self.name, origin, kind, _describe(exc))

    def _callbacks(self, message: _Message) -> tuple[Callable[[], Awaitable[None]], Callable[[str], Awaitable[None]],
                                                     Callable[[], Awaitable[None]]]:
        settled = False

        async def ack() -> None:
            nonlocal settled
            if not settled:
                settled = True
                self._object_done(message, ok=True)

        async def release(reason: str) -> None:
            nonlocal settled
            if not settled:
                settled = True
                self.stats.add("objects_released")
                log.info("%s: batch of SQS message %s released (%s)", self.name, message.id, reason)
                self._object_done(message, ok=False)

        async def quarantine() -> None:
            # Given up by the pipeline: not deleted, not retried here; the queue's redrive policy moves it to
            # the dead-letter queue.
            nonlocal settled
            if not settled:
                settled = True
                message.receive_count = max(message.receive_count, self._settings.max_receives)
                self._object_done(message, ok=False)

        return ack, release, quarantine

    def _object_done(self, message: _Message, *, ok: bool) -> None:
        if not ok:
            message.failed = True
        message.outstanding -= 1
        if message.outstanding <= 0:
            self._inflight.discard(message)
            self._settle(message, failed=message.failed)

    def _settle(self, message: _Message, *, failed: bool) -> None:
        if not failed:
            self._to_delete.append(message)
        elif message.receive_count >= self._settings.max_receives:
            # Leave it alone: its visibility runs out and the redrive policy takes it.
            self.stats.add("messages_poison")
            log.error("%s: SQS message %s failed on receive %d (max_receives %d); left for the redrive policy",
                      self.name, message.id, message.receive_count, self._settings.max_receives)
        else:
            self.stats.add("messages_failed")
            self._to_retry.append(message)
        self._wake.set()

    def retry_delay(self, receive_count: int) -> int:
        """Seconds a failed message stays invisible: doubling per receive, capped, jittered in [d/2, d]."""
        settings = self._settings
        ceiling = min(settings.retry_max_seconds, settings.retry_base_seconds * 2.0 ** min(receive_count - 1, 30))
        return max(1, round(self._rng.uniform(ceiling / 2, ceiling)))

    # -- housekeeping: deletes, retries, visibility extension ------------------------------------

    async def _housekeeping(self, sqs: Any) -> None:
        period = max(0.5, self._settings.visibility_timeout / 3)
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that races the wake-up.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush(sqs)
                await self._extend(sqs)
            except Exception as exc:  # each call already counts its own failures; never stop the task
                self._api_failure("housekeeping", exc)

    async def _flush(self, sqs: Any) -> None:
        while self._to_retry:
            chunk, self._to_retry = self._to_retry[:SQS_BATCH], self._to_retry[SQS_BATCH:]
            await self._change_visibility(sqs, [(m, self.retry_delay(m.receive_count)) for m in chunk], "retry")
        while self._to_delete:
            chunk, self._to_delete = self._to_delete[:SQS_BATCH], self._to_delete[SQS_BATCH:]
            await self._delete(sqs, chunk)

    async def _delete(self, sqs: Any, chunk: list[_Message]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m.handle} for i, m in enumerate(chunk)]
        self.stats.api_call("DeleteMessageBatch")
        try:
            response = await sqs.delete_message_batch(QueueUrl=self._settings.queue_url, Entries=entries)
        except Exception as exc:
            self._api_failure("DeleteMessageBatch", exc)
            retry = [m for m in chunk if m.delete_attempts < 4]
            for message in retry:
                message.delete_attempts += 1
            # Put them back for the next round; after a few failures redelivery (deduplicated downstream) wins.
            self._to_delete.extend(retry)
            if is_throttle(exc):
                await asyncio.sleep(self._throttle.next_delay())
            return
        self._success()
        failed = response.get("Failed") or []
        self.stats.add("messages_deleted", len(chunk) - len(failed))
        for entry in failed:
            self.stats.api_failure(False, "DeleteMessageBatch")
            log.warning("%s: DeleteMessage for SQS message %s failed: %s", self.name,
                        chunk[int(entry.get("Id", 0))].id, entry.get("Code", "?"))

    async def _extend(self, sqs: Any) -> None:
        timeout = self._settings.visibility_timeout
        now = time.monotonic()
        due = [m for m in self._inflight if m.visible_until - now < timeout * 2 / 3]
        for start in range(0, len(due), SQS_BATCH):
            chunk = due[start:start + SQS_BATCH]
            started = time.monotonic()
            if await self._change_visibility(sqs, [(m, timeout) for m in chunk], "extend"):
                for message in chunk:
                    message.visible_until = started + timeout
                self.stats.add("visibility_extended", len(chunk))

    async def _change_visibility(self, sqs: Any, changes: list[tuple[_Message, int]], why: str) -> bool:
        entries = [{"Id": str(i), "ReceiptHandle": m.handle, "VisibilityTimeout": min(seconds, MAX_VISIBILITY)}
                   for i, (m, seconds) in enumerate(changes)]
        self.stats.api_call("ChangeMessageVisibilityBatch")
        try:
            response = await sqs.change_message_visibility_batch(QueueUrl=self._settings.queue_url, Entries=entries)
        except Exception as exc:
            self._api_failure(f"ChangeMessageVisibilityBatch ({why})", exc)
            return False
        self._success()
        for entry in response.get("Failed") or []:
            self.stats.api_failure(False, "ChangeMessageVisibilityBatch")
            log.warning("%s: ChangeMessageVisibility (%s) for SQS message %s failed: %s", self.name, why,
                        changes[int(entry.get("Id", 0))][0].id, entry.get("Code", "?"))
        return True

    # -- accounting -----------------------------------------------------------------------------

    def _success(self) -> None:
        self.stats.last_success = time.time()

    def _api_failure(self, operation: str, exc: Exception) -> None:
        api = operation.split(" ", 1)[0]  # "ChangeMessageVisibilityBatch (extend)" counts as the API
        throttled = is_throttle(exc)
        self.stats.api_failure(throttled, api)
        if throttled:
            log.warning("%s: %s throttled (%s)", self.name, operation, error_code(exc))
        else:
            log.warning("%s: %s failed: %s", self.name, operation, _describe(exc))


def _describe(exc: BaseException) -> str:
    # botocore messages name the operation and error code, never credentials; clip them anyway.
    return f"{type(exc).__name__}: {str(exc)[:300]}"
