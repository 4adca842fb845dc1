"""The statistics a benchmark corpus is built to match, measured on its records.

Sizes are of one record as compact JSON. "Events per distinct second" is counted within each object
(CloudTrail writes whole-second times; a 5-minute object of a busy account repeats each second a few
times) and, for reference, over the whole corpus, where every account and region shares the clock.
"""

from __future__ import annotations

import gzip
from array import array
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson


class CorpusStats:
    def __init__(self) -> None:
        self.sizes = array("I")
        self.objects = 0
        self.object_seconds = 0
        self.seconds: set[str] = set()
        self.principals: set[str] = set()
        self.agents: set[str] = set()
        self.names: set[str] = set()
        self.sources: set[str] = set()
        self.errors = 0
        self.types: Counter[str] = Counter()

    def add_object(self, records: list[dict[str, Any]], sizes: list[int] | None = None) -> None:
        """Count one object's records (`sizes`: their compact JSON sizes, when already known)."""
        self.objects += 1
        self.sizes.extend(sizes if sizes is not None else [len(orjson.dumps(r)) for r in records])
        times = {r.get("eventTime") for r in records}
        self.object_seconds += len(times)
        self.seconds.update(t for t in times if isinstance(t, str))
        types = self.types
        for record in records:
            identity = record.get("userIdentity")
            if isinstance(identity, dict):
                arn = identity.get("arn")
                if isinstance(arn, str) and arn:
                    self.principals.add(arn)
                types[str(identity.get("type", "(none)"))] += 1
            else:
                types["(none)"] += 1
            agent = record.get("userAgent")
            if isinstance(agent, str):
                self.agents.add(agent)
            self.names.add(str(record.get("eventName")))
            self.sources.add(str(record.get("eventSource")))
            if "errorCode" in record:
                self.errors += 1

    def summary(self) -> dict[str, Any]:
        events = len(self.sizes)
        ordered = sorted(self.sizes)

        def quantile(q: float) -> int:
            return ordered[min(events - 1, int(q * events))] if events else 0

        return {
            "events": events,
            "objects": self.objects,
            "size_bytes": {"mean": round(sum(ordered) / events) if events else 0, "p50": quantile(0.5),
                           "p99": quantile(0.99), "max": ordered[-1] if events else 0},
            "events_per_distinct_second": round(events / self.object_seconds, 2) if self.object_seconds else 0.0,
            "events_per_distinct_second_corpus": round(events / len(self.seconds), 1) if self.seconds else 0.0,
            "distinct": {"principals": len(self.principals), "user_agents": len(self.agents),
                         "event_names": len(self.names), "event_sources": len(self.sources)},
            "error_share": round(self.errors / events, 4) if events else 0.0,
            "identity_types": {k: round(v / events, 4) for k, v in self.types.most_common()} if events else {},
        }


def read_objects(directory: Path) -> Iterator[list[dict[str, Any]]]:
    """The records of every CloudTrail object (`*.json.gz` holding {"Records": [...]}) under `directory`."""
    for path in sorted(directory.rglob("*.json.gz")):
        records = orjson.loads(gzip.decompress(path.read_bytes())).get("Records")
        if isinstance(records, list):
            yield [r for r in records if isinstance(r, dict)]


def measure(directory: Path) -> dict[str, Any]:
    stats = CorpusStats()
    for records in read_objects(directory):
        stats.add_object(records)
    return stats.summary()


def format_stats(summary: dict[str, Any]) -> str:
    size = summary["size_bytes"]
    distinct = summary["distinct"]
    types = ", ".join(f"{k} {v:.1%}" for k, v in summary["identity_types"].items())
    return "\n".join((
        f"events                      {summary['events']:,} in {summary['objects']:,} objects",
        f"event size (bytes)          mean {size['mean']:,}  p50 {size['p50']:,}  p99 {size['p99']:,}  "
        f"max {size['max']:,}",
        f"events per distinct second  {summary['events_per_distinct_second']} within an object, "
        f"{summary['events_per_distinct_second_corpus']} over the corpus",
        f"distinct                    {distinct['principals']:,} principals, {distinct['user_agents']:,} user agents, "
        f"{distinct['event_names']:,} event names, {distinct['event_sources']:,} event sources",
        f"errors                      {summary['error_share']:.1%} of events",
        f"identity types              {types}",
    ))
