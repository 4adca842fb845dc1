"""Apply per-detector settings to the detectors the engine is given (monitor/rules/builtin.py finds the catalog)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from monitor.engine.settings import DetectorSettings
from monitor.model.detector import Detector, FirstSeen, RateBaseline, Threshold


class RegistryError(ValueError):
    pass


def configure(detectors: Iterable[Detector], settings: Mapping[str, DetectorSettings]) -> list[Detector]:
    """Apply settings; disabled detectors are left out. Unknown ids are an error."""
    by_id = {d.id: d for d in detectors}
    unknown = sorted(set(settings) - set(by_id))
    if unknown:
        raise RegistryError(f"settings name unknown detectors: {', '.join(unknown)}")
    result: list[Detector] = []
    for detector in by_id.values():
        setting = settings.get(detector.id)
        if setting is None:
            result.append(detector)
        elif setting.enabled:
            result.append(apply_settings(detector, setting))
    return result


def apply_settings(detector: Detector, setting: DetectorSettings) -> Detector:
    unknown_params = sorted(set(setting.params) - set(detector.params))
    if unknown_params:
        raise RegistryError(f"{detector.id}: unknown params {', '.join(unknown_params)}")
    changes: dict[str, object] = {}
    if setting.severity is not None:
        changes["severity"] = setting.severity
    if setting.params:
        changes["params"] = {**detector.params, **setting.params}
    if setting.extra_events:
        if detector.all_events:
            raise RegistryError(f"{detector.id}: sees every event already; extra_events does not apply")
        changes["events"] = detector.events | setting.extra_events
    if setting.episode_seconds is not None:
        changes["episode_seconds"] = setting.episode_seconds
    if setting.threshold is not None or setting.window_seconds is not None:
        changes.update(_window_changes(detector, setting))
    if setting.learning_seconds is not None:
        # On top of any window change above, not instead of it.
        first_seen = changes.get("first_seen", detector.first_seen)
        rate = changes.get("rate", detector.rate)
        if isinstance(first_seen, FirstSeen):
            changes["first_seen"] = dataclasses.replace(first_seen, learning_seconds=setting.learning_seconds)
        elif isinstance(rate, RateBaseline):
            changes["rate"] = dataclasses.replace(rate, learning_seconds=setting.learning_seconds)
        else:
            raise RegistryError(f"{detector.id}: has no learning period to configure")
    return dataclasses.replace(detector, **changes) if changes else detector  # type: ignore[arg-type]


def _window_changes(detector: Detector, setting: DetectorSettings) -> dict[str, object]:
    """`threshold` and `window_seconds` mean the count and window of whichever kind the detector declares."""
    count, window = setting.threshold, setting.window_seconds
    if detector.threshold is not None:
        return {"threshold": Threshold(count=count or detector.threshold.count,
                                       window_seconds=window or detector.threshold.window_seconds)}
    if detector.distinct is not None:
        return {"distinct": dataclasses.replace(detector.distinct, count=count or detector.distinct.count,
                                                window_seconds=window or detector.distinct.window_seconds)}
    if detector.preceded is not None:
        return {"preceded": dataclasses.replace(detector.preceded, count=count or detector.preceded.count,
                                                window_seconds=window or detector.preceded.window_seconds)}
    if detector.first_seen is not None and detector.first_seen.min_distinct > 1:
        spec = detector.first_seen
        return {"first_seen": dataclasses.replace(spec, min_distinct=count or spec.min_distinct,
                                                  history_seconds=window or spec.history_seconds)}
    if detector.first_seen is not None and count is None and window is not None:
        return {"first_seen": dataclasses.replace(detector.first_seen, history_seconds=window)}
    if detector.rate is not None:
        return {"rate": dataclasses.replace(detector.rate, min_count=count or detector.rate.min_count,
                                            history_seconds=window or detector.rate.history_seconds)}
    raise RegistryError(f"{detector.id}: has no threshold or window to configure"
                        + (" (first-seen detectors take only window_seconds, their history)"
                           if detector.first_seen is not None else ""))
