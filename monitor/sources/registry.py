"""Source kinds: the config's `kind` to the module that implements it, and building sources from config.

Each module follows one convention (`KIND`, `Settings`, `parse_settings(section)`,
`create(name, settings, context)`); modules are imported only when a config
names their kind, so a deployment pays for nothing it does not use.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from monitor.configreader import Section
from monitor.sources.base import Source, SourceContext

KINDS: dict[str, str] = {
    "s3-sqs": "monitor.sources.s3_sqs",
    "s3-poll": "monitor.sources.s3_poll",
    "cloudwatch-logs": "monitor.sources.cloudwatch_logs",
    "cloudwatch-live-tail": "monitor.sources.cloudwatch_live_tail",
    "directory": "monitor.sources.directory",
}

# Names label metrics and key checkpoints: keep them short and plain.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class UnavailableKind(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class SourceSpec:
    kind: str
    name: str
    settings: Any  # the kind module's typed Settings
    where: str  # "sources[1]", for messages


def source_module(kind: str) -> ModuleType:
    """The module behind a kind; UnavailableKind when it is unknown or cannot be imported."""
    module_name = KINDS.get(kind)
    if module_name is None:
        raise UnavailableKind(f"unknown source kind {kind!r}; one of {', '.join(sorted(KINDS))}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnavailableKind(f"source kind {kind!r} is not available: {exc}") from None
    for attribute in ("parse_settings", "create"):
        if not callable(getattr(module, attribute, None)):
            raise UnavailableKind(f"source kind {kind!r}: {module_name} has no {attribute}()")
    return module


def parse_sources(items: list[Section]) -> list[SourceSpec]:
    """Parse every `sources[i]` entry; errors are recorded on the sections, entries in error are left out."""
    specs: list[SourceSpec] = []
    names: dict[str, str] = {}
    for section in items:
        errors_before = len(section.errors)
        kind = section.string("kind", required=True)
        name = section.string("name") or kind
        if name and not _NAME.match(name):
            section.error("name", "use letters, digits, '.', '_' or '-' (at most 63, starting with a letter or digit)")
        elif name in names:
            section.error("name", f"{name!r} is already used by {names[name]}; give each source a unique name")
        elif name:
            names[name] = section.path
        if not kind:
            continue
        try:
            module = source_module(kind)
        except UnavailableKind as exc:
            section.error("kind", str(exc))
            continue
        settings = module.parse_settings(section)
        if len(section.errors) == errors_before:
            specs.append(SourceSpec(kind=kind, name=name, settings=settings, where=section.path))
    return specs


def create_source(spec: SourceSpec, context: SourceContext) -> Source:
    source: Source = source_module(spec.kind).create(spec.name, spec.settings, context)
    return source
