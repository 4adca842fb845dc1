"""The detector engine: pure and synchronous, shared by `scan` and `run`."""

from monitor.engine.core import BatchResult, Engine, EngineStats
from monitor.engine.registry import RegistryError, configure
from monitor.engine.settings import DetectorSettings, EngineSettings

__all__ = [
    "BatchResult",
    "DetectorSettings",
    "Engine",
    "EngineSettings",
    "EngineStats",
    "RegistryError",
    "configure",
]
