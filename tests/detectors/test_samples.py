"""Every built-in detector's samples pass, including detectors added after this file."""

from __future__ import annotations

import pytest

from monitor.model import Detector
from monitor.offline.samples import run_samples
from monitor.rules.builtin import builtin_detectors
from tests.helpers import MISSION

DETECTORS = builtin_detectors()


@pytest.mark.parametrize("detector", DETECTORS, ids=[d.id for d in DETECTORS])
def test_samples_pass(detector: Detector) -> None:
    results = run_samples(detector, DETECTORS)
    failures = [f"{r.name}: {'; '.join(r.problems)}" for r in results if not r.passed]
    assert results
    assert not failures, "\n".join(failures)


def test_every_mission_detector_is_built_in() -> None:
    assert {d.id for d in DETECTORS} >= MISSION
