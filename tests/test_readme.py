"""The README's detector catalog names every built-in detector."""

from __future__ import annotations

from monitor.rules.builtin import builtin_detectors
from tests.helpers import REPO

README = REPO / "README.md"


def test_every_detector_is_in_the_readme_catalog() -> None:
    text = README.read_text(encoding="utf-8")
    catalog = text[text.index("## Detector catalog"):]
    missing = [d.id for d in builtin_detectors() if f"`{d.id}`" not in catalog]
    assert missing == []
