"""`trailsentry config validate`, and what `run` checks before it starts: more than the file's shape.

The file parses (monitor/config/schema.py) and then the detectors are assembled:
custom rules compile, `detectors:` settings name detectors that exist, and every
suppression names a detector. `run` also needs at least one source.
"""

from __future__ import annotations

from monitor.config.schema import Config
from monitor.config.service import LiveConfig
from monitor.model.detector import Detector
from monitor.rules.loader import assemble_detectors


def validate(config: Config) -> list[Detector]:
    """The configured detectors; raises ConfigError or RegistryError naming every problem found."""
    detectors, _ = assemble_detectors(config)
    return detectors


def run_errors(live: LiveConfig) -> list[str]:
    """What `run` needs beyond a valid file (a scan-only config is valid without sources)."""
    if not live.sources:
        return ["sources: at least one source is required to run (see `trailsentry config example`)"]
    return []
