"""The `rules:` config section: where custom rule files and Sigma rule files are.

```yaml
rules:
  custom: [rules/]            # files or directories of *.yaml / *.yml custom rules
  sigma: [sigma/cloudtrail/]  # files or directories of Sigma rules (logsource aws/cloudtrail)
  aws_ip_ranges_file: /var/lib/trailsentry-aws/ip-ranges.json   # AWS's published ranges (ip-ranges.json)
```

`aws_ip_ranges_file` is data the detectors use rather than rules: the detectors that ask whether a
caller is inside AWS (`aws_ranges` param) get the ranges read from it (`monitor/rules/aws_ranges.py`).

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
    aws_ip_ranges_file: Path | None = None

    def relative_to(self, base: Path) -> RulesSettings:
        """The same settings with relative paths anchored at `base`."""
        ranges = None if self.aws_ip_ranges_file is None else base / self.aws_ip_ranges_file
        return RulesSettings(custom=tuple(base / p for p in self.custom), sigma=tuple(base / p for p in self.sigma),
                             aws_ip_ranges_file=ranges)


def parse_rules(top: Section) -> RulesSettings:
    section = top.section("rules")
    custom = _paths(section, "custom")
    sigma = _paths(section, "sigma")
    ranges = section.string("aws_ip_ranges_file").strip()
    if section.data.get("aws_ip_ranges_file") is not None and not ranges:
        section.error("aws_ip_ranges_file", "empty path")
    section.reject_unknown()
    return RulesSettings(custom=custom, sigma=sigma, aws_ip_ranges_file=Path(ranges).expanduser() if ranges else None)


def _paths(section: Section, key: str) -> tuple[Path, ...]:
    paths: list[Path] = []
    for text in section.strings(key):
        if not text.strip():
            section.error(key, "empty path")
            continue
        paths.append(Path(text).expanduser())
    return tuple(paths)
