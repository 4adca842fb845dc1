"""The live service's sections: `checkpoint` and `service` (the composition root's own), with `sources`.

Read by `monitor.config.parse_config` into `Config.live`; the sources themselves
are read by monitor/sources/settings.py. Every error is recorded with its path.

The checkpoint file: `checkpoint.path` in the config, overridden by the
environment variable TRAILSENTRY_CHECKPOINT_PATH (handy in a container whose
writable volume is mounted somewhere else), defaulting to
./var/trailsentry.sqlite.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from monitor.configreader import Section
from monitor.sources.settings import SourceSpec, parse_sources

CHECKPOINT_ENV = "TRAILSENTRY_CHECKPOINT_PATH"
DEFAULT_CHECKPOINT_PATH = Path("var") / "trailsentry.sqlite"

DEFAULT_QUEUE_BATCHES = 16
DEFAULT_QUEUE_BYTES = 128 * 1024 * 1024
DEFAULT_COMMIT_SECONDS = 0.2
DEFAULT_COMMIT_BATCHES = 32
DEFAULT_MAX_ATTEMPTS = 5
# Shorter than Kubernetes' default 30 s termination grace period, leaving time to commit.
DEFAULT_DRAIN_SECONDS = 20.0
DEFAULT_CHECKPOINT_SECONDS = 15.0
DEFAULT_RESTART_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class CheckpointSettings:
    path: str | None = None  # None: the environment override or the default

    def resolve(self, environ: Mapping[str, str] | None = None) -> Path:
        env = os.environ if environ is None else environ
        override = env.get(CHECKPOINT_ENV, "").strip()
        if override:
            return Path(override)
        if self.path:
            return Path(self.path)
        return DEFAULT_CHECKPOINT_PATH


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    # Batches (objects, files, log pages) waiting for the detectors; sources block beyond this many, or
    # beyond this many bytes of them (one batch larger than that still passes, alone).
    queue_batches: int = DEFAULT_QUEUE_BATCHES
    queue_bytes: int = DEFAULT_QUEUE_BYTES
    # On SIGTERM: how long queued and in-flight batches may take before they are released.
    drain_seconds: float = DEFAULT_DRAIN_SECONDS
    # How often episodes are closed by wall clock and what is open committed (batches commit on their own).
    checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS
    # Group commit: applied batches wait at most this long, and at most this many, before their alerts go
    # to the outbox, their state is made durable and their sources are acknowledged (a quiet stream: at once).
    commit_seconds: float = DEFAULT_COMMIT_SECONDS
    commit_batches: int = DEFAULT_COMMIT_BATCHES
    # A batch that fails to apply is released with a growing delay, then given up after this many attempts.
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    # Worker processes that decode and detect (the pipeline's detect stage); 1: in the service's own process.
    workers: int = 1
    # Upper bound of the backoff before a crashed source is restarted.
    restart_seconds: float = DEFAULT_RESTART_SECONDS


@dataclass(frozen=True, slots=True)
class LiveConfig:
    sources: tuple[SourceSpec, ...] = ()
    checkpoint: CheckpointSettings = field(default_factory=CheckpointSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)


def parse_live_sections(top: Section) -> LiveConfig:
    """Read `sources`, `checkpoint` and `service` from the top-level section, recording errors on it."""
    sources = parse_sources(top.items("sources"))
    checkpoint = _checkpoint(top.section("checkpoint"))
    service = _service(top.section("service"))
    return LiveConfig(sources=tuple(sources), checkpoint=checkpoint, service=service)


def _checkpoint(section: Section) -> CheckpointSettings:
    path = section.string("path") or None
    if path is not None and "\x00" in path:
        section.error("path", "must not contain NUL characters")
        path = None
    section.reject_unknown()
    return CheckpointSettings(path=path)


def _service(section: Section) -> ServiceSettings:
    settings = ServiceSettings(
        queue_batches=section.integer("queue_batches", DEFAULT_QUEUE_BATCHES, minimum=1, maximum=10_000),
        queue_bytes=section.integer("queue_bytes", DEFAULT_QUEUE_BYTES, minimum=1),
        drain_seconds=section.number("drain_seconds", DEFAULT_DRAIN_SECONDS, minimum=0),
        checkpoint_seconds=section.number("checkpoint_seconds", DEFAULT_CHECKPOINT_SECONDS, minimum=0.1),
        commit_seconds=section.number("commit_seconds", DEFAULT_COMMIT_SECONDS, minimum=0),
        commit_batches=section.integer("commit_batches", DEFAULT_COMMIT_BATCHES, minimum=1, maximum=10_000),
        max_attempts=section.integer("max_attempts", DEFAULT_MAX_ATTEMPTS, minimum=1, maximum=100),
        workers=section.integer("workers", 1, minimum=1, maximum=64),
        restart_seconds=section.number("restart_seconds", DEFAULT_RESTART_SECONDS, minimum=1),
    )
    section.reject_unknown()
    return settings
