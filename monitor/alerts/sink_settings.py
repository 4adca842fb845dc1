"""The `sinks:` section: where alerts go (Slack, SNS, webhook, console, file) and how each delivers.

Secrets are only *referenced* (`*_env` / `*_file`); a URL or secret written into
the config text is rejected without echoing it. Every mistake is reported with
its path (`sinks[0].webhook_url_env: required`). `trailsentry config example`
(monitor/config/example.py) shows every kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from monitor.alerts.secrets import (
    NOT_SHOWN,
    Secret,
    SecretRef,
    env_references,
    reject_literal_secret,
    secret_ref,
    valid_env_name,
)
from monitor.configreader import Section
from monitor.model.severity import Severity

SINK_KINDS = ("slack", "sns", "webhook", "console", "file")
DEFAULT_SINK_NAME = "console"

# Sink names become metric labels: short and plain.
SINK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}(?:\.fifo)?$")
# Headers the webhook sink sets itself.
_RESERVED_HEADERS = frozenset({"content-type", "content-length", "host", "x-trailsentry-signature",
                               "x-trailsentry-timestamp", "x-trailsentry-alert-id", "x-trailsentry-delivery-id",
                               "x-trailsentry-kind"})
# Header names whose values are credentials: they must come from the environment.
_CREDENTIAL_HEADER = re.compile(r"auth|token|key|secret|password|cookie|signature", re.IGNORECASE)


SLACK_API_URL = "https://slack.com/api"
# A channel ID (C..., G..., D...) or a name; chat.postMessage answers with the ID, which is recorded.
_SLACK_CHANNEL = re.compile(r"^(?:#?[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{2,30})$")


@dataclass(frozen=True, slots=True)
class SlackOptions:
    """An incoming webhook (`url`), or a bot token and channel (threads updates under the first message)."""

    url: SecretRef | None
    token: SecretRef | None = None
    channel: str = ""
    api_url: str = SLACK_API_URL


@dataclass(frozen=True, slots=True)
class SnsOptions:
    topic_arn: str
    region: str | None = None
    endpoint_url: str | None = None
    role_arn: str | None = None
    external_id: str | None = None

    @property
    def fifo(self) -> bool:
        return self.topic_arn.endswith(".fifo")


@dataclass(frozen=True, slots=True)
class WebhookOptions:
    url: SecretRef
    secret: SecretRef | None = None
    # Header values may hold tokens: kept as Secret so no repr shows them.
    headers: tuple[tuple[str, Secret], ...] = ()


@dataclass(frozen=True, slots=True)
class ConsoleOptions:
    path: str | None = None  # None: stdout


SinkOptions = SlackOptions | SnsOptions | WebhookOptions | ConsoleOptions


@dataclass(frozen=True, slots=True)
class SinkSettings:
    name: str
    kind: str
    options: SinkOptions
    where: str = ""
    min_severity: Severity = Severity.INFO
    rate_per_second: float = 0.0  # 0: no limit
    timeout_seconds: float = 10.0
    max_age_seconds: float = 86400.0
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 300.0
    dedup: bool = True


_KIND_DEFAULTS: dict[str, dict[str, float]] = {
    "slack": {"rate_per_second": 1.0},
    "sns": {"rate_per_second": 0.0},
    "webhook": {"rate_per_second": 0.0},
    "console": {"rate_per_second": 0.0},
    "file": {"rate_per_second": 0.0},
}


def parse_sinks(top: Section) -> tuple[SinkSettings, ...]:
    parsed: list[SinkSettings] = []
    seen: set[str] = set()
    for entry in top.items("sinks"):
        sink = _parse_sink(entry)
        if sink is None:
            continue
        if sink.name in seen:
            entry.error("name", f"duplicate sink name {sink.name!r} (give each sink its own name)")
            continue
        seen.add(sink.name)
        parsed.append(sink)
    return tuple(parsed)


def _parse_sink(entry: Section) -> SinkSettings | None:
    kind_value = entry.data.get("type")
    entry.string("type", required=True)
    if not isinstance(kind_value, str):
        return None
    if kind_value not in SINK_KINDS:
        entry.error("type", f"must be one of {', '.join(SINK_KINDS)}")
        return None
    kind = str(kind_value)
    name = entry.string("name", kind)
    if not SINK_NAME.match(name):
        entry.error("name", "use lower-case letters, digits, '-' and '_' (it becomes a metric label)")
    options = _parse_options(kind, entry)
    defaults = _KIND_DEFAULTS[kind]
    base = entry.number("backoff_base_seconds", 1.0, minimum=0.001)
    cap = entry.number("backoff_cap_seconds", 300.0, minimum=0.001)
    if cap < base:
        entry.error("backoff_cap_seconds", "must be >= backoff_base_seconds")
    sink = SinkSettings(
        name=name,
        kind=kind,
        options=options,
        where=entry.path,
        min_severity=entry.parsed("min_severity", Severity.parse, Severity.INFO),
        rate_per_second=entry.number("rate_per_second", defaults["rate_per_second"], minimum=0.0),
        timeout_seconds=entry.number("timeout_seconds", 10.0, minimum=0.001),
        max_age_seconds=entry.number("max_age_seconds", 86400.0, minimum=1.0),
        backoff_base_seconds=base,
        backoff_cap_seconds=max(cap, base),
        dedup=entry.boolean("dedup", True),
    )
    entry.reject_unknown()
    return sink


def _parse_options(kind: str, entry: Section) -> SinkOptions:
    if kind == "slack":
        return _parse_slack(entry)
    if kind == "webhook":
        reject_literal_secret(entry, ("url", "webhook_url"), "url_env or url_file")
        reject_literal_secret(entry, ("secret",), "secret_env or secret_file")
        url = secret_ref(entry, "url", required=True) or SecretRef(where=entry.path)
        return WebhookOptions(url=url, secret=secret_ref(entry, "secret", required=False),
                              headers=_parse_headers(entry))
    if kind == "sns":
        return _parse_sns(entry)
    if kind == "file":
        path = entry.string("path", required=True)
        return ConsoleOptions(path=path or None)
    return ConsoleOptions()


def _parse_slack(entry: Section) -> SlackOptions:
    reject_literal_secret(entry, ("webhook_url", "url"), "webhook_url_env or webhook_url_file")
    reject_literal_secret(entry, ("bot_token", "token"), "bot_token_env or bot_token_file")
    token = secret_ref(entry, "bot_token", required=False)
    has_token = token is not None or any(k in entry.data for k in ("bot_token_env", "bot_token_file"))
    if not has_token:
        return SlackOptions(url=secret_ref(entry, "webhook_url", required=True) or SecretRef(where=entry.path))
    if any(k in entry.data for k in ("webhook_url_env", "webhook_url_file")):
        secret_ref(entry, "webhook_url", required=False)  # read, so the key is not also reported as unknown
        entry.error("webhook_url_env", "give a webhook URL or a bot token, not both (the bot token threads "
                                       "updates under the first message)")
    channel = entry.string("channel", required=True)
    if channel and not _SLACK_CHANNEL.match(channel):
        entry.error("channel", "must be a channel ID (C0123ABCD) or a channel name")
    api_url = entry.string("api_url", SLACK_API_URL).rstrip("/")
    if not api_url.startswith(("http://", "https://")):
        entry.error("api_url", "must start with http:// or https://")
    return SlackOptions(url=None, token=token, channel=channel, api_url=api_url)


def _parse_headers(entry: Section) -> tuple[tuple[str, Secret], ...]:
    headers: list[tuple[str, Secret]] = []
    raw = entry.mapping("headers")
    where = entry.where("headers")
    for name, value in raw.items():
        key = str(name)
        if not _HEADER_NAME.match(key):
            entry.errors.append(f"{where}: invalid header name (letters, digits and -_. only)")
            continue
        if key.lower() in _RESERVED_HEADERS:
            entry.errors.append(f"{where}.{key}: set by trailsentry, cannot be overridden")
            continue
        if not isinstance(value, str):
            entry.errors.append(f"{where}.{key}: must be a string")
            continue
        if "\r" in value or "\n" in value:
            entry.errors.append(f"{where}.{key}: must not contain line breaks ({NOT_SHOWN})")
            continue
        variables = env_references(value)
        for variable in variables:
            if not valid_env_name(variable):
                entry.errors.append(f"{where}.{key}: bad variable reference")
        if not variables and _CREDENTIAL_HEADER.search(key):
            entry.errors.append(f"{where}.{key}: credentials are not written in the config; reference an "
                                f"environment variable, e.g. \"Bearer ${{TOKEN}}\" ({NOT_SHOWN})")
            continue
        headers.append((key, Secret(value)))
    return tuple(headers)


def _parse_sns(entry: Section) -> SnsOptions:
    arn = entry.string("topic_arn", required=True)
    match = _TOPIC_ARN.match(arn) if arn else None
    if arn and match is None:
        entry.error("topic_arn", "must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
    region = entry.string("region") or (match.group(1) if match else None)
    endpoint = entry.string("endpoint_url") or None
    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        entry.error("endpoint_url", "must start with http:// or https://")
    role = entry.string("role_arn") or None
    if role is not None and not role.startswith("arn:"):
        entry.error("role_arn", "must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
    return SnsOptions(topic_arn=arn, region=region, endpoint_url=endpoint, role_arn=role,
                      external_id=entry.string("external_id") or None)


def describe_sink(sink: SinkSettings) -> dict[str, Any]:
    """A secret-free summary for `config validate` and start-up logs."""
    summary: dict[str, Any] = {"name": sink.name, "type": sink.kind, "min_severity": sink.min_severity.label}
    options = sink.options
    if isinstance(options, SlackOptions) and options.token is not None:
        summary["bot_token"] = options.token.describe()
        summary["channel"] = options.channel
    elif isinstance(options, SlackOptions | WebhookOptions) and options.url is not None:
        summary["url"] = options.url.describe()
    if isinstance(options, SnsOptions):
        summary["topic_arn"] = options.topic_arn
    if isinstance(options, ConsoleOptions):
        summary["path"] = options.path or "stdout"
    return summary
