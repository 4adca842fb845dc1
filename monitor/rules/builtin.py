"""The built-in catalog: every module under `detectors/` that defines `DETECTOR`, sorted by id.

Discovery lives here, above the engine, so the engine runs whatever detectors it
is given and never imports the catalog itself.
"""

from __future__ import annotations

import importlib
import pkgutil

import detectors as builtin_package
from monitor.engine.registry import RegistryError
from monitor.model.detector import Detector


def builtin_detectors() -> list[Detector]:
    """Every module under `detectors/` that defines `DETECTOR`, sorted by id."""
    found: dict[str, Detector] = {}
    for info in pkgutil.iter_modules(builtin_package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{builtin_package.__name__}.{info.name}")
        detector = getattr(module, "DETECTOR", None)
        if not isinstance(detector, Detector):
            raise RegistryError(f"detectors/{info.name}.py does not define DETECTOR")
        if detector.id in found:
            raise RegistryError(f"duplicate detector id {detector.id!r} in detectors/{info.name}.py")
        found[detector.id] = detector
    return [found[key] for key in sorted(found)]
