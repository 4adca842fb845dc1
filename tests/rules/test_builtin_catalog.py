"""The built-in catalog names its ATT&CK techniques, though the Detector contract lets a Sigma rule name none."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import detectors
from monitor.engine.registry import RegistryError
from monitor.model.detector import Detector
from monitor.model.severity import Severity
from monitor.rules.builtin import builtin_detectors

UNTAGGED = '''
from monitor.model import Detector, Severity

DETECTOR = Detector(id="zz-untagged", title="Untagged", severity=Severity.LOW, mitre=(), runbook="Look.",
                    match=lambda event, params: None, events=frozenset({("iam.amazonaws.com", "CreateUser")}))
'''


def test_every_built_in_detector_lists_its_techniques() -> None:
    assert all(detector.mitre for detector in builtin_detectors())


def test_the_contract_allows_no_technique_but_not_a_malformed_one() -> None:
    common = {"id": "rule", "title": "t", "severity": Severity.LOW, "runbook": "r",
              "match": lambda event, params: None, "all_events": True}
    assert Detector(mitre=(), **common).mitre == ()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mitre"):
        Detector(mitre=("attack.discovery",), **common)  # type: ignore[arg-type]


def test_discovery_refuses_a_built_in_without_techniques(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "zz_untagged.py").write_text(UNTAGGED)
    monkeypatch.setattr(detectors, "__path__", [*detectors.__path__, str(tmp_path)])
    try:
        with pytest.raises(RegistryError, match=r"zz_untagged\.py: a built-in detector must list its ATT&CK"):
            builtin_detectors()
    finally:
        sys.modules.pop("detectors.zz_untagged", None)
