"""Where the detectors come from: the built-in catalog (`builtin.py`, the modules under detectors/),
and rules written by users, custom YAML rules and Sigma rules, compiled into ordinary detectors;
`loader.py` assembles them all with the `detectors:` settings.

Both rule loaders return a `LoadedRules`: the detectors that compiled, and one
`RuleProblem` per rule (or file) that did not. A rule with a problem is skipped
whole, never half-applied; the problems are reported with the file and the rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.model.detector import Detector


@dataclass(frozen=True, slots=True)
class RuleProblem:
    file: str
    rule: str  # the rule's id or title; "" when the whole file is at fault
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: rule {self.rule!r}" if self.rule else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class RuleSampleCase:
    """A sample case written inside a rule file, in the shape of `monitor/offline/samples.py` cases."""

    detector: str
    file: str
    case: dict[str, Any]


@dataclass(slots=True)
class LoadedRules:
    detectors: list[Detector] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)
    # Where each detector came from: detector id -> "custom" or "sigma", and its file.
    kinds: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    samples: list[RuleSampleCase] = field(default_factory=list)

    def extend(self, other: LoadedRules) -> None:
        self.detectors.extend(other.detectors)
        self.problems.extend(other.problems)
        self.kinds.update(other.kinds)
        self.files.update(other.files)
        self.samples.extend(other.samples)
