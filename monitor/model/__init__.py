"""Leaf types shared by every stage: events, severities, detectors, alerts, input issues."""

from monitor.model.alert import ALERT_SCHEMA_VERSION, Alert
from monitor.model.detector import (
    Detector,
    DistinctCount,
    FirstSeen,
    Hit,
    Keys,
    Preceded,
    RateBaseline,
    Sequences,
    StateKind,
    Threshold,
    keys,
)
from monitor.model.event import Event
from monitor.model.issue import InputIssue
from monitor.model.severity import Severity

__all__ = [
    "ALERT_SCHEMA_VERSION",
    "Alert",
    "Detector",
    "DistinctCount",
    "Event",
    "FirstSeen",
    "Hit",
    "InputIssue",
    "Keys",
    "Preceded",
    "RateBaseline",
    "Sequences",
    "Severity",
    "StateKind",
    "Threshold",
    "keys",
]
