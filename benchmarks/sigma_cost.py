"""What SigmaHQ's CloudTrail rules cost: loading them, and the engine's events/s with and without them.

    python -m benchmarks.sigma_cost [--data ../shared/data] [--repeat 5] [--day 40000]

Loads the 57 rules of `sigmahq_aws_cloudtrail/` (best of `--repeat`), then runs detection and state
(decoding done once, beforehand) over the real events of the other folders and over a generated day of
the example organization, with the built-in catalog alone and with the catalog plus the 57 rules; each
run a fresh engine, best of `--repeat`; and detection alone (the collector paused), in microseconds per
event. In process, single-threaded: a relative figure, not the scan's.
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import orjson

from monitor.decode import Slice, decode_slices
from monitor.demo.scenarios import example_day
from monitor.engine import Engine
from monitor.engine.detect import Detection
from monitor.model import Detector
from monitor.rules.builtin import builtin_detectors
from monitor.rules.sigma import load_sigma_rules

NOISY = "sigma-aws-sts-assumerole-misuse"
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


def detect_only(detectors: list[Detector], parts: list[Slice]) -> None:
    detection = Detection(detectors)
    for part in parts:
        detection.detect(part)


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
    # SigmaHQ's "AWS STS AssumeRole Misuse" matches every call of a role session: one alert per event.
    quieter = [d for d in sigma if d.id != NOISY]
    print(f"load {len(sigma)} SigmaHQ rules: {load_s * 1000:.0f} ms (best of {args.repeat})")
    real: list[dict[str, object]] = []
    for path in sorted(args.data.glob("*/events.jsonl")):
        real.extend(orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip())
    day = sorted(example_day(random.Random(7), background=args.day), key=lambda event: str(event["eventTime"]))
    inputs = {"real events": slices_of(real, "real"), "example day": slices_of(day, "day")}
    print(f"{'input':<12} {'events':>7} {'configuration':<22} {'engine ev/s':>11} {'detect us/ev':>12}"
          f"   (56 Sigma: without {NOISY})")
    for name, parts in inputs.items():
        count = sum(len(part.events) for part in parts)
        configurations: list[tuple[str, list[Detector]]] = [
            ("none", []), ("built-ins", builtins), ("built-ins + 57 Sigma", [*builtins, *sigma]),
            ("57 Sigma only", sigma), ("56 Sigma only", quieter)]
        for label, detectors in configurations:
            engine_s = best(args.repeat, partial(run, detectors, parts))
            gc.disable()  # detection alone, without the collector's pauses: the steadier figure on a busy machine
            try:
                detect_s = best(args.repeat, partial(detect_only, detectors, parts))
            finally:
                gc.enable()
            print(f"{name:<12} {count:>7} {label:<22} {count / engine_s:>11,.0f} {detect_s / count * 1e6:>12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
