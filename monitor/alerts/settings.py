"""Alert delivery settings: the `sinks` (monitor/alerts/sink_settings.py), `routes` and `alerting` sections.

`parse_alerting(top)` reads them with the config reader, so every mistake is
reported with its path. No sinks at all means the embedded default: JSON Lines
on stdout. Routes send an alert to the sinks of every rule it matches; the
repeat window (`alerting.repeat_window`, formerly `alerting.suppression`, still
read with a warning) folds further alerts with the same key at one sink into
one "+N more" message. `trailsentry config example` shows both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.alerts.sink_settings import DEFAULT_SINK_NAME, SINK_NAME, ConsoleOptions, SinkSettings, parse_sinks
from monitor.configreader import Section
from monitor.model.severity import Severity

# Alert fields that may make up a repeat key.
KEY_FIELDS = ("id", "account", "principal", "source_ip", "region", "event_name", "event_source", "user_agent")


@dataclass(frozen=True, slots=True)
class RouteRule:
    sinks: tuple[str, ...]
    name: str = ""
    min_severity: Severity = Severity.INFO
    max_severity: Severity = Severity.CRITICAL
    detectors: tuple[str, ...] = ()  # ids or globs
    accounts: tuple[str, ...] = ()  # ids or aliases
    tags: tuple[str, ...] = ()  # MITRE technique ids or context tags, globs allowed


@dataclass(frozen=True, slots=True)
class DetectorRepeatWindow:
    window_seconds: float | None = None
    key: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class RepeatWindowSettings:
    """How repeats of an alert fold into one message per window and sink (`alerting.repeat_window`)."""

    window_seconds: float = 600.0
    key: tuple[str, ...] = ("account", "principal")
    detectors: dict[str, DetectorRepeatWindow] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HealthSettings:
    consecutive_failures: int = 5
    pending_seconds: float = 300.0
    notify: tuple[str, ...] = ()  # empty: every other sink


@dataclass(frozen=True, slots=True)
class AlertingSettings:
    sinks: tuple[SinkSettings, ...] = (SinkSettings(name=DEFAULT_SINK_NAME, kind="console", options=ConsoleOptions()),)
    routes: tuple[RouteRule, ...] = ()
    repeat_window: RepeatWindowSettings = field(default_factory=RepeatWindowSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    retention_seconds: float = 7 * 86400.0
    ready_max_pending_seconds: float = 900.0


def parse_alerting(top: Section) -> AlertingSettings:
    """Read `sinks`, `routes` and `alerting` from the top-level config section; errors go to `top.errors`."""
    sinks = parse_sinks(top)
    names = {s.name for s in sinks}
    routes = tuple(_parse_route(entry, names) for entry in top.items("routes"))
    alerting = top.section("alerting")
    # Formerly `suppression`: renamed so that only the allowlists (`suppressions:`) use that word.
    repeat_window = _parse_repeat_window(alerting.renamed("suppression", "repeat_window"))
    health = _parse_health(alerting.section("sink_failing"), names)
    retention = alerting.number("retention_seconds", 7 * 86400.0, minimum=3600)
    ready_age = alerting.number("ready_max_pending_seconds", 900.0, minimum=1)
    alerting.reject_unknown()
    if not sinks:
        sinks = AlertingSettings().sinks
    return AlertingSettings(sinks=sinks, routes=routes, repeat_window=repeat_window, health=health,
                            retention_seconds=retention, ready_max_pending_seconds=ready_age)


def _parse_route(entry: Section, sink_names: set[str]) -> RouteRule:
    sinks = entry.strings("sinks")
    if not sinks:
        entry.error("sinks", "required: the sinks this rule sends to")
    for name in sinks:
        if name not in sink_names:
            entry.error("sinks", f"unknown sink {name!r}" if SINK_NAME.match(name) else "unknown sink")
    minimum = entry.parsed("min_severity", Severity.parse, Severity.INFO)
    maximum = entry.parsed("max_severity", Severity.parse, Severity.CRITICAL)
    if maximum < minimum:
        entry.error("max_severity", "must not be below min_severity")
    rule = RouteRule(
        sinks=tuple(dict.fromkeys(s for s in sinks if s in sink_names)),
        name=entry.string("name"),
        min_severity=minimum,
        max_severity=maximum,
        detectors=tuple(entry.strings("detectors")),
        accounts=tuple(entry.strings("accounts")),
        tags=tuple(entry.strings("tags")),
    )
    entry.reject_unknown()
    return rule


def _parse_key(section: Section, key: str) -> tuple[str, ...] | None:
    if section.data.get(key) is None:
        section._read.add(key)
        return None
    fields = section.strings(key)
    bad = [f for f in fields if f not in KEY_FIELDS]
    if bad or not fields:
        section.error(key, f"use fields from: {', '.join(KEY_FIELDS)}")
        return None
    return tuple(fields)


def _parse_repeat_window(section: Section) -> RepeatWindowSettings:
    window = section.number("window_seconds", 600.0, minimum=0.0)
    key = _parse_key(section, "key") or ("account", "principal")
    per_detector: dict[str, DetectorRepeatWindow] = {}
    detectors = section.section("detectors")
    for detector_id in detectors.data:
        entry = detectors.section(str(detector_id))
        has_window = entry.data.get("window_seconds") is not None
        detector_window = entry.number("window_seconds", 0.0, minimum=0.0)
        per_detector[str(detector_id)] = DetectorRepeatWindow(
            window_seconds=detector_window if has_window else None, key=_parse_key(entry, "key"))
        entry.reject_unknown()
    section.reject_unknown()
    return RepeatWindowSettings(window_seconds=window, key=key, detectors=per_detector)


def _parse_health(section: Section, sink_names: set[str]) -> HealthSettings:
    notify = section.strings("notify")
    for name in notify:
        if name not in sink_names:
            section.error("notify", f"unknown sink {name!r}" if SINK_NAME.match(name) else "unknown sink")
    health = HealthSettings(
        consecutive_failures=section.integer("consecutive_failures", 5, minimum=1),
        pending_seconds=section.number("pending_seconds", 300.0, minimum=1.0),
        notify=tuple(n for n in notify if n in sink_names),
    )
    section.reject_unknown()
    return health


