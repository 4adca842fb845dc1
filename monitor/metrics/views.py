"""What the metrics read of each stage, as protocols: the metrics package imports no stage for it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from monitor.alerts.stats import AlertingStats


class SourceCounters(Protocol):
    """What the metrics read of the pipeline's per-source counters (monitor.pipeline.SourceCounters)."""

    @property
    def batches(self) -> int: ...

    @property
    def batches_failed(self) -> int: ...

    @property
    def batches_quarantined(self) -> int: ...

    @property
    def events(self) -> int: ...

    @property
    def bytes(self) -> int: ...

    @property
    def duplicates(self) -> int: ...

    @property
    def ack_errors(self) -> int: ...

    @property
    def restarts(self) -> int: ...

    @property
    def queued(self) -> int: ...

    @property
    def issues(self) -> Mapping[str, int]: ...

    @property
    def skipped(self) -> Mapping[str, int]: ...

    @property
    def newest_event_time(self) -> float: ...

    @property
    def last_batch_at(self) -> float: ...


class PipelineCounters(Protocol):
    """What the metrics read of the pipeline (monitor.pipeline.PipelineCounters)."""

    @property
    def alerts_recorded(self) -> int: ...

    @property
    def record_failures(self) -> int: ...

    @property
    def checkpoints(self) -> int: ...

    @property
    def checkpoint_failures(self) -> int: ...

    @property
    def commits(self) -> int: ...

    @property
    def commit_failures(self) -> int: ...

    @property
    def batches_committed(self) -> int: ...

    @property
    def conflicts(self) -> int: ...

    @property
    def sources(self) -> Mapping[str, SourceCounters]: ...

    @property
    def queue_capacity(self) -> int: ...


class Alerting(Protocol):
    """What the metrics read from the alert delivery stage (monitor.alerts.service.Alerting)."""

    def stats(self) -> AlertingStats: ...


class ReplicaView(Protocol):
    """What the metrics read of a replica sharing its state (monitor.replicas.runtime.Replication)."""

    def state_up(self) -> bool: ...

    def round_trips(self) -> Mapping[str, int]: ...

    def leases_held(self) -> Mapping[str, bool]: ...
