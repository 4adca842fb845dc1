"""Alert delivery: durable outbox, routing, formatting, one module per sink.

The app uses `parse_alerting` (config) and `Alerting` (the running stage, imported from
monitor/alerts/service.py, which has the lifecycle). The package itself stays light: `trailsentry scan`
reads the config but delivers nothing, and the HTTP and AWS clients behind the sinks take a third of a
second to import.
"""

from monitor.alerts.settings import AlertingSettings, parse_alerting
from monitor.alerts.stats import AlertingStats, SinkStats

__all__ = ["AlertingSettings", "AlertingStats", "SinkStats", "parse_alerting"]
