"""Build a large CloudTrail corpus in S3 delivery layout for the benchmarks.

    python -m benchmarks.corpus --events 1000000 --out benchmarks/corpus/events-1000000

Objects of about `--object-bytes` uncompressed (default 2 MB, the size of a busy
account's five-minute CloudTrail file), one per account, region and five
minutes, with background traffic from `monitor.examples` and a scenario or trap
sprinkled into every few us-east-1 objects. A manifest (`.manifest.json`,
hidden from `scan`) records the parameters; a folder whose manifest matches is
reused instead of rebuilt.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from monitor.demo.background import background_events
from monitor.demo.builders import EXAMPLE_ORGANIZATION, EXAMPLE_START, GLOBAL_REGION
from monitor.demo.objects import cloudtrail_object_key, encode_records
from monitor.demo.scenarios import SCENARIOS, TRAPS

MANIFEST = ".manifest.json"
MANIFEST_FORMAT = 1
DEFAULT_DIR = Path(__file__).resolve().parent / "corpus"
DEFAULT_OBJECT_BYTES = 2_000_000
SLOT_SECONDS = 300
BENCH_ACCOUNTS = ("111122223333", "444455556666", "777788889999", "123456789012", "210987654321", "135792468024")
BENCH_REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
# One incident in every this many us-east-1 objects.
SCENARIO_EVERY = 4


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

    def same_parameters(self, other: Manifest) -> bool:
        return (self.format, self.events, self.seed, self.object_bytes, self.accounts, self.regions) == (
            other.format, other.events, other.seed, other.object_bytes, other.accounts, other.regions)


def read_manifest(directory: Path) -> Manifest | None:
    try:
        return Manifest(**orjson.loads((directory / MANIFEST).read_bytes()))
    except (OSError, TypeError, ValueError):
        return None


def _events_per_object(seed: int, object_bytes: int) -> int:
    """How many background events make an object of about `object_bytes` (measured on a sample)."""
    sample = background_events(random.Random(seed + 1), EXAMPLE_START, 3000, BENCH_ACCOUNTS[:1], BENCH_REGIONS[:1],
                               duration=SLOT_SECONDS)
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

    rng = random.Random(seed)
    per_object = _events_per_object(seed, object_bytes)
    wanted.events_per_object = per_object
    incidents = [*SCENARIOS, *TRAPS]
    scenarios: Counter[str] = Counter()
    remaining = events
    slot = 0
    started = time.monotonic()
    while remaining > 0:
        slot_start = EXAMPLE_START + slot * SLOT_SECONDS
        for account in accounts:
            for region in regions:
                if remaining <= 0:
                    break
                incident: list[dict[str, object]] = []
                if region == GLOBAL_REGION and wanted.objects % SCENARIO_EVERY == 0:
                    case = incidents[sum(scenarios.values()) % len(incidents)]
                    incident = case.build(rng, slot_start + rng.randrange(0, 60), account, GLOBAL_REGION)
                    incident = incident[:remaining]
                    scenarios[case.name] += 1
                count = min(remaining - len(incident), max(0, per_object - len(incident)))
                batch = background_events(rng, slot_start, count, [account], [region], duration=SLOT_SECONDS)
                batch.extend(incident)
                batch.sort(key=lambda e: e["eventTime"])
                raw = orjson.dumps({"Records": batch})
                key = cloudtrail_object_key(account, region, slot_start + SLOT_SECONDS + rng.randrange(30, 240), rng,
                                            EXAMPLE_ORGANIZATION)
                path = directory / key
                path.parent.mkdir(parents=True, exist_ok=True)
                data = encode_records(batch)
                path.write_bytes(data)
                remaining -= len(batch)
                wanted.objects += 1
                wanted.bytes_uncompressed += len(raw)
                wanted.bytes_compressed += len(data)
        slot += 1
        if log:
            done = events - remaining
            print(f"\rbuilding {directory}: {done:,}/{events:,} events, {wanted.objects} objects "
                  f"({time.monotonic() - started:.0f}s)", end="", file=sys.stderr, flush=True)
    if log:
        print(file=sys.stderr)
    wanted.scenarios = dict(sorted(scenarios.items()))
    (directory / MANIFEST).write_bytes(orjson.dumps(asdict(wanted), option=orjson.OPT_INDENT_2))
    return wanted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.corpus", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/corpus/events-N")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--object-bytes", type=int, default=DEFAULT_OBJECT_BYTES)
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be positive")
    out = args.out or DEFAULT_DIR / f"events-{args.events}"
    manifest = build_corpus(out, args.events, seed=args.seed, object_bytes=args.object_bytes)
    print(f"{out}: {manifest.events:,} events in {manifest.objects} objects, "
          f"{manifest.bytes_uncompressed / 1e6:,.0f} MB uncompressed, "
          f"{manifest.bytes_compressed / 1e6:,.0f} MB gzipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
