"""Writes CloudTrail log files into the demo bucket over time, the way CloudTrail delivers them.

Every few seconds an object of ordinary background traffic for one account and
region; and once per cycle (five minutes at speed 1) every mission scenario, the
traps that must stay quiet and the attacker storyline (monitor/demo/storyline.py),
all within the cycle's first minute. Record
times trail the wall clock by a few minutes, as CloudTrail's own delivery does.
Objects are gzipped `{"Records": [...]}` under CloudTrail's key layout
(`AWSLogs/<org>/<account>/CloudTrail/<region>/YYYY/MM/DD/...json.gz`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from monitor.demo.background import background_events
from monitor.demo.builders import EXAMPLE_ACCOUNTS, EXAMPLE_ORGANIZATION, EXAMPLE_REGIONS
from monitor.demo.objects import cloudtrail_object_key, encode_records
from monitor.demo.scenarios import scenario
from monitor.model.event import Record

log = logging.getLogger("trailsentry.demo")

# (seconds into the cycle at speed 1, scenario name); mission scenarios first, all in the first minute.
SCHEDULE: tuple[tuple[float, str], ...] = (
    (3.0, "root-console-login"),
    (9.0, "console-login-failure-burst"),
    (15.0, "access-key-created"),
    (21.0, "non-mfa-sensitive-call"),
    (27.0, "console-password-spray"),
    (33.0, "access-denied-burst"),
    (39.0, "log-delivery-access-denied"),  # a trap: AWS's own denials, no alert
    (45.0, "console-login-without-mfa"),
    (50.0, "sso-console-sign-ins"),  # a trap: federated sign-ins carry no MFA fields, no alert
    (55.0, "root-activity"),
    (57.0, "attack-storyline"),  # one attacker across two identities: an `attack-sequence` incident
)
CYCLE_SECONDS = 300.0
BACKGROUND_EVERY_SECONDS = 4.0
# Scenario events start this long before the wall clock (bursts span a few minutes).
EVENT_DELAY_SECONDS = 300.0


@dataclass(slots=True)
class TrafficStats:
    objects: int = 0
    events: int = 0
    scenarios: list[str] = field(default_factory=list)
    failures: int = 0


class TrafficGenerator:
    def __init__(self, s3: Any, bucket: str, *, speed: float = 1.0, seed: int | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.speed = speed
        self.rng = random.Random(seed)
        self.clock = clock
        self.stats = TrafficStats()

    async def run(self) -> None:
        """Write objects on the schedule until cancelled."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        cycle = 0
        while True:
            cycle_start = cycle * CYCLE_SECONDS
            plan = [(cycle_start + at, name) for at, name in SCHEDULE]
            tick = 0.0
            while tick < CYCLE_SECONDS:
                plan.append((cycle_start + tick, ""))
                tick += BACKGROUND_EVERY_SECONDS
            for at, name in sorted(plan):
                delay = started + at / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._write(self._scenario_events(name) if name else self._background_events(), name)
            cycle += 1

    def _background_events(self) -> list[Record]:
        now = self.clock()
        account = self.rng.choice(EXAMPLE_ACCOUNTS)
        region = self.rng.choice(EXAMPLE_REGIONS)
        return background_events(self.rng, now - EVENT_DELAY_SECONDS, self.rng.randrange(20, 80), [account],
                                 [region], duration=EVENT_DELAY_SECONDS - 5)

    def _scenario_events(self, name: str) -> list[Record]:
        now = self.clock()
        account = self.rng.choice(EXAMPLE_ACCOUNTS)
        at = now - EVENT_DELAY_SECONDS + self.rng.randrange(0, 30)
        events = scenario(name).build(self.rng, at, account, self.rng.choice(EXAMPLE_REGIONS))
        return events

    async def _write(self, events: list[Record], name: str) -> None:
        # One object per account and region, as CloudTrail writes them.
        groups: dict[tuple[str, str], list[Record]] = {}
        for event in events:
            groups.setdefault((str(event["recipientAccountId"]), str(event["awsRegion"])), []).append(event)
        for (account, region), group in sorted(groups.items()):
            group.sort(key=lambda e: str(e["eventTime"]))
            key = cloudtrail_object_key(account, region, self.clock(), self.rng, EXAMPLE_ORGANIZATION)
            try:
                await self.s3.put_object(Bucket=self.bucket, Key=key, Body=encode_records(group))
            except Exception as exc:  # the emulator is local; keep the demo going and say so
                self.stats.failures += 1
                log.warning("demo: writing %s failed: %s", key, type(exc).__name__)
                continue
            self.stats.objects += 1
            self.stats.events += len(group)
        if name:
            self.stats.scenarios.append(name)
            log.info("demo: wrote scenario %s", name)
