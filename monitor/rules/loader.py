"""Load the user's rules (custom YAML and Sigma) and assemble them with the built-in detectors.

`assemble_detectors(config)` is the one place `scan`, `detectors`, `config validate` and `run`
get their detectors from. A custom rule with any problem is fatal (`ConfigError`: every problem
is listed): those rules are the user's own code, and running half of them hides a typo until the
attack it should have caught. A Sigma rule with a problem is logged by name and reason and
skipped: Sigma collections are large and third-party, so one unsupported rule must not stop the rest.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Protocol

from detectors._aws_ranges import AddressRanges
from monitor.configreader import ConfigError
from monitor.engine.registry import configure
from monitor.engine.settings import DetectorSettings, EngineSettings
from monitor.engine.suppressions_settings import check_detector_ids
from monitor.model.detector import Detector
from monitor.rules import LoadedRules, RuleProblem
from monitor.rules.aws_ranges import PARAM as AWS_RANGES_PARAM
from monitor.rules.aws_ranges import load_aws_ranges
from monitor.rules.builtin import builtin_detectors
from monitor.rules.custom import load_custom_rules
from monitor.rules.settings import RulesSettings

log = logging.getLogger("trailsentry.rules")

RULE_SUFFIXES = (".yaml", ".yml")
BUILTIN = "builtin"


def rule_files(paths: Iterable[Path]) -> tuple[list[Path], list[RuleProblem]]:
    """Files as given; a directory's own *.yaml / *.yml files, sorted (not its subdirectories, so a
    `sigma/` folder beside custom rules stays apart); missing paths are problems."""
    files: list[Path] = []
    problems: list[RuleProblem] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in RULE_SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            problems.append(RuleProblem(str(path), "", "no such file or directory"))
    return files, problems


def load_custom(paths: Iterable[Path], taken: Collection[str] = ()) -> LoadedRules:
    files, problems = rule_files(paths)
    loaded = load_custom_rules(files, taken)
    loaded.problems[:0] = problems
    return loaded


def load_sigma(paths: Iterable[Path], taken: Collection[str] = ()) -> LoadedRules:
    """Sigma rules (pySigma imported only when some are configured); clashing ids become problems."""
    wanted = list(paths)
    if not wanted:
        return LoadedRules()
    try:
        from monitor.rules.sigma import load_sigma_rules
    except ImportError as exc:
        return LoadedRules(problems=[RuleProblem(str(p), "", f"Sigma support is unavailable: {exc}") for p in wanted])
    loaded = load_sigma_rules(wanted)
    kept = LoadedRules(problems=list(loaded.problems))
    for detector in loaded.detectors:
        file = loaded.files.get(detector.id, "")
        if detector.id in taken:
            kept.problems.append(RuleProblem(file, detector.id, "id is already used by another detector"))
            continue
        kept.detectors.append(detector)
        kept.kinds[detector.id] = loaded.kinds.get(detector.id, "sigma")
        kept.files[detector.id] = file
    kept.samples = [s for s in loaded.samples if s.detector in kept.kinds]
    return kept


def load_rules(custom_paths: Iterable[Path], sigma_paths: Iterable[Path], taken: Collection[str] = ()) -> LoadedRules:
    """Both kinds in one result (custom first). `taken`: ids in use already, e.g. the built-ins'."""
    loaded = load_custom(custom_paths, taken)
    loaded.extend(load_sigma(sigma_paths, {*taken, *loaded.kinds}))
    return loaded


class Configured(Protocol):
    """What assembling the detectors reads of the config (monitor.config.Config), without importing it."""

    @property
    def rules(self) -> RulesSettings: ...

    @property
    def engine(self) -> EngineSettings: ...


def assemble_detectors(config: Configured) -> tuple[list[Detector], LoadedRules]:
    """Built-ins plus the configured rules, with the `detectors:` settings applied to all of them.

    Returns the configured detectors (disabled ones left out) and the rules as loaded (unconfigured,
    with their kinds, files and samples). Raises ConfigError when any custom rule has a problem.
    """
    builtins = builtin_detectors()
    taken = {d.id for d in builtins}
    custom = load_custom(config.rules.custom, taken)
    if custom.problems:
        raise ConfigError([f"custom rule: {problem}" for problem in custom.problems])
    sigma = load_sigma(config.rules.sigma, taken | set(custom.kinds))
    for problem in sigma.problems:
        log.warning("Sigma rule skipped: %s", problem)
    loaded = LoadedRules()
    loaded.extend(custom)
    loaded.extend(sigma)
    settings = _settings_for_loaded(config.engine.detectors, loaded, skipped_sigma=bool(sigma.problems))
    # A suppression naming no detector (a typo) would silently suppress nothing: refuse it.
    unknown = check_detector_ids(config.engine.suppressions, [d.id for d in [*builtins, *loaded.detectors]])
    if unknown:
        raise ConfigError(unknown)
    configured = configure([*builtins, *loaded.detectors], settings)
    if config.rules.aws_ip_ranges_file is not None:
        configured = with_aws_ranges(configured, load_aws_ranges(config.rules.aws_ip_ranges_file))
    return configured, loaded


def with_aws_ranges(detectors: Iterable[Detector], ranges: AddressRanges) -> list[Detector]:
    """Every detector that declares the `aws_ranges` param gets the ranges read from the file (over any
    value its `detectors:` settings gave)."""
    return [dataclasses.replace(d, params={**d.params, AWS_RANGES_PARAM: ranges}) if AWS_RANGES_PARAM in d.params
            else d for d in detectors]


def _settings_for_loaded(settings: Mapping[str, DetectorSettings], loaded: LoadedRules,
                         skipped_sigma: bool) -> dict[str, DetectorSettings]:
    """Settings for a Sigma rule that was skipped are dropped with a warning, not an unknown-id error."""
    kept = dict(settings)
    if skipped_sigma:
        for detector_id in [d for d in kept if d.startswith("sigma-") and d not in loaded.kinds]:
            log.warning("detectors.%s: no such Sigma rule loaded (skipped?); its settings are ignored", detector_id)
            del kept[detector_id]
    return kept


def kind_of(detector_id: str, loaded: LoadedRules) -> str:
    return loaded.kinds.get(detector_id, BUILTIN)
