"""Named points where a crash test kills this process, the way an OOM kill or a node loss would.

`TRAILSENTRY_FAILPOINTS="after_record:3,mid_batch:7"` makes the process send itself SIGKILL the
3rd time it passes `after_record` or the 7th time it passes `mid_batch`, whichever comes first;
`mid_batch:2:error` raises `FailpointError` there instead (a bug inside trailsentry, for the tests of
what follows one). Unset (always, outside these tests), a failpoint is one dictionary lookup. Points:

- `mid_batch`: a batch is half applied to the engine's state;
- `before_record`: a group of batches is applied, nothing of it is durable yet;
- `after_record`: its alerts are in the outbox, its state changes are not;
- `after_persist`: both are durable, no source is acknowledged yet;
- `after_ack`: the group's sources are acknowledged;
- `before_save`, `after_save`: a hunt (`scan s3://... --state`) is about to save its progress, or has.
"""

from __future__ import annotations

import os
import signal

ENVIRONMENT = "TRAILSENTRY_FAILPOINTS"


class FailpointError(RuntimeError):
    """Raised at a failpoint set to `error`."""


class Failpoints:
    def __init__(self, spec: str = "") -> None:
        self._remaining: dict[str, int] = {}
        self._errors: set[str] = set()
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, count, action = [*item.split(":"), "", ""][:3]
            self._remaining[name] = max(1, int(count or "1"))
            if action == "error":
                self._errors.add(name)

    @classmethod
    def from_environment(cls) -> Failpoints:
        return cls(os.environ.get(ENVIRONMENT, ""))

    def reached(self, name: str) -> None:
        remaining = self._remaining.get(name)
        if remaining is None:
            return
        if remaining > 1:
            self._remaining[name] = remaining - 1
            return
        if name in self._errors:
            del self._remaining[name]
            raise FailpointError(f"failpoint {name}")
        os.kill(os.getpid(), signal.SIGKILL)
