"""The `metrics:` section: where /metrics, /healthz and /readyz listen.

    metrics: {enabled: true, host: 0.0.0.0, port: 9108}
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.configreader import Section

DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 9108


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    enabled: bool = True
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT


def parse_metrics(top: Section) -> MetricsSettings:
    """Read the top-level `metrics` section, recording errors on `top`'s error list."""
    section = top.section("metrics")
    enabled = section.boolean("enabled", True)
    host = section.string("host", DEFAULT_HOST)
    if not host or any(ch.isspace() for ch in host) or "/" in host:
        section.error("host", f"must be an address or host name to listen on, got {host!r}")
        host = DEFAULT_HOST
    port = section.integer("port", DEFAULT_PORT, minimum=0, maximum=65535)
    section.reject_unknown()
    return MetricsSettings(enabled=enabled, host=host, port=port)
