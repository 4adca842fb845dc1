"""The `suppressions:` config section (allowlists), and the start-up checks that need the detector list or a clock.

    suppressions:
      - name: scanner
        detectors: [access-denied-burst]
        source_cidr: 203.0.113.0/24
        reason: quarterly vulnerability scan (ticket SEC-142)
        expires: 2026-07-01

Every mistake is reported with its path (`suppressions[2].source_cidr: ...`).
"""

from __future__ import annotations

import fnmatch
import ipaddress
import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, time

from monitor.configreader import Section
from monitor.engine.suppressions import Network, Suppression, SuppressionSet, is_glob

MATCH_FIELDS = ("principal", "account", "source_cidr", "user_agent", "event_name", "made_through")


def parse_suppressions(top: Section) -> SuppressionSet:
    """Read `suppressions` from the top-level section; errors go to the section's error list."""
    entries: list[Suppression] = []
    names: dict[str, str] = {}
    raw = top.data.get("suppressions")
    for index, item in enumerate(top.items("suppressions")):
        if isinstance(raw, list) and raw[index] is not None and not isinstance(raw[index], dict):
            continue  # already reported as "must be a mapping"
        entry = _entry(item, index)
        if entry is None:
            continue
        if entry.name in names:
            item.error("name", f"{entry.name!r} is already used by {names[entry.name]}")
            continue
        names[entry.name] = entry.where
        entries.append(entry)
    return SuppressionSet(entries)


def _entry(item: Section, index: int) -> Suppression | None:
    before = len(item.errors)
    where = item.path
    name = item.string("name") or f"suppressions[{index}]"
    reason = item.string("reason", required=True)
    if isinstance(item.data.get("reason"), str) and not reason.strip():
        item.error("reason", "must not be empty: say why this is not worth an alert")
    detectors = _globs(item, "detectors")
    principals = _globs(item, "principal")
    accounts = _accounts(item)
    cidrs = _cidrs(item)
    agents = _globs(item, "user_agent")
    event_names = _globs(item, "event_name")
    services = _globs(item, "made_through")
    expires, expires_text = _expiry(item)
    item.reject_unknown()
    if not any(item.data.get(key) is not None for key in MATCH_FIELDS):
        item.error("", f"needs at least one of {', '.join(MATCH_FIELDS)} (an entry without one would hide "
                       "every detection)")
    if len(item.errors) != before:
        return None
    return Suppression(
        name=name, reason=reason.strip(), where=where, detectors=tuple(detectors), principals=tuple(principals),
        accounts=frozenset(accounts), source_cidrs=tuple(cidrs), user_agents=tuple(agents),
        event_names=tuple(event_names), made_through=tuple(services), expires=expires, expires_text=expires_text,
    )


def _strings(item: Section, key: str) -> list[str]:
    present = item.data.get(key) is not None
    values = item.strings(key)
    if present and not values and isinstance(item.data.get(key), list):
        item.error(key, "empty list: give at least one value or remove the key")
    for value in values:
        if not value.strip():
            item.error(key, "values must not be empty")
            return []
    return values


def _globs(item: Section, key: str) -> list[str]:
    values = _strings(item, key)
    if key == "detectors":
        return values
    for value in values:
        if set(value) <= {"*"}:
            item.error(key, f"{value!r} matches everything: remove the key instead")
            return []
        if key == "principal" and ":" not in value and not is_glob(value):
            item.error(key, f"{value!r}: write an ARN or an ARN glob, e.g. arn:aws:iam::*:role/BreakGlass")
            return []
    return values


def _accounts(item: Section) -> list[str]:
    raw = item.value("account")
    if raw is None:
        return []
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        item.error("account", "empty list: give at least one value or remove the key")
    accounts: list[str] = []
    for value in values:
        if isinstance(value, str) and len(value) == 12 and value.isascii() and value.isdigit():
            accounts.append(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            item.error("account", f"{value}: account ids are 12-digit strings (quote them in YAML)")
        else:
            item.error("account", f"{value!r}: not a 12-digit account id")
    return accounts


def _cidrs(item: Section) -> list[Network]:
    networks: list[Network] = []
    for text in _strings(item, "source_cidr"):
        try:
            networks.append(ipaddress.ip_network(text.strip(), strict=True))
        except ValueError as exc:
            item.error("source_cidr", f"{text!r}: not an IPv4 or IPv6 CIDR ({exc})")
    return networks


def _expiry(item: Section) -> tuple[float | None, str]:
    raw = item.value("expires")
    if raw is None:
        return None, ""
    # YAML gives an unquoted 2026-07-01 as a date and 2026-07-01T00:00:00Z as a datetime.
    when: datetime | None = None
    if isinstance(raw, datetime):
        when = raw
    elif isinstance(raw, date):
        when = datetime.combine(raw, time(0), UTC)
    elif isinstance(raw, str):
        text = raw.strip()
        try:
            when = datetime.combine(date.fromisoformat(text), time(0), UTC) if len(text) == 10 \
                else datetime.fromisoformat(text)
        except ValueError:
            when = None
    if when is None:
        item.error("expires", f"{raw!r}: write a date (2026-07-01) or an ISO 8601 date and time "
                              "(2026-07-01T18:00:00Z)")
        return None, ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # CloudTrail's times are UTC, so is a bare expiry
    return when.timestamp(), when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def check_detector_ids(suppressions: SuppressionSet, known_ids: Iterable[str]) -> list[str]:
    """Errors for detector ids or globs that name no known detector (a typo would silently suppress nothing)."""
    known = sorted(set(known_ids))
    errors: list[str] = []
    for entry in suppressions:
        for pattern in entry.detectors:
            if pattern == "*":
                continue
            if not any(fnmatch.fnmatchcase(detector_id, pattern) for detector_id in known):
                errors.append(f"{entry.where}.detectors: {pattern!r} matches no known detector "
                              "(see `trailsentry detectors list`)")
    return errors


def warn_expired(suppressions: SuppressionSet, now: float, log: logging.Logger) -> list[Suppression]:
    """Log one warning per entry that has expired by `now`; returns them."""
    expired = suppressions.expired(now)
    for entry in expired:
        log.warning("suppression %s expired at %s and no longer applies (reason was: %s); remove or renew it",
                    entry.name, entry.expires_text, entry.reason)
    return expired


__all__ = ["MATCH_FIELDS", "check_detector_ids", "parse_suppressions", "warn_expired"]
