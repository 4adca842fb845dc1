"""Suppressions: configured exceptions that drop a detection before it counts or alerts.

An entry names the detectors it covers (ids or globs; none means every
detector) and the fields an event must match: principal ARN glob, account,
source IP CIDR, user agent glob, event name, and the AWS service that made the call on the caller's
behalf (`made_through`: tune an infrastructure-as-code pipeline's stack changes without exempting the
pipeline role's direct calls). All given fields must match; a
list is any of its values. An entry with an expiry applies only to events whose
event time is before it, so the engine stays pure (no clock) and a replayed
old log is suppressed exactly as it was live.

Event fields are attacker-influenced: a value of the wrong type, an absent
field or an oversized string never matches, and matching never raises.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from monitor.model import event as ev
from monitor.model.event import Event

# Values longer than this are not matched at all: no legitimate ARN, user agent or
# event name is this long, and glob matching time grows with the length.
MAX_VALUE_CHARS = 4096

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_GLOB_CHARS = frozenset("*?[")


def is_glob(pattern: str) -> bool:
    return not _GLOB_CHARS.isdisjoint(pattern)


def compile_globs(patterns: Iterable[str], *, ignore_case: bool = False) -> re.Pattern[str] | None:
    """One regex for a list of fnmatch globs (case-sensitive unless asked), or None for no patterns."""
    parts = [fnmatch.translate(p) for p in patterns]
    if not parts:
        return None
    return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE if ignore_case else 0)


@lru_cache(maxsize=8192)
def _parse_ip(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None  # "AWS Internal", service host names, garbage
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:192.0.2.1 is 192.0.2.1 for an IPv4 CIDR
    return address


def source_address(event: Event) -> Address | None:
    value = event.sourceIPAddress
    if not value or len(value) > 64:  # the longest IPv6 text with a zone is shorter
        return None
    return _parse_ip(value)


def principal_arns(event: Event) -> list[str]:
    """The principal's ARN, plus for an assumed role the role's own ARN(s), so role globs work.

    `arn:aws:sts::111122223333:assumed-role/Deploy/session` also yields
    `arn:aws:iam::111122223333:role/Deploy`, and the session issuer's ARN when
    present (it carries the role's path: `arn:aws:iam::111122223333:role/ci/Deploy`).
    Without an ARN, the best identity the alert shows (`AWSService:...`).
    """
    ident = event.userIdentity
    arn = ident.arn
    if not arn:
        who = ev.principal(event)
        return [] if who == "unknown" else [who]
    names = [arn]
    # arn:<partition>:sts::<account>:assumed-role/<role>/<session>
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts" and parts[5].startswith("assumed-role/"):
        role = parts[5][len("assumed-role/"):].split("/", 1)[0]
        if role:
            names.append(f"arn:{parts[1]}:iam::{parts[4]}:role/{role}")
    issuer = ident.sessionContext.sessionIssuer
    if issuer.type == "Role" and issuer.arn and issuer.arn not in names:
        names.append(issuer.arn)
    return names


@dataclass(frozen=True, slots=True)
class Suppression:
    """One configured entry. Empty match fields are not checked; at least one is set (the config ensures it)."""

    name: str
    reason: str
    where: str = ""  # its config path, e.g. "suppressions[2]"
    detectors: tuple[str, ...] = ()  # ids or globs; empty: every detector
    principals: tuple[str, ...] = ()  # case-sensitive globs
    accounts: frozenset[str] = frozenset()
    source_cidrs: tuple[Network, ...] = ()
    user_agents: tuple[str, ...] = ()  # case-insensitive globs
    event_names: tuple[str, ...] = ()  # exact names or globs
    made_through: tuple[str, ...] = ()  # case-insensitive globs of the calling service (`invokedBy`)
    expires: float | None = None  # epoch seconds; applies to events strictly before it
    expires_text: str = ""  # as written, for messages
    # Compiled once from the tuples above.
    _principal_re: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)
    _agent_re: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)
    _service_re: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)
    _names_exact: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)
    _names_re: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)
    _detectors_re: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)  # frozen: set once here

        put("_principal_re", compile_globs(self.principals))
        put("_agent_re", compile_globs(self.user_agents, ignore_case=True))
        put("_service_re", compile_globs(self.made_through, ignore_case=True))
        put("_names_exact", frozenset(n for n in self.event_names if not is_glob(n)))
        put("_names_re", compile_globs(n for n in self.event_names if is_glob(n)))
        put("_detectors_re", compile_globs(d for d in self.detectors if d != "*"))

    @property
    def is_global(self) -> bool:
        return not self.detectors or "*" in self.detectors

    def covers(self, detector_id: str) -> bool:
        if self.is_global:
            return True
        return self._detectors_re is not None and self._detectors_re.match(detector_id) is not None

    def matches(self, event: Event, ts: float) -> bool:
        """All given fields match this event (cheapest checks first)."""
        if self.expires is not None and not ts < self.expires:
            return False
        if self.event_names and not self._event_name_matches(event.eventName):
            return False
        if self.accounts and ev.account(event) not in self.accounts:
            return False
        if self._principal_re is not None:
            pattern = self._principal_re
            if not any(len(a) <= MAX_VALUE_CHARS and pattern.match(a) for a in principal_arns(event)):
                return False
        if self._agent_re is not None:
            agent = event.userAgent
            if not agent or len(agent) > MAX_VALUE_CHARS or self._agent_re.match(agent) is None:
                return False
        if self._service_re is not None:
            service = ev.calling_service(event)
            if not service or len(service) > MAX_VALUE_CHARS or self._service_re.match(service) is None:
                return False
        if self.source_cidrs:
            address = source_address(event)
            if address is None or not any(address in net for net in self.source_cidrs):
                return False
        return True

    def _event_name_matches(self, name: str) -> bool:
        if not name or len(name) > MAX_VALUE_CHARS:
            return False
        if name in self._names_exact:
            return True
        return self._names_re is not None and self._names_re.match(name) is not None


_NONE: tuple[Suppression, ...] = ()


class SuppressionSet:
    """The configured entries, resolved per detector id once and cached (detector ids are few and fixed)."""

    __slots__ = ("_by_detector", "entries")

    def __init__(self, entries: Iterable[Suppression] = ()) -> None:
        self.entries: tuple[Suppression, ...] = tuple(entries)
        self._by_detector: dict[str, tuple[Suppression, ...]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __iter__(self) -> Iterator[Suppression]:
        return iter(self.entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SuppressionSet) and self.entries == other.entries

    __hash__ = None  # type: ignore[assignment]  # equal by entries, like a list

    def __repr__(self) -> str:
        return f"SuppressionSet({len(self.entries)} entries)"

    def for_detector(self, detector_id: str) -> tuple[Suppression, ...]:
        """The entries that cover this detector, in config order (global ones included)."""
        entries = self._by_detector.get(detector_id)
        if entries is None:
            entries = tuple(e for e in self.entries if e.covers(detector_id)) if self.entries else _NONE
            self._by_detector[detector_id] = entries
        return entries

    def applies_to(self, detector_id: str) -> bool:
        """False when no entry could ever suppress this detector: the engine can skip the call."""
        return bool(self.for_detector(detector_id))

    def match(self, detector_id: str, event: Event, ts: float) -> Suppression | None:
        """The first entry that suppresses this detection of `event` at event time `ts`, or None."""
        if not self.entries:
            return None
        entries = self._by_detector.get(detector_id)
        if entries is None:
            entries = self.for_detector(detector_id)
        if not entries:
            return None
        try:
            for entry in entries:
                if entry.matches(event, ts):
                    return entry
        except Exception:  # never let a hostile event turn into a dropped detection: not suppressed
            return None
        return None

    def expired(self, now: float) -> list[Suppression]:
        """Entries whose expiry is at or before `now` (epoch seconds): they no longer apply to new events."""
        return [e for e in self.entries if e.expires is not None and e.expires <= now]


__all__ = ["MAX_VALUE_CHARS", "Suppression", "SuppressionSet", "compile_globs", "is_glob", "principal_arns",
           "source_address"]
