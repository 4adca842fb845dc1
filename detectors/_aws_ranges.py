"""AWS's own address ranges as a detector param: is a caller's address inside AWS?

Not a detector: the registry skips modules whose name starts with `_`. AWS publishes its ranges in
`ip-ranges.json` (about 10,000 prefixes). Detectors do no I/O, so the config code reads that file
(`monitor/rules/aws_ranges.py`) and hands the detectors an `AddressRanges`: the prefixes merged into
sorted, disjoint integer intervals per IP version, built once, searched by bisection (O(log n)), and
plain tuples, so it pickles to worker processes. A param may also be a short list of CIDR strings
(sample cases, a config listing a few networks): those are built into the same structure once per list.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
from collections.abc import Iterable
from typing import Any

from detectors._configured import Address, address, string_tuple

Interval = tuple[int, int]


class AddressRanges:
    """Disjoint, sorted [first, last] address intervals for IPv4 and IPv6.

    A plain class, not a dataclass: identity equality and hash make it a memo key that costs nothing to
    hash, and JSON writers show it by `str` (what it holds) instead of listing every interval.
    """

    __slots__ = ("origin", "prefixes", "v4_ends", "v4_starts", "v6_ends", "v6_starts")

    def __init__(self, origin: str, prefixes: int, v4_starts: tuple[int, ...], v4_ends: tuple[int, ...],
                 v6_starts: tuple[int, ...], v6_ends: tuple[int, ...]) -> None:
        self.origin = origin  # where the ranges came from (a file path, "params"), for messages
        self.prefixes = prefixes  # how many prefixes went in
        self.v4_starts, self.v4_ends = v4_starts, v4_ends
        self.v6_starts, self.v6_ends = v6_starts, v6_ends

    @classmethod
    def from_networks(cls, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network],
                      origin: str) -> AddressRanges:
        v4: list[Interval] = []
        v6: list[Interval] = []
        count = 0
        for net in networks:
            count += 1
            (v4 if net.version == 4 else v6).append((int(net.network_address), int(net.broadcast_address)))
        s4, e4 = _merged(v4)
        s6, e6 = _merged(v6)
        return cls(origin, count, s4, e4, s6, e6)

    def __contains__(self, found: object) -> bool:
        if isinstance(found, ipaddress.IPv4Address):
            starts, ends = self.v4_starts, self.v4_ends
        elif isinstance(found, ipaddress.IPv6Address):
            starts, ends = self.v6_starts, self.v6_ends
        else:
            return False
        value = int(found)
        at = bisect.bisect_right(starts, value) - 1
        return at >= 0 and value <= ends[at]

    def __str__(self) -> str:
        # What `detectors list --format json` shows for the param: not ten thousand intervals.
        return f"{self.prefixes} address prefixes from {self.origin}"


def _merged(intervals: list[Interval]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Sorted, overlapping or adjacent intervals joined: bisection then needs to look at one interval."""
    starts: list[int] = []
    ends: list[int] = []
    for first, last in sorted(intervals):
        if ends and first <= ends[-1] + 1:
            ends[-1] = max(ends[-1], last)
        else:
            starts.append(first)
            ends.append(last)
    return tuple(starts), tuple(ends)


def ranges_param(value: Any) -> AddressRanges | None:
    """The param as ranges: built by the config code, or a list of CIDRs (malformed ones dropped); else None."""
    if isinstance(value, AddressRanges):
        return value
    cidrs = string_tuple(value)
    return _from_cidrs(cidrs) if cidrs else None


@functools.lru_cache(maxsize=16)
def _from_cidrs(cidrs: tuple[str, ...]) -> AddressRanges | None:
    parsed = []
    for cidr in cidrs:
        try:
            parsed.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            continue
    return AddressRanges.from_networks(parsed, "params") if parsed else None


def address_in_ranges(source_ip: str, ranges: AddressRanges) -> bool:
    """The sourceIPAddress is an address inside `ranges` (memoised: a fleet calls from few addresses)."""
    found = address(source_ip)
    return found is not None and _memo_inside(found, ranges)


@functools.lru_cache(maxsize=8192)
def _memo_inside(found: Address, ranges: AddressRanges) -> bool:
    return found in ranges
