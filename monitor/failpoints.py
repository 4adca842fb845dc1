"""Named points where a crash test kills this process, the way an OOM kill or a node loss would.

`TRAILSENTRY_FAILPOINTS="after_record:3,mid_batch:7"` makes the process send itself SIGKILL the
3rd time it passes `after_record` or the 7th time it passes `mid_batch`, whichever comes first.
Unset (always, outside crash tests), a failpoint is one dictionary lookup. Points:

- `mid_batch`: a batch is half applied to the engine's state;
- `before_record`: a group of batches is applied, nothing of it is durable yet;
- `after_record`: its alerts are in the outbox, its state changes are not;
- `after_persist`: both are durable, no source is acknowledged yet;
- `after_ack`: the group's sources are acknowledged.
"""

from __future__ import annotations

import os
import signal

ENVIRONMENT = "TRAILSENTRY_FAILPOINTS"


class Failpoints:
    def __init__(self, spec: str = "") -> None:
        self._remaining: dict[str, int] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, _, count = item.partition(":")
            self._remaining[name] = max(1, int(count or "1"))

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
        os.kill(os.getpid(), signal.SIGKILL)
