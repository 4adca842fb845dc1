"""The seam between the pipeline and alert delivery."""

from __future__ import annotations

from typing import Protocol

from monitor.model import Alert


class AlertRecorder(Protocol):
    async def record(self, alerts: list[Alert]) -> None:
        """Durably record alerts; when this returns, the source may acknowledge the events behind them.

        Alerts with an id already recorded are updates of the same episode
        (higher count, later last_event_time, maybe higher severity).
        """
        ...
