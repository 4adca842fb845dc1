"""Alert delivery: durable outbox, routing, formatting, one module per sink.

The app uses `parse_alerting` (config) and `Alerting` (the running stage);
see monitor/alerts/service.py for the lifecycle.
"""

from monitor.alerts.service import SINK_FAILING_DETECTOR, Alerting
from monitor.alerts.settings import AlertingSettings, parse_alerting
from monitor.alerts.stats import AlertingStats, SinkStats

__all__ = ["SINK_FAILING_DETECTOR", "Alerting", "AlertingSettings", "AlertingStats", "SinkStats", "parse_alerting"]
