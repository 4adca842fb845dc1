"""Source kinds: the config's `kind` to the module that implements it, and building sources from their specs.

Each module follows one convention (`KIND`, `create(name, settings, context)`; its
settings class is in monitor/sources/settings.py); modules are imported only
when a config names their kind, so a deployment pays for nothing it does not use.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from monitor.sources.base import Source, SourceContext

if TYPE_CHECKING:
    from monitor.sources.settings import SourceSpec

KINDS: dict[str, str] = {
    "s3-sqs": "monitor.sources.s3_sqs",
    "s3-poll": "monitor.sources.s3_poll",
    "cloudwatch-logs": "monitor.sources.cloudwatch_logs",
    "cloudwatch-live-tail": "monitor.sources.cloudwatch_live_tail",
    "directory": "monitor.sources.directory",
}

class UnavailableKind(LookupError):
    pass


def source_module(kind: str) -> ModuleType:
    """The module behind a kind; UnavailableKind when it is unknown or cannot be imported."""
    module_name = KINDS.get(kind)
    if module_name is None:
        raise UnavailableKind(f"unknown source kind {kind!r}; one of {', '.join(sorted(KINDS))}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnavailableKind(f"source kind {kind!r} is not available: {exc}") from None
    if not callable(getattr(module, "create", None)):
        raise UnavailableKind(f"source kind {kind!r}: {module_name} has no create()")
    return module


def create_source(spec: SourceSpec, context: SourceContext) -> Source:
    source: Source = source_module(spec.kind).create(spec.name, spec.settings, context)
    return source
