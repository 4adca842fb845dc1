"""Histograms kept as plain lists per label value and turned into a Prometheus family at scrape time.

One `observe` per batch costs a bisect and two additions, under a lock (the
scrape reads from another thread).
"""

from __future__ import annotations

import bisect
import math
import threading

from prometheus_client.core import HistogramMetricFamily

from monitor.metrics.catalogue import BY_NAME, LAG_BUCKETS


class LabelledHistogram:
    """A histogram per value of one label (a source, an operation) kept as plain lists."""

    def __init__(self, buckets: tuple[float, ...] = LAG_BUCKETS, label: str = "source") -> None:
        self.buckets = buckets
        self.label = label
        self._lock = threading.Lock()
        self._series: dict[str, tuple[list[int], list[float]]] = {}  # label value -> (bucket counts, [sum])

    def observe(self, key: str, value: float) -> None:
        index = bisect.bisect_left(self.buckets, value)  # first bucket with le >= value
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = ([0] * (len(self.buckets) + 1), [0.0])
            series[0][index] += 1
            series[1][0] += value

    def family(self, name: str) -> HistogramMetricFamily:
        family = HistogramMetricFamily(name, BY_NAME[name].help, labels=[self.label])
        with self._lock:
            snapshot = {source: (list(counts), total[0]) for source, (counts, total) in self._series.items()}
        for source, (counts, total) in sorted(snapshot.items()):
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                cumulative += count
                buckets.append((_le(bound), cumulative))
            family.add_metric([source], buckets, total)
        return family


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)
