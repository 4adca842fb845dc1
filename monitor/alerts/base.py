"""The sink contract: what a delivery worker hands a sink, and how a sink reports failure.

A sink sends one `Notice` per call and either returns (confirmed delivery)
or raises `DeliveryError`. The error's text is written by trailsentry, never
copied from the HTTP library (whose messages include the URL and its token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from monitor.model.alert import Alert

# Kinds of message: the first for an alert, a later update sent at once,
# a severity rise, and the one "+N more" follow-up per repeat window.
KIND_NEW = "new"
KIND_UPDATE = "update"
KIND_ESCALATION = "escalation"
KIND_REPEAT = "repeat"
KINDS = (KIND_NEW, KIND_UPDATE, KIND_ESCALATION, KIND_REPEAT)


@dataclass(frozen=True, slots=True)
class Notice:
    alert: Alert
    body: bytes  # the alert JSON (schema v1), exactly as recorded
    delivery_id: str  # the same on every retry of this message, so receivers can de-duplicate
    kind: str
    repeats: int = 0  # events folded in since the previous message ("+N more")
    window_seconds: float = 0.0
    attempt: int = 1


class DeliveryError(Exception):
    """A failed send. `reason` is a small fixed word for metrics and logs; `detail` is safe to log."""

    def __init__(self, reason: str, detail: str = "", *, retry_after: float | None = None,
                 permanent: bool = False, rate_limited: bool = False, ambiguous: bool = False) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after
        self.permanent = permanent
        self.rate_limited = rate_limited
        # The receiver may have got it (timeout): the retry carries the same delivery id.
        self.ambiguous = ambiguous


class Sink(Protocol):
    name: str
    kind: str

    async def start(self) -> None: ...

    async def send(self, notice: Notice) -> None: ...

    async def close(self) -> None: ...
