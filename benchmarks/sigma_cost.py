"""What SigmaHQ's CloudTrail rules cost: loading them, and the engine's events/s with and without them.

    python -m benchmarks.sigma_cost [--data ../shared/data] [--repeat 5] [--day 40000]

Loads the 57 rules of `sigmahq_aws_cloudtrail/` (best of `--repeat`), then runs detection and state
(decoding done once, beforehand) over the real events of the other folders and over a generated day of
the example organization, with the built-in catalog alone and with the catalog plus the 57 rules; each
run a fresh engine, best of `--repeat`. In process, single-threaded: a relative figure, not the scan's.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from monitor.decode import Slice, decode_slices
from monitor.demo.scenarios import example_day
from monitor.engine import Engine
from monitor.model import Detector
from monitor.rules.builtin import builtin_detectors
from monitor.rules.sigma import load_sigma_rules

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def best(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def slices_of(events: list[dict[str, object]], origin: str) -> list[Slice]:
    return list(decode_slices(orjson.dumps({"Records": events}), origin))


def run(detectors: list[Detector], parts: list[Slice]) -> None:
    engine = Engine(detectors)
    with engine.batch():
        for part in parts:
            engine.process(part)
    engine.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--day", type=int, default=40_000, help="background events of the generated day")
    args = parser.parse_args(argv)
    rules = args.data / "sigmahq_aws_cloudtrail"
    load_s = best(args.repeat, lambda: load_sigma_rules([rules]))
    sigma = load_sigma_rules([rules]).detectors
    builtins = builtin_detectors()
    print(f"load {len(sigma)} SigmaHQ rules: {load_s * 1000:.0f} ms (best of {args.repeat})")
    real: list[dict[str, object]] = []
    for path in sorted(args.data.glob("*/events.jsonl")):
        real.extend(orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip())
    day = sorted(example_day(random.Random(7), background=args.day), key=lambda event: str(event["eventTime"]))
    inputs = {"real events": slices_of(real, "real"), "example day": slices_of(day, "day")}
    print(f"{'input':<12} {'events':>7} {'configuration':<22} {'events/s':>9}")
    for name, parts in inputs.items():
        count = sum(len(part.events) for part in parts)
        for label, detectors in (("built-ins", builtins), ("built-ins + 57 Sigma", [*builtins, *sigma]),
                                 ("57 Sigma only", sigma), ("none", [])):
            seconds = best(args.repeat, lambda detectors=detectors, parts=parts: run(detectors, parts))
            print(f"{name:<12} {count:>7} {label:<22} {count / seconds:>9,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
