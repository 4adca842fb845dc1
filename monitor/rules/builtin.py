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
    """Every module under `detectors/` (its subject folders included) that defines `DETECTOR`, sorted by id.

    Modules and folders whose name starts with `_` hold helpers, not detectors. Every built-in names
    its ATT&CK techniques (`mitre`), though the Detector contract lets a user's Sigma rule name none.
    """
    found: dict[str, Detector] = {}
    prefix = f"{builtin_package.__name__}."
    for info in pkgutil.walk_packages(builtin_package.__path__, prefix):
        if info.ispkg or any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        where = info.name.replace(".", "/") + ".py"
        detector = getattr(module, "DETECTOR", None)
        if not isinstance(detector, Detector):
            raise RegistryError(f"{where} does not define DETECTOR")
        if not detector.mitre:  # the Detector contract allows none (Sigma rules); the catalog does not
            raise RegistryError(f"{where}: a built-in detector must list its ATT&CK techniques in mitre")
        if detector.id in found:
            raise RegistryError(f"duplicate detector id {detector.id!r} in {where}")
        found[detector.id] = detector
    return [found[key] for key in sorted(found)]
