"""Per-event cost of the learning detectors on a decoded corpus.

    python -m benchmarks.corpus --events 200000 --out /tmp/learners-corpus
    python -m benchmarks.learners /tmp/learners-corpus

The corpus is decoded once, outside the timing. Each variant then runs over every slice with the cyclic
collector paused, best (and median) of `--rounds`, in microseconds per event:

- detect:  `Detection(detectors).detect(slice)`, the half of the engine that runs each `match`
- engine:  `Engine(detectors).process(slice)`, detection and the state (histories, episodes) together,
           a fresh engine per round

with no detectors (the dispatch floor), the seven learners, and each learner alone (detect only).

An older checkout whose engine has no `detect` module (e.g. 552c897, with the learners' shared profile
path) is timed the same way with `PYTHONPATH=<checkout> python benchmarks/learners.py CORPUS`: its
`Engine.process` on the dict events its decoder gives (the "engine" rows only).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import monitor

LEARNERS = ("new_source_ip_for_principal", "new_user_agent_for_principal", "new_region_for_principal",
            "iam_user_shared", "instance_credentials_used_elsewhere", "workload_credentials_used_elsewhere",
            "model_invocation_burst")

try:
    from monitor.engine.detect import Detection
    TYPED = True
except ImportError:  # an engine before the typed model: one `process` over dict events
    TYPED = False


def learner(name: str) -> Any:
    package = "detectors.learners" if TYPED else "detectors"  # before the subject folders
    return importlib.import_module(f"{package}.{name}").DETECTOR


def decoded(corpus: Path) -> tuple[list[Any], int]:
    """Every slice of the corpus (or, for an old engine, every file's events) and the event count."""
    paths = sorted(corpus.rglob("*.json.gz"))
    if TYPED:
        from monitor.decode import decode_slices
        parts = [part for path in paths for part in decode_slices(path.read_bytes(), str(path)) if part.events]
        return parts, sum(len(part.events) for part in parts)
    from monitor.decode import decode_bytes
    files = [(decode_bytes(path.read_bytes(), str(path)).events, str(path)) for path in paths]
    return files, sum(len(events) for events, _ in files)


def timed(runs: Sequence[Callable[[], None]], rounds: int) -> list[list[float]]:
    """Seconds per round of each run; a round runs each once, so a busy moment of the machine hits all alike."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(rounds):
        for run, taken in zip(runs, times, strict=True):
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                run()
                taken.append(time.perf_counter() - start)
            finally:
                gc.enable()
    return times


def detect_run(detectors: Sequence[Any], parts: list[Any]) -> Callable[[], None]:
    detection = Detection(list(detectors))

    def run() -> None:
        for part in parts:
            detection.detect(part)
    return run


def engine_run(detectors: Sequence[Any], parts: list[Any]) -> Callable[[], None]:
    from monitor.engine import Engine

    def run() -> None:
        engine = Engine(list(detectors))
        if TYPED:
            for part in parts:
                engine.process(part)
        else:
            process: Any = engine.process  # (events, origin) before the typed model
            for events, origin in parts:
                process(events, origin)
        engine.flush()
    return run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path, help="a folder built by benchmarks.corpus")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    parts, events = decoded(args.corpus)
    learners = [learner(name) for name in LEARNERS]
    print(f"{events:,} events from {args.corpus} ({Path(monitor.__file__).parent.parent}), "
          f"best and median of {args.rounds} rounds, microseconds per event")
    variants: list[tuple[str, Callable[[], None]]] = [
        ("engine, none", engine_run([], parts)), ("engine, learners", engine_run(learners, parts))]
    if TYPED:
        variants += [("detect, none", detect_run([], parts)), ("detect, learners", detect_run(learners, parts))]
        variants += [(f"detect, {d.id} alone", detect_run([d], parts)) for d in learners]
    for (name, _), times in zip(variants, timed([run for _, run in variants], args.rounds), strict=True):
        print(f"  {name:<54} {min(times) / events * 1e6:7.3f}  {statistics.median(times) / events * 1e6:7.3f}")


if __name__ == "__main__":
    main()
