"""A problem with the input (bad JSON, truncated gzip, wrong types), located as precisely as the format allows.

Decode finds most of them and the engine a few (an unusable `eventTime`), so the type lives here,
under both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InputIssue:
    """One problem with the input, located as precisely as the format allows."""

    origin: str
    reason: str  # a short, fixed category used as a counter key
    detail: str
    line: int | None = None
    record: int | None = None

    def location(self) -> str:
        if self.line is not None:
            return f"{self.origin}:{self.line}"
        if self.record is not None:
            return f"{self.origin} record {self.record}"
        return self.origin

    def __str__(self) -> str:
        return f"{self.location()}: {self.detail}"
