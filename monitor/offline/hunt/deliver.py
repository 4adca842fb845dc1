"""`scan s3://... --sink NAME`: a hunt's alerts sent to chosen sinks through the durable outbox.

Only when asked, and only to the sinks named: a hunt reads last year's logs, and on-call must not be
paged for them. Every alert goes to every chosen sink (the config's routes are for live alerts), and
each carries `context.mode: hunt`, which Slack shows as a historical marker in the headline. The
outbox keeps what could not be delivered; the receipt makes a re-run of the same hunt record nothing
twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path

from monitor.alerts.service import Alerting
from monitor.alerts.settings import AlertingSettings, HealthSettings
from monitor.alerts.stats import AlertingStats
from monitor.aws.clients import AwsClients
from monitor.model import Alert

DELIVERY_SECONDS = 300.0


def unknown_sinks(settings: AlertingSettings, names: list[str]) -> list[str]:
    known = {sink.name for sink in settings.sinks}
    return sorted(set(names) - known)


async def deliver(alerts: list[Alert], settings: AlertingSettings, names: list[str], outbox: Path,
                  receipt: str, within: float = DELIVERY_SECONDS) -> AlertingStats:
    """Record the alerts for the named sinks and deliver them; the stats when all are sent or `within` ran out."""
    chosen = tuple(sink for sink in settings.sinks if sink.name in set(names))
    only = dataclasses.replace(settings, sinks=chosen, routes=(), health=HealthSettings(notify=()))
    aws = AwsClients()
    alerting = Alerting(only, db_path=outbox, aws=aws)
    try:
        await alerting.start()
        await alerting.record(alerts, receipt)
        # On time out the final stats tell what is left; it stays in the outbox for the next run.
        with contextlib.suppress(TimeoutError):
            await alerting.wait_for(lambda stats: stats.outbox_depth == 0, within)
        await alerting.stop(deadline_seconds=5.0)
    finally:
        await aws.close()
    return alerting.stats()


def deliver_now(alerts: list[Alert], settings: AlertingSettings, names: list[str], outbox: Path,
                receipt: str) -> AlertingStats:
    return asyncio.run(deliver(alerts, settings, names, outbox, receipt))
