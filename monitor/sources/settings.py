"""The `sources:` section: one entry per source, each read by its kind's settings below.

    sources:
      - kind: s3-sqs
        name: org-trail            # optional, defaults to the kind; labels metrics, keys checkpoints
        queue_url: https://sqs.us-east-1.amazonaws.com/111122223333/cloudtrail-events
        aws: {region: us-east-1}   # monitor/aws/settings.py

Every mistake is recorded with its path (`sources[1].queue_url: required`), and an
entry in error is left out, so a config with several mistakes reports them all
before the service touches AWS. A kind's module is imported only to check that it
is available (a missing dependency is a config error with its path).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from monitor.aws.settings import AwsSettings
from monitor.configreader import Section
from monitor.sources.registry import UnavailableKind, source_module

# Names label metrics and key checkpoints: keep them short and plain.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True, slots=True)
class SourceSpec:
    kind: str
    name: str
    settings: Any  # the kind's settings class below
    where: str  # "sources[1]", for messages


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
            source_module(kind)  # a kind whose module cannot be imported is a config error, with its path
        except UnavailableKind as exc:
            section.error("kind", str(exc))
            continue
        settings = PARSERS[kind](section)
        if len(section.errors) == errors_before:
            specs.append(SourceSpec(kind=kind, name=name, settings=settings, where=section.path))
    return specs


# --- s3-sqs ---------------------------------------------------------------------------------------------

MAX_VISIBILITY = 12 * 3600  # SQS's own limit
_QUEUE_HOST = re.compile(r"^https?://(?:sqs\.([a-z0-9-]+)\.amazonaws\.com|([a-z0-9-]+)\.queue\.amazonaws\.com)/")


@dataclass(frozen=True, slots=True)
class SqsSettings:
    queue_url: str
    aws: AwsSettings = field(default_factory=AwsSettings)
    wait_seconds: int = 20
    max_messages: int = 10
    visibility_timeout: int = 300
    max_receives: int = 5
    download_concurrency: int = 4
    key_prefixes: tuple[str, ...] = ()
    retry_base_seconds: int = 30
    retry_max_seconds: int = 900


def parse_sqs(section: Section) -> SqsSettings:
    queue_url = section.string("queue_url", required=True)
    if queue_url and not queue_url.startswith(("https://", "http://")):
        section.error("queue_url", "must be an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<queue>)")
    aws = AwsSettings.parse(section.section("aws"))
    if aws.region is None:
        # The queue URL names its region; use it rather than whatever the environment defaults to.
        match = _QUEUE_HOST.match(queue_url)
        if match:
            aws = replace(aws, region=match.group(1) or match.group(2))
    settings = SqsSettings(
        queue_url=queue_url,
        aws=aws,
        wait_seconds=section.integer("wait_seconds", 20, minimum=0, maximum=20),
        max_messages=section.integer("max_messages", 10, minimum=1, maximum=10),
        visibility_timeout=section.integer("visibility_timeout", 300, minimum=2, maximum=MAX_VISIBILITY),
        max_receives=section.integer("max_receives", 5, minimum=1, maximum=1000),
        download_concurrency=section.integer("download_concurrency", 4, minimum=1, maximum=256),
        key_prefixes=tuple(section.strings("key_prefixes")),
        retry_base_seconds=section.integer("retry_base_seconds", 30, minimum=1, maximum=MAX_VISIBILITY),
        retry_max_seconds=section.integer("retry_max_seconds", 900, minimum=1, maximum=MAX_VISIBILITY),
    )
    if settings.retry_max_seconds < settings.retry_base_seconds:
        section.error("retry_max_seconds", "must be >= retry_base_seconds")
    section.reject_unknown()
    return settings


# --- s3-poll --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PollSettings:
    bucket: str
    prefix: str = "AWSLogs/"
    aws: AwsSettings = field(default_factory=AwsSettings)
    interval_seconds: float = 60.0
    lookback_seconds: int = 900
    recent_keys: int = 10000
    start_at: dt.datetime | None = None
    # "auto": both layouts; "yes": only <prefix>o-xxx/<account>/; "no": only <prefix><account>/
    organization: str = "auto"
    discovery_every: int = 10
    download_concurrency: int = 4
    list_concurrency: int = 4
    max_attempts: int = 5


def parse_poll(section: Section) -> PollSettings:
    bucket = section.string("bucket", required=True)
    if bucket and (not 3 <= len(bucket) <= 63 or "/" in bucket):
        section.error("bucket", "must be a bucket name (3-63 characters, no '/')")
    prefix = section.string("prefix", "AWSLogs/")
    if not prefix:
        section.error("prefix", "must not be empty (the folder holding AWSLogs' accounts, e.g. AWSLogs/)")
    elif not prefix.endswith("/"):
        prefix += "/"
    aws = AwsSettings.parse(section.section("aws"))
    raw_start = section.data.get("start_at")
    if isinstance(raw_start, dt.date):  # YAML reads an unquoted date as a date
        section.data["start_at"] = raw_start.isoformat()
    start_at = section.parsed("start_at", _parse_start, None)
    if isinstance(section.data.get("organization"), bool):
        organization = "yes" if section.boolean("organization", False) else "no"
    else:
        organization = section.string("organization", "auto", choices=("auto", "yes", "no"))
    settings = PollSettings(
        bucket=bucket,
        prefix=prefix or "AWSLogs/",
        aws=aws,
        interval_seconds=section.number("interval_seconds", 60.0, minimum=1.0),
        lookback_seconds=section.integer("lookback_seconds", 900, minimum=0, maximum=7 * 86400),
        recent_keys=section.integer("recent_keys", 10000, minimum=1),
        start_at=start_at,
        organization=organization,
        discovery_every=section.integer("discovery_every", 10, minimum=1),
        download_concurrency=section.integer("download_concurrency", 4, minimum=1, maximum=256),
        list_concurrency=section.integer("list_concurrency", 4, minimum=1, maximum=64),
        max_attempts=section.integer("max_attempts", 5, minimum=1),
    )
    section.reject_unknown()
    return settings


def _parse_start(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be an ISO date or time, e.g. 2026-03-01 or 2026-03-01T12:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# --- cloudwatch-logs and cloudwatch-live-tail -------------------------------------------------------------

# StartLiveTail accepts at most 10 log groups per session.
MAX_LOG_GROUPS = 10
# CloudWatch ends a session after 3 hours; reconnecting earlier keeps the handover under our control.
DEFAULT_SESSION_SECONDS = 10_500.0


def group_name(identifier: str) -> str:
    """The log group name of a name or ARN (`arn:aws:logs:<region>:<account>:log-group:<name>[:*]`)."""
    if not identifier.startswith("arn:"):
        return identifier
    _, marker, rest = identifier.partition(":log-group:")
    if not marker:
        return identifier
    return rest[:-2] if rest.endswith(":*") else rest


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """How log events are read back with FilterLogEvents (both CloudWatch sources)."""

    log_stream_prefix: str | None = None
    # Passed through as filterPattern: only a cost optimisation, correctness never depends on it.
    filter_pattern: str | None = None
    overlap_seconds: float = 300.0
    settle_seconds: float = 5.0
    start_at: float | None = None  # epoch seconds; first-run start instead of now - overlap
    recent_event_ids: int = 50_000
    page_size: int | None = None  # FilterLogEvents `limit`; None lets CloudWatch fill pages (1 MB / 10,000 events)


def parse_fetch(section: Section) -> FetchSettings:
    page_size = section.optional_integer("page_size", minimum=1)
    if page_size is not None and page_size > 10_000:
        section.error("page_size", "must be <= 10000 (the FilterLogEvents limit)")
        page_size = None
    return FetchSettings(
        log_stream_prefix=section.string("log_stream_prefix") or None,
        filter_pattern=section.string("filter_pattern") or None,
        overlap_seconds=section.number("overlap_seconds", 300.0, minimum=0.0),
        settle_seconds=section.number("settle_seconds", 5.0, minimum=0.0),
        start_at=parse_start_at(section, "start_at"),
        recent_event_ids=section.integer("recent_event_ids", 50_000, minimum=1),
        page_size=page_size,
    )


def parse_start_at(section: Section, key: str) -> float | None:
    """An RFC 3339 time (YAML may already have turned an unquoted one into a datetime)."""
    raw = section.value(key)
    if raw is None:
        return None
    if isinstance(raw, dt.datetime):
        moment = raw
    elif isinstance(raw, dt.date):
        moment = dt.datetime(raw.year, raw.month, raw.day, tzinfo=dt.UTC)
    elif isinstance(raw, str):
        try:
            moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            section.error(key, f"must be an RFC 3339 time such as 2024-05-01T00:00:00Z; got {raw!r}")
            return None
    else:
        section.error(key, f"must be an RFC 3339 time, got {type(raw).__name__}")
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


@dataclass(frozen=True, slots=True)
class CloudWatchLogsSettings:
    log_groups: tuple[str, ...]
    aws: AwsSettings = field(default_factory=AwsSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    interval_seconds: float = 10.0


def parse_cloudwatch_logs(section: Section) -> CloudWatchLogsSettings:
    groups = section.strings("log_groups")
    if not groups:
        section.error("log_groups", "required: one or more log group names")
    for i, group in enumerate(groups):
        if not group or group.startswith("arn:"):
            section.error(f"log_groups[{i}]", "must be a log group name, such as aws-cloudtrail-logs-111122223333")
    if len(set(groups)) != len(groups):
        section.error("log_groups", "lists a log group twice")
    settings = CloudWatchLogsSettings(
        log_groups=tuple(groups),
        aws=AwsSettings.parse(section.section("aws")),
        fetch=parse_fetch(section),
        interval_seconds=section.number("interval_seconds", 10.0, minimum=0.1),
    )
    section.reject_unknown()
    return settings


@dataclass(frozen=True, slots=True)
class LiveTailSettings:
    log_groups: tuple[str, ...]  # names or ARNs
    aws: AwsSettings = field(default_factory=AwsSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    session_seconds: float = DEFAULT_SESSION_SECONDS
    interval_seconds: float = 10.0  # the least time between two back-fill reads


def parse_live_tail(section: Section) -> LiveTailSettings:
    groups = section.strings("log_groups")
    if not groups:
        section.error("log_groups", "required: one to ten log group names or ARNs")
    elif len(groups) > MAX_LOG_GROUPS:
        section.error("log_groups", f"at most {MAX_LOG_GROUPS} log groups per Live Tail session")
    for i, group in enumerate(groups):
        if not group or group.endswith("*"):
            section.error(f"log_groups[{i}]", "must be a log group name or ARN without a trailing *")
    if len({group_name(g) for g in groups}) != len(groups):
        section.error("log_groups", "lists a log group twice")
    fetch = parse_fetch(section)
    if fetch.log_stream_prefix and len(groups) > 1:
        section.error("log_stream_prefix", "Live Tail accepts a stream prefix only with a single log group")
    settings = LiveTailSettings(
        log_groups=tuple(groups),
        aws=AwsSettings.parse(section.section("aws")),
        fetch=fetch,
        session_seconds=section.number("session_seconds", DEFAULT_SESSION_SECONDS, minimum=60.0),
        interval_seconds=section.number("interval_seconds", 10.0, minimum=0.1),
    )
    if settings.session_seconds > 3 * 3600:
        section.error("session_seconds", "must be <= 10800 (CloudWatch ends sessions after 3 hours)")
    section.reject_unknown()
    return settings


# --- directory ------------------------------------------------------------------------------------------

DEFAULT_MAX_FILE_BYTES = 128 * 1024 * 1024  # the live service holds a file whole: `scan` streams larger ones


@dataclass(frozen=True, slots=True)
class DirectorySettings:
    path: Path
    pattern: str = "*"
    interval_seconds: float = 2.0
    settle_seconds: float = 1.0
    delete_after: bool = False
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES


def parse_directory(section: Section) -> DirectorySettings:
    path = section.string("path", required=True)
    pattern = section.string("pattern", "*") or "*"
    if pattern.startswith("/") or ".." in Path(pattern).parts:
        section.error("pattern", "must be relative to path and stay inside it")
        pattern = "*"
    settings = DirectorySettings(
        path=Path(path).expanduser() if path else Path("."),
        pattern=pattern,
        interval_seconds=section.number("interval_seconds", 2.0, minimum=0.05),
        settle_seconds=section.number("settle_seconds", 1.0, minimum=0.0),
        delete_after=section.boolean("delete_after", False),
        max_file_bytes=section.integer("max_file_bytes", DEFAULT_MAX_FILE_BYTES, minimum=1),
    )
    section.reject_unknown()
    return settings


PARSERS: dict[str, Callable[[Section], Any]] = {
    "s3-sqs": parse_sqs,
    "s3-poll": parse_poll,
    "cloudwatch-logs": parse_cloudwatch_logs,
    "cloudwatch-live-tail": parse_live_tail,
    "directory": parse_directory,
}
