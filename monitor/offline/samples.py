"""Run each detector's sample events through a fresh engine and compare the verdicts.

A samples file is a JSON array of cases:
`{"name": str, "events": [event, ...], "expect": {"alerts": int, "severity"?: str, "count"?: int,
"title"?: str, "context"?: {...}}, "params"?: {...}, "with"?: [detector id, ...]}`. `alerts` counts the
detector's distinct alert ids (signals included); `severity`, `count`, `title` and `context` (each named key
with that value) are checked on its first alert after every episode has closed. `with` runs other
detectors of the catalog beside it (a correlation such as attack-sequence needs their alerts as steps).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from monitor.decode import decode_bytes
from monitor.engine import Engine, EngineSettings
from monitor.engine.registry import apply_settings
from monitor.engine.settings import DetectorSettings
from monitor.model import Alert, Detector


@dataclass(frozen=True, slots=True)
class SampleResult:
    detector: str
    name: str
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems


def samples_path(detector: Detector) -> Path:
    module = sys.modules.get(detector.match.__module__) or importlib.import_module(detector.match.__module__)
    if module.__file__ is None:
        raise FileNotFoundError(f"{detector.id}: module has no file")
    return Path(module.__file__).with_suffix(".samples.json")


def load_cases(path: Path) -> list[dict[str, Any]]:
    cases = orjson.loads(path.read_bytes())
    if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
        raise ValueError(f"{path}: expected a JSON array of sample cases")
    return cases


def run_case(detector: Detector, case: dict[str, Any], catalog: Sequence[Detector] = ()) -> SampleResult:
    name = str(case.get("name", "unnamed"))
    expect = case.get("expect")
    events = case.get("events")
    if not isinstance(expect, dict) or not isinstance(events, list):
        return SampleResult(detector.id, name, ("case needs 'expect' (object) and 'events' (array)",))
    params = case.get("params") or {}
    configured = apply_settings(detector, DetectorSettings(params=params)) if params else detector
    beside = with_detectors(case, catalog)
    if isinstance(beside, str):
        return SampleResult(detector.id, name, (beside,))
    engine = Engine([configured, *beside], EngineSettings())
    alerts: dict[str, Alert] = {}
    part = decode_bytes(orjson.dumps({"Records": events}), f"{detector.id} sample")
    for alert in [*engine.process(part).alerts, *engine.flush()]:
        if alert.detector == detector.id:
            alerts[alert.id] = alert
    problems: list[str] = []
    errors = engine.stats.detector_errors.get(detector.id, 0)
    if errors:
        problems.append(f"detector raised on {errors} event(s)")
    want = int(expect.get("alerts", 0))
    if len(alerts) != want:
        problems.append(f"expected {want} alert(s), got {len(alerts)}")
    first = next(iter(alerts.values()), None)
    if first is not None:
        if "severity" in expect and first.severity.label != expect["severity"]:
            problems.append(f"expected severity {expect['severity']}, got {first.severity.label}")
        if "count" in expect and first.count != expect["count"]:
            problems.append(f"expected count {expect['count']}, got {first.count}")
        if "title" in expect and first.title != expect["title"]:
            problems.append(f"expected title {expect['title']!r}, got {first.title!r}")
        wanted = expect.get("context") or {}
        for key, value in wanted.items() if isinstance(wanted, dict) else ():
            if first.context.get(key) != value:
                problems.append(f"expected context {key}={value!r}, got {first.context.get(key)!r}")
    return SampleResult(detector.id, name, tuple(problems))


def with_detectors(case: dict[str, Any], catalog: Sequence[Detector]) -> list[Detector] | str:
    """The catalog detectors a case runs beside its own (`with`), or what is wrong with the list."""
    wanted = case.get("with") or []
    if not isinstance(wanted, list) or not all(isinstance(name, str) for name in wanted):
        return "'with' lists detector ids"
    by_id = {detector.id: detector for detector in catalog}
    missing = sorted(set(wanted) - set(by_id))
    if missing:
        return f"'with' names detectors not in the catalog: {', '.join(missing)}"
    return [by_id[name] for name in wanted]


def run_samples(detector: Detector, catalog: Sequence[Detector] = ()) -> list[SampleResult]:
    path = samples_path(detector)
    if not path.exists():
        return [SampleResult(detector.id, "(samples file)", (f"missing {path.name}",))]
    cases = load_cases(path)
    results = [run_case(detector, case, catalog) for case in cases]
    positives = sum(1 for c in cases if isinstance(c.get("expect"), dict) and c["expect"].get("alerts", 0) > 0)
    if positives == 0 or positives == len(cases):
        results.append(SampleResult(detector.id, "(samples file)",
                                    ("needs at least one case that fires and one near miss that does not",)))
    return results
