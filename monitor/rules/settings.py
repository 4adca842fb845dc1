"""The `rules:` config section: where custom rule files and Sigma rule files are.

```yaml
rules:
  custom: [rules/]            # files or directories of *.yaml / *.yml custom rules
  sigma: [sigma/cloudtrail/]  # files or directories of Sigma rules (logsource aws/cloudtrail)
```

Relative paths are resolved against the config file's directory by `load_config` (against the
working directory when a config is parsed without a file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monitor.configreader import Section


@dataclass(frozen=True, slots=True)
class RulesSettings:
    custom: tuple[Path, ...] = ()
    sigma: tuple[Path, ...] = ()

    def relative_to(self, base: Path) -> RulesSettings:
        """The same settings with relative paths anchored at `base`."""
        return RulesSettings(custom=tuple(base / p for p in self.custom), sigma=tuple(base / p for p in self.sigma))


def parse_rules(top: Section) -> RulesSettings:
    section = top.section("rules")
    custom = _paths(section, "custom")
    sigma = _paths(section, "sigma")
    section.reject_unknown()
    return RulesSettings(custom=custom, sigma=sigma)


def _paths(section: Section, key: str) -> tuple[Path, ...]:
    paths: list[Path] = []
    for text in section.strings(key):
        if not text.strip():
            section.error(key, "empty path")
            continue
        paths.append(Path(text).expanduser())
    return tuple(paths)
