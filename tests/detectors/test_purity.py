"""Detectors import only the model, their shared helpers and pure parts of the standard library."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import REPO

DETECTORS = REPO / "detectors"
# Pure modules only: no clock, I/O, randomness, environment, threads or network.
ALLOWED = {
    "__future__", "collections", "collections.abc", "typing", "dataclasses", "re", "ipaddress", "fnmatch",
    "urllib.parse", "json", "enum", "functools", "itertools", "math", "string", "unicodedata", "bisect",
}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(DETECTORS.rglob("*.py")), ids=lambda p: str(p.relative_to(DETECTORS)))
def test_detector_imports_are_pure(path: Path) -> None:
    bad = {m for m in imported_modules(path)
           if m not in ALLOWED and not m.startswith(("monitor.model", "detectors"))}
    assert not bad, f"{path.relative_to(DETECTORS)} imports {sorted(bad)}"


def test_the_check_sees_detectors_in_subject_folders() -> None:
    assert DETECTORS / "identity" / "root_activity.py" in set(DETECTORS.rglob("*.py"))


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import time\nfrom monitor.engine import Engine\n")
    assert imported_modules(sample) == {"time", "monitor.engine"}
