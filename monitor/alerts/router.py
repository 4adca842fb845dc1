"""Routing: which sinks an alert goes to, and which alerts count as repeats of one another.

Rules are evaluated when an alert is recorded. Within a rule every condition
must hold (a list matches if any entry does); an alert goes to the union of
the sinks of every matching rule, then each sink's `min_severity` applies.
Without rules every alert goes to every sink. Tags are the alert's MITRE
technique ids plus any strings in `context["tags"]`.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from monitor.alerts.settings import RepeatWindowSettings, RouteRule
from monitor.alerts.sink_settings import SinkSettings
from monitor.model.alert import Alert, fingerprint


def alert_tags(alert: Alert) -> list[str]:
    tags = list(alert.mitre)
    extra = alert.context.get("tags")
    if isinstance(extra, list):
        tags.extend(t for t in extra if isinstance(t, str))
    return tags


def _any_glob(patterns: tuple[str, ...], values: Iterable[str]) -> bool:
    return any(fnmatchcase(value, pattern) for pattern in patterns for value in values if value)


class Router:
    def __init__(self, sinks: Iterable[SinkSettings], rules: Iterable[RouteRule]) -> None:
        self._sinks = {s.name: s for s in sinks}
        self._rules = tuple(rules)

    def route(self, alert: Alert) -> list[str]:
        if self._rules:
            chosen: dict[str, None] = {}
            for rule in self._rules:
                if self.matches(rule, alert):
                    chosen.update(dict.fromkeys(rule.sinks))
            names = list(chosen)
        else:
            names = list(self._sinks)
        return [n for n in names if n in self._sinks and alert.severity >= self._sinks[n].min_severity]

    @staticmethod
    def matches(rule: RouteRule, alert: Alert) -> bool:
        if not rule.min_severity <= alert.severity <= rule.max_severity:
            return False
        if rule.detectors and not _any_glob(rule.detectors, [alert.detector]):
            return False
        if rule.accounts and not _any_glob(rule.accounts, [alert.account, alert.account_alias]):
            return False
        return not (rule.tags and not _any_glob(rule.tags, alert_tags(alert)))


class RepeatWindow:
    """Per-detector repeat windows and the key that makes two alerts repeats of each other."""

    def __init__(self, settings: RepeatWindowSettings) -> None:
        self._settings = settings

    def _override(self, detector: str) -> tuple[float, tuple[str, ...]]:
        window, key = self._settings.window_seconds, self._settings.key
        exact = self._settings.detectors.get(detector)
        candidates = [exact] if exact is not None else [
            v for k, v in self._settings.detectors.items() if fnmatchcase(detector, k)]
        for entry in candidates[:1]:
            if entry.window_seconds is not None:
                window = entry.window_seconds
            if entry.key is not None:
                key = entry.key
        return window, key

    def window(self, detector: str) -> float:
        return self._override(detector)[0]

    def group_key(self, alert: Alert) -> str:
        _, key = self._override(alert.detector)
        values = [str(getattr(alert, name, "")) for name in key]
        return fingerprint(alert.detector, *key, *values)
