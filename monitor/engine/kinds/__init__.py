"""One module per stateful kind, each written once against the state store (`monitor.engine.state`)."""

from __future__ import annotations

from collections.abc import Mapping

from monitor.engine.episodes import Episodes
from monitor.engine.kinds.base import Batch, Fired, Kind
from monitor.engine.kinds.distinct import DistinctKind
from monitor.engine.kinds.first_seen import FirstSeenKind
from monitor.engine.kinds.ordered import OrderedKind
from monitor.engine.kinds.plain import Grouped, Single
from monitor.engine.kinds.preceded import PrecededKind
from monitor.engine.kinds.rate import RateKind
from monitor.engine.kinds.sequence import SequenceKind
from monitor.engine.kinds.threshold import ThresholdKind
from monitor.engine.state.store import StateStore
from monitor.model.detector import (
    Detector,
    DistinctCount,
    FirstSeen,
    Ordered,
    Preceded,
    RateBaseline,
    Sequences,
    Threshold,
)


def kind_for(detector: Detector, store: StateStore, episodes: Episodes, account_aliases: Mapping[str, str],
             lateness: float) -> Kind:
    """The kind that carries out a detector's declared state (or its plain grouping)."""
    state = detector.state
    kind: type[Kind]
    if isinstance(state, Threshold):
        kind = ThresholdKind
    elif isinstance(state, DistinctCount):
        kind = DistinctKind
    elif isinstance(state, Preceded):
        kind = PrecededKind
    elif isinstance(state, FirstSeen):
        kind = FirstSeenKind
    elif isinstance(state, RateBaseline):
        kind = RateKind
    elif isinstance(state, Ordered):
        kind = OrderedKind
    elif isinstance(state, Sequences):
        kind = SequenceKind
    else:
        kind = Grouped if detector.group_by is not None else Single
    return kind(detector, store, episodes, account_aliases, lateness)


__all__ = ["Batch", "Fired", "Kind", "kind_for"]
