"""Build a large CloudTrail corpus in S3 delivery layout for the benchmarks, with the statistics of real trails.

    python -m benchmarks.corpus --events 1000000 --out benchmarks/corpus/events-1000000
    python -m benchmarks.corpus --stats benchmarks/corpus/events-1000000

Objects of about `--object-bytes` uncompressed (default 2 MB, the size of a busy account's five-minute
CloudTrail file), one per account, region and five minutes, in an organization trail's layout. The
background (benchmarks/cloudtrail_*.py) has real CloudTrail's shape and statistics: event sizes with a long
tail, a few events per second of event time, hundreds of principals, user agents and event names with a
realistic skew, errors, every userIdentity variant. A scenario or trap from `monitor.demo` is sprinkled
into every few us-east-1 objects so the detectors fire. A manifest (`.manifest.json`, hidden from `scan`)
records the parameters and the measured statistics; a folder whose manifest matches is reused.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from benchmarks.cloudtrail_templates import EventFactory
from benchmarks.corpus_stats import CorpusStats, format_stats, measure

# Everything this module takes from the demo corpus (scenarios, traps and the S3 key layout).
from monitor.demo.builders import EXAMPLE_ORGANIZATION, EXAMPLE_START, GLOBAL_REGION
from monitor.demo.objects import cloudtrail_object_key
from monitor.demo.scenarios import SCENARIOS, TRAPS

MANIFEST = ".manifest.json"
MANIFEST_FORMAT = 2
DEFAULT_DIR = Path(__file__).resolve().parent / "corpus"
DEFAULT_OBJECT_BYTES = 2_000_000
SLOT_SECONDS = 300
BENCH_ACCOUNTS = ("111122223333", "444455556666", "777788889999", "123456789012", "210987654321", "135792468024")
BENCH_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
# One incident in every this many objects (us-east-1 ones only: 1 in 12 objects with 3 regions).
SCENARIO_EVERY = 4
# CloudTrail objects also carry events delivered late: this share of an object's events comes from the
# STRAGGLER_SECONDS before its five minutes, and a few neighbours are out of order.
STRAGGLERS = 0.2
STRAGGLER_SECONDS = 90
OUT_OF_ORDER = 0.02


@dataclass
class Manifest:
    events: int
    seed: int
    object_bytes: int
    accounts: list[str]
    regions: list[str]
    format: int = MANIFEST_FORMAT
    objects: int = 0
    events_per_object: int = 0
    bytes_uncompressed: int = 0
    bytes_compressed: int = 0
    scenarios: dict[str, int] = field(default_factory=dict)
    build_seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)

    def same_parameters(self, other: Manifest) -> bool:
        return (self.format, self.events, self.seed, self.object_bytes, self.accounts, self.regions) == (
            other.format, other.events, other.seed, other.object_bytes, other.accounts, other.regions)


def read_manifest(directory: Path) -> Manifest | None:
    try:
        return Manifest(**orjson.loads((directory / MANIFEST).read_bytes()))
    except (OSError, TypeError, ValueError):
        return None


def object_times(rng: random.Random, start: int, count: int) -> list[int]:
    """`count` whole-second event times of the object covering [start, start + SLOT_SECONDS), in order."""
    late = int(count * STRAGGLERS)
    times = [start + int(rng.random() * SLOT_SECONDS) for _ in range(count - late)]
    times += [start - 1 - int(rng.random() * STRAGGLER_SECONDS) for _ in range(late)]
    times.sort()
    return times


def _jitter(rng: random.Random, events: list[dict[str, Any]]) -> None:
    """Swap a few neighbours: CloudTrail objects are only roughly in time order."""
    for index in range(len(events) - 1):
        if rng.random() < OUT_OF_ORDER:
            events[index], events[index + 1] = events[index + 1], events[index]


def _merge(background: list[dict[str, Any]], incident: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The incident's events placed among the background by time (the background keeps its order)."""
    if not incident:
        return background
    keys = [e["eventTime"] for e in background]
    merged = list(background)
    for event in sorted(incident, key=lambda e: e["eventTime"], reverse=True):
        index = bisect.bisect_right(keys, event["eventTime"])
        merged.insert(index, event)
        keys.insert(index, event["eventTime"])
    return merged


def _events_per_object(factory: EventFactory, seed: int, object_bytes: int) -> int:
    """How many events make an object of about `object_bytes` (measured on a sample)."""
    rng = random.Random(f"{seed}/sample")
    start = int(EXAMPLE_START)
    sample: list[dict[str, Any]] = []
    for account in BENCH_ACCOUNTS[:2]:
        for region in BENCH_REGIONS:
            sample += factory.events(rng, object_times(rng, start, 1000), account, region)
    average = len(orjson.dumps({"Records": sample})) / len(sample)
    return max(1, round(object_bytes / average))


def build_corpus(directory: Path, events: int, *, seed: int = 1, object_bytes: int = DEFAULT_OBJECT_BYTES,
                 accounts: tuple[str, ...] = BENCH_ACCOUNTS, regions: tuple[str, ...] = BENCH_REGIONS,
                 log: bool = True) -> Manifest:
    """Build (or reuse) a corpus of exactly `events` events under `directory`."""
    wanted = Manifest(events=events, seed=seed, object_bytes=object_bytes, accounts=list(accounts),
                      regions=list(regions))
    existing = read_manifest(directory)
    if existing is not None and existing.same_parameters(wanted):
        present = sum(1 for _ in directory.rglob("*.json.gz"))
        if present == existing.objects:
            if log:
                print(f"reusing {directory} ({existing.events:,} events, {existing.objects} objects)", file=sys.stderr)
            return existing
    if directory.exists():
        for old in directory.rglob("*.json.gz"):
            old.unlink()
        (directory / MANIFEST).unlink(missing_ok=True)
    directory.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    factory = EventFactory(accounts, regions, GLOBAL_REGION)
    per_object = _events_per_object(factory, seed, object_bytes)
    wanted.events_per_object = per_object
    incidents = [*SCENARIOS, *TRAPS]
    scenarios: Counter[str] = Counter()
    stats = CorpusStats()
    remaining = events
    slot = 0
    while remaining > 0:
        slot_start = int(EXAMPLE_START) + slot * SLOT_SECONDS
        for account in accounts:
            for region in regions:
                if remaining <= 0:
                    break
                # Each object has its own generator: the same seed gives the same bytes, object by object.
                rng = random.Random(f"{seed}/{wanted.objects}")
                incident: list[dict[str, Any]] = []
                if region == GLOBAL_REGION and wanted.objects % SCENARIO_EVERY == 0:
                    case = incidents[sum(scenarios.values()) % len(incidents)]
                    incident = case.build(rng, slot_start + rng.randrange(0, 60), account, GLOBAL_REGION)
                    incident = incident[:remaining]
                    scenarios[case.name] += 1
                count = min(remaining - len(incident), max(0, per_object - len(incident)))
                background = factory.events(rng, object_times(rng, slot_start, count), account, region)
                _jitter(rng, background)
                batch = _merge(background, incident)
                encoded = [orjson.dumps(e) for e in batch]
                raw = b'{"Records":[' + b",".join(encoded) + b"]}"
                data = gzip.compress(raw, compresslevel=6, mtime=0)
                key = cloudtrail_object_key(account, region, slot_start + SLOT_SECONDS + rng.randrange(30, 240), rng,
                                            EXAMPLE_ORGANIZATION)
                path = directory / key
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                stats.add_object(batch, [len(e) for e in encoded])
                remaining -= len(batch)
                wanted.objects += 1
                wanted.bytes_uncompressed += len(raw)
                wanted.bytes_compressed += len(data)
        slot += 1
        if log:
            print(f"\rbuilding {directory}: {events - remaining:,}/{events:,} events, {wanted.objects} objects "
                  f"({time.monotonic() - started:.0f}s)", end="", file=sys.stderr, flush=True)
    if log:
        print(file=sys.stderr)
    wanted.scenarios = dict(sorted(scenarios.items()))
    wanted.build_seconds = round(time.monotonic() - started, 1)
    wanted.stats = stats.summary()
    (directory / MANIFEST).write_bytes(orjson.dumps(asdict(wanted), option=orjson.OPT_INDENT_2))
    return wanted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.corpus", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/corpus/events-N")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--object-bytes", type=int, default=DEFAULT_OBJECT_BYTES)
    parser.add_argument("--stats", type=Path, metavar="DIR", help="print the statistics of a built corpus")
    args = parser.parse_args(argv)
    if args.stats is not None:
        if not args.stats.is_dir():
            parser.error(f"{args.stats} is not a directory")
        print(format_stats(measure(args.stats)))
        return 0
    if args.events < 1:
        parser.error("--events must be positive")
    out = args.out or DEFAULT_DIR / f"events-{args.events}"
    manifest = build_corpus(out, args.events, seed=args.seed, object_bytes=args.object_bytes)
    print(f"{out}: {manifest.events:,} events in {manifest.objects} objects, "
          f"{manifest.bytes_uncompressed / 1e6:,.0f} MB uncompressed, "
          f"{manifest.bytes_compressed / 1e6:,.0f} MB gzipped, built in {manifest.build_seconds:.0f} s")
    print(format_stats(manifest.stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
