"""Apply per-detector settings to the detectors the engine is given (monitor/rules/builtin.py finds the catalog)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from monitor.engine.sequence_rules import SequenceError, configured_sequences
from monitor.engine.settings import DetectorSettings
from monitor.model.detector import (
    Detector,
    DistinctCount,
    FirstSeen,
    Ordered,
    Preceded,
    RateBaseline,
    Sequences,
    StateKind,
    Threshold,
)


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
        params = changes["params"] = {**detector.params, **setting.params}
        if isinstance(detector.state, Sequences):  # named sequences are checked now, not when the engine starts
            try:
                configured_sequences(params.get("sequences"), params.get("extra_sequences"))
            except SequenceError as exc:
                raise RegistryError(f"{detector.id}: {exc}") from None
    if setting.extra_events:
        if detector.all_events:
            raise RegistryError(f"{detector.id}: sees every event already; extra_events does not apply")
        changes["events"] = detector.events | setting.extra_events
    if setting.episode_seconds is not None:
        changes["episode_seconds"] = setting.episode_seconds
    if setting.threshold is not None or setting.window_seconds is not None:
        changes["state"] = _window_changes(detector, setting)
    if setting.learning_seconds is not None:
        # On top of any window change above, not instead of it.
        state = changes.get("state", detector.state)
        if not isinstance(state, FirstSeen | RateBaseline):
            raise RegistryError(f"{detector.id}: has no learning period to configure")
        changes["state"] = dataclasses.replace(state, learning_seconds=setting.learning_seconds)
    return dataclasses.replace(detector, **changes) if changes else detector  # type: ignore[arg-type]


def _window_changes(detector: Detector, setting: DetectorSettings) -> StateKind:
    """`threshold` and `window_seconds` mean the count and window of whichever kind the detector declares."""
    count, window = setting.threshold, setting.window_seconds
    state = detector.state
    if isinstance(state, Threshold | DistinctCount | Preceded):
        return dataclasses.replace(state, count=count or state.count, window_seconds=window or state.window_seconds)
    if isinstance(state, FirstSeen) and state.min_distinct > 1:
        return dataclasses.replace(state, min_distinct=count or state.min_distinct,
                                   history_seconds=window or state.history_seconds)
    if isinstance(state, FirstSeen) and state.learning_burst > 0:
        # The threshold of a learner with a burst rule: how many values a brand-new key's burst needs.
        return dataclasses.replace(state, learning_burst=count or state.learning_burst,
                                   history_seconds=window or state.history_seconds)
    if isinstance(state, FirstSeen) and count is None and window is not None:
        return dataclasses.replace(state, history_seconds=window)
    if isinstance(state, Ordered) and count is None and window is not None:
        return dataclasses.replace(state, window_seconds=window)
    if isinstance(state, Sequences):  # the threshold: how many tactics; the window: the sliding window
        return dataclasses.replace(state, min_tactics=count or state.min_tactics,
                                   window_seconds=window or state.window_seconds)
    if isinstance(state, RateBaseline):
        return dataclasses.replace(state, min_count=count or state.min_count,
                                   history_seconds=window or state.history_seconds)
    raise RegistryError(f"{detector.id}: has no threshold or window to configure"
                        + (" (first-seen detectors take only window_seconds, their history)"
                           if isinstance(state, FirstSeen) else ""))
