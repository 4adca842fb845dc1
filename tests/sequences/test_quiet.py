"""Normal life gives no incidents: real benign events, the demo's background, a day of the benchmark corpus.

Administrators span tactics in a day (create a role, attach a policy, read a secret); the sequence rule must
still stay quiet on traffic with no attacker in it.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import orjson
import pytest

from benchmarks.cloudtrail_templates import EventFactory
from benchmarks.corpus import BENCH_ACCOUNTS, BENCH_REGIONS
from monitor.decode import decode_bytes
from monitor.demo.background import background_events
from monitor.demo.builders import EXAMPLE_ACCOUNTS, EXAMPLE_REGIONS, EXAMPLE_START, GLOBAL_REGION
from monitor.engine import Engine
from monitor.model import Alert
from monitor.rules.builtin import builtin_detectors
from tests.helpers import DATA

DAY = 86400


def scan_in_batches(events: list[dict[str, Any]], size: int = 500) -> tuple[Engine, list[Alert]]:
    engine = Engine(builtin_detectors())
    alerts: list[Alert] = []
    events = sorted(events, key=lambda event: str(event.get("eventTime")))
    for start in range(0, len(events), size):
        part = decode_bytes(orjson.dumps({"Records": events[start:start + size]}), f"batch {start}")
        alerts.extend(engine.process(part).alerts)
    alerts.extend(engine.flush())
    return engine, alerts


def incidents(alerts: list[Alert]) -> list[str]:
    """The narratives of the incidents raised (what a failure should show)."""
    return sorted({str(alert.context.get("narrative")) for alert in alerts if alert.detector == "attack-sequence"})


def test_the_benign_real_console_sessions_give_no_incident() -> None:
    path = DATA / "permiso_console_cartographer" / "events.jsonl"
    if not path.exists():
        pytest.skip(f"real data set {path} is absent (it lives outside the repository)")
    engine = Engine(builtin_detectors())
    alerts = [*engine.process(decode_bytes(path.read_bytes(), str(path))).alerts, *engine.flush()]
    assert incidents(alerts) == []


def test_a_day_of_the_demo_background_gives_no_incident() -> None:
    events = background_events(random.Random(11), EXAMPLE_START, 20_000, EXAMPLE_ACCOUNTS, EXAMPLE_REGIONS,
                               duration=DAY)
    engine, alerts = scan_in_batches(events)
    assert incidents(alerts) == []
    assert engine.stats.events_processed == 20_000


def test_a_day_of_the_benchmark_corpus_background_gives_no_incident() -> None:
    """Every five minutes of one day, each account and region: real trails' shape, without the sprinkled attacks."""
    factory = EventFactory(BENCH_ACCOUNTS, BENCH_REGIONS, GLOBAL_REGION)
    rng = random.Random(5)
    events: list[dict[str, Any]] = []
    for slot in range(0, DAY, 300):
        for account in BENCH_ACCOUNTS:
            for region in BENCH_REGIONS:
                start = int(EXAMPLE_START) + slot
                times = sorted(start + rng.randrange(300) for _ in range(3))
                events.extend(factory.events(rng, times, account, region))
    engine, alerts = scan_in_batches(events)
    assert incidents(alerts) == []
    # The day did give the sequence detector something to weigh: alerts and credentials handed out.
    assert sum(engine.stats.alerts.values()) > 0
    assert Counter(engine.stats.matches)["attack-sequence"] > 0
