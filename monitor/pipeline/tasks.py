"""Small helpers of the pipeline and the composition root: finishing work whatever cancels the caller,
closing things, and log-safe text."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from monitor.model import Alert
from monitor.model.alert import clip

log = logging.getLogger("trailsentry.pipeline")


def newest_per_id(alerts: list[Alert]) -> list[Alert]:
    """One alert per id, its latest emission (an episode emitted twice in a group is recorded once). Signals
    are left out: the engine remembers them (in its state, shared by replicas), they are never recorded."""
    newest: dict[str, Alert] = {}
    for alert in alerts:
        if not alert.signal:
            newest[alert.id] = alert
    return list(newest.values())


async def settled(future: asyncio.Future[Any]) -> None:
    """Wait for work already running on the worker thread, whatever cancels the waiter meanwhile."""
    while not future.done():
        try:
            await asyncio.shield(future)
        except BaseException:
            continue


async def quietly(what: str, action: Callable[[], Any]) -> None:
    try:
        await action()
    except Exception as exc:
        log.error("%s failed: %s: %s", what, type(exc).__name__, printable(str(exc)))


async def run_to_completion(awaitable: Any) -> None:
    """Run bookkeeping to completion even while the caller is being cancelled."""
    task = asyncio.ensure_future(awaitable)
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                break
    task.result()


def printable(text: str, limit: int = 400) -> str:
    # Origins and details carry attacker-controlled text: no terminal escapes in the logs.
    return clip("".join(ch if ch.isprintable() else "?" for ch in text), limit)


async def within(waiting: Awaitable[None], seconds: float) -> bool:
    """True when `waiting` finished within `seconds`."""
    try:
        await asyncio.wait_for(waiting, seconds)
    except TimeoutError:
        return False
    return True


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel tasks and wait for them; what ended in an error is logged."""
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for task, result in zip(tasks, results, strict=True):
        if isinstance(result, Exception):
            log.error("task %s ended with %s: %s", task.get_name(), type(result).__name__, printable(str(result)))


def closer(thing: object) -> Callable[[], Awaitable[Any]]:
    """An awaitable `close` of anything that has a close (sync or async), or nothing."""
    close = getattr(thing, "close", None)
    if close is None:
        return nothing

    async def call() -> None:
        result = close()
        if asyncio.iscoroutine(result):
            await result

    return call


def as_async(function: Callable[[], Any]) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        function()

    return call


async def nothing() -> None:
    return None
