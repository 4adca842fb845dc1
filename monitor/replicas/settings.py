"""The `state` section: where the engine keeps its state, and how replicas share it.

    state:
      backend: redis                    # default: embedded (SQLite beside the checkpoint, one replica)
      url_env: TRAILSENTRY_REDIS_URL    # or url_file; redis:// or rediss:// (TLS), auth in the URL
      key_prefix: "trailsentry:"        # several deployments can share one Redis

The URL holds the password, so it is a secret: named by an environment variable or a file, never
written in the config, never logged.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.alerts.secrets import SecretRef, reject_literal_secret, secret_ref
from monitor.configreader import Section

BACKENDS = ("embedded", "redis")
DEFAULT_KEY_PREFIX = "trailsentry:"


@dataclass(frozen=True, slots=True)
class StateSettings:
    backend: str = "embedded"
    url: SecretRef | None = None  # redis only
    key_prefix: str = DEFAULT_KEY_PREFIX
    # A lease (a source one replica runs at a time, alert delivery) is taken over this long after its
    # holder stops renewing it; renewed every third of it.
    lease_seconds: float = 10.0
    # How long Redis remembers an eventID (a redelivered object within this is recognised).
    event_id_seconds: float = 6 * 3600.0
    # One round trip may take this long before the store counts as unreachable.
    timeout_seconds: float = 2.0
    # Redis out of reach this long: an alert on the monitor itself (each replica's own outbox).
    unavailable_alert_seconds: float = 30.0

    @property
    def shared(self) -> bool:
        return self.backend == "redis"


def parse_state(top: Section) -> StateSettings:
    section = top.section("state")
    backend = section.string("backend", "embedded")
    if backend not in BACKENDS:
        section.error("backend", f"must be one of {', '.join(BACKENDS)}")
        backend = "embedded"
    reject_literal_secret(section, ("url",), "url_env or url_file")
    url = secret_ref(section, "url", required=backend == "redis")
    prefix = section.string("key_prefix", DEFAULT_KEY_PREFIX)
    if any(ch in prefix for ch in "{}\x00") or len(prefix) > 100:
        section.error("key_prefix", "must be at most 100 characters without '{', '}' or NUL")
        prefix = DEFAULT_KEY_PREFIX
    settings = StateSettings(
        backend=backend, url=url, key_prefix=prefix,
        lease_seconds=section.number("lease_seconds", 10.0, minimum=1.0),
        event_id_seconds=section.number("event_id_seconds", 6 * 3600.0, minimum=60.0),
        timeout_seconds=section.number("timeout_seconds", 2.0, minimum=0.1),
        unavailable_alert_seconds=section.number("unavailable_alert_seconds", 30.0, minimum=0),
    )
    if settings.timeout_seconds * 3 > settings.lease_seconds:
        # A lease renewal that hangs must fail before the lease can pass to another replica.
        section.error("timeout_seconds", "must be at most a third of lease_seconds")
    if backend != "redis" and section.data and (url is not None or "key_prefix" in section.data):
        section.error("backend", "url_env, url_file and key_prefix need backend: redis")
    section.reject_unknown()
    return settings
