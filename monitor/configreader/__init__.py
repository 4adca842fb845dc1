"""Typed reading of untrusted config mappings that collects every error with its path.

`Section(data, "sources[1]", errors).string("queue_url", required=True)`
records `sources[1].queue_url: required` instead of raising, so a config
with five mistakes reports all five at once.

The ground floor of the config: every stage's `settings.py` reads its own
section with it, and it imports no stage (monitor/config/ assembles the file).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class Section:
    def __init__(self, data: Any, path: str, errors: list[str], warnings: list[str] | None = None) -> None:
        self.path = path
        self.errors = errors
        # Not errors: deprecated names that still work. Shared with every sub-section, like `errors`.
        self.warnings: list[str] = [] if warnings is None else warnings
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.error("", f"must be a mapping, got {type(data).__name__}")
            data = {}
        self.data: dict[str, Any] = data
        self._read: set[str] = set()

    def where(self, key: str) -> str:
        if not key:
            return self.path or "(top level)"
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str) -> None:
        self.errors.append(f"{self.where(key)}: {message}")

    def _get(self, key: str, required: bool) -> Any:
        self._read.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                self.error(key, "required")
            return None
        return self.data[key]

    def value(self, key: str) -> Any:
        """The raw value (None when absent), for keys with more than one accepted type."""
        return self._get(key, False)

    def string(self, key: str, default: str = "", *, required: bool = False,
               choices: tuple[str, ...] = ()) -> str:
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, str):
            self.error(key, f"must be a string, got {type(value).__name__}")
            return default
        if choices and value not in choices:
            self.error(key, f"must be one of {', '.join(choices)}; got {value!r}")
            return default
        return value

    def integer(self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(key, f"must be an integer, got {type(value).__name__}")
            return default
        if minimum is not None and value < minimum:
            self.error(key, f"must be >= {minimum}")
            return default
        if maximum is not None and value > maximum:
            self.error(key, f"must be <= {maximum}")
            return default
        return value

    def optional_integer(self, key: str, *, minimum: int = 1) -> int | None:
        if self.data.get(key) is None:
            self._read.add(key)
            return None
        return self.integer(key, minimum, minimum=minimum)

    def number(self, key: str, default: float, *, minimum: float | None = None) -> float:
        value = self._get(key, False)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(key, f"must be a number, got {type(value).__name__}")
            return default
        if minimum is not None and value < minimum:
            self.error(key, f"must be >= {minimum}")
            return default
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(key, f"must be true or false, got {type(value).__name__}")
            return default
        return value

    def strings(self, key: str) -> list[str]:
        value = self._get(key, False)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(key, "must be a string or a list of strings")
            return []
        return list(value)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self._get(key, False)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(key, f"must be a mapping, got {type(value).__name__}")
            return {}
        return value

    def section(self, key: str) -> Section:
        value = self._get(key, False)
        return Section(value, self.where(key), self.errors, self.warnings)

    def renamed(self, old: str, new: str) -> Section:
        """The sub-section `new`, or `old` (its deprecated name, still read, with a warning); not both."""
        if self.data.get(old) is None:
            self._read.add(old)
            return self.section(new)
        if self.data.get(new) is not None:
            self._read.add(new)
            self.error(old, f"renamed to {self.where(new)}; give only {new}")
        else:
            self.warnings.append(f"{self.where(old)}: renamed to {self.where(new)}; the old name still works "
                                 "but is deprecated")
        return self.section(old)

    def items(self, key: str) -> list[Section]:
        value = self._get(key, False)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(key, f"must be a list, got {type(value).__name__}")
            return []
        return [Section(item, f"{self.where(key)}[{i}]", self.errors, self.warnings) for i, item in enumerate(value)]

    def parsed(self, key: str, parse: Callable[[str], T], default: T) -> T:
        text = self.string(key)
        if not text:
            return default
        try:
            return parse(text)
        except ValueError as exc:
            self.error(key, str(exc))
            return default

    def reject_unknown(self) -> None:
        """Report keys nobody read: almost always a typo."""
        for key in sorted(set(self.data) - self._read):
            self.error(key, "unknown key")
