"""AWS's published address ranges (`ip-ranges.json`) for the detectors that ask "is this caller inside AWS?".

`rules.aws_ip_ranges_file` names the file; `load_aws_ranges` reads it once at start and builds the
`AddressRanges` the detectors search (detectors do no I/O). A missing, unreadable or malformed file is a
config error naming the path: a monitor told to judge workloads by AWS's ranges must not start without
them and quietly fall back to learning each session's first address (that fallback is what runs when no
file is configured at all).

The file's format (https://ip-ranges.amazonaws.com/ip-ranges.json):
`{"syncToken", "createDate", "prefixes": [{"ip_prefix", "region", "service", "network_border_group"}],
"ipv6_prefixes": [{"ipv6_prefix", ...}]}`. Every prefix counts, whatever its service: AWS services and
EC2 addresses alike are inside AWS.

`python -m monitor.rules.aws_ranges --output PATH` downloads the published file, checks it the same way
and replaces PATH atomically: the deploy files run it in an init container (deploy/kubernetes).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from detectors._aws_ranges import AddressRanges
from monitor.configreader import ConfigError

log = logging.getLogger("trailsentry.rules")

PUBLISHED_URL = "https://ip-ranges.amazonaws.com/ip-ranges.json"
# The published file is a few MB; anything far larger is not it.
MAX_BYTES = 64 * 1024 * 1024
# The param the detectors that use the ranges declare; the loader fills it from the file.
PARAM = "aws_ranges"
_MAX_REPORTED = 5


class RangesError(ValueError):
    """The file is not a usable ip-ranges.json; the message says why (without the path)."""


def parse_aws_ranges(data: bytes, origin: str) -> AddressRanges:
    """The ranges in an ip-ranges.json document; RangesError when it is not one or holds a bad prefix."""
    return _ranges(_document(data), origin)


def _document(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RangesError(f"not JSON ({exc})") from None


def _ranges(document: Any, origin: str) -> AddressRanges:
    if not isinstance(document, dict) or not isinstance(document.get("prefixes"), list):
        raise RangesError('not an ip-ranges.json document: no "prefixes" list')
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    bad: list[str] = []
    for field, key, version in (("prefixes", "ip_prefix", 4), ("ipv6_prefixes", "ipv6_prefix", 6)):
        entries = document.get(field) or []
        if not isinstance(entries, list):
            raise RangesError(f'"{field}" is not a list')
        for index, entry in enumerate(entries):
            found = _network(entry, key, version)
            if found is None:
                bad.append(f"{field}[{index}]")
            else:
                networks.append(found)
    if bad:
        more = f" and {len(bad) - _MAX_REPORTED} more" if len(bad) > _MAX_REPORTED else ""
        raise RangesError(f"malformed prefix entries: {', '.join(bad[:_MAX_REPORTED])}{more}")
    if not networks:
        raise RangesError("no prefixes")
    return AddressRanges.from_networks(networks, origin)


def _network(entry: Any, key: str, version: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    text = entry.get(key) if isinstance(entry, dict) else None
    if not isinstance(text, str):
        return None
    try:
        found = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    return found if found.version == version else None


def load_aws_ranges(path: Path) -> AddressRanges:
    """Read and parse the configured file; ConfigError naming the path and the problem."""
    where = f"rules.aws_ip_ranges_file: {path}"
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError([f"{where}: cannot read it ({exc.strerror or exc})"]) from None
    if len(data) > MAX_BYTES:
        raise ConfigError([f"{where}: larger than {MAX_BYTES} bytes, not an ip-ranges.json"])
    try:
        document = _document(data)
        ranges = _ranges(document, str(path))
    except RangesError as exc:
        raise ConfigError([f"{where}: {exc}"]) from None
    # The file's createDate in the start-up log: an old file misses ranges AWS added since.
    created = document.get("createDate")
    log.info("AWS address ranges: %d prefixes from %s, published %s", ranges.prefixes, path,
             created[:32] if isinstance(created, str) else "(no createDate)")
    return ranges


def fetch(url: str, output: Path, timeout: float = 30.0) -> AddressRanges:
    """Download `url`, check it is a usable ip-ranges.json, and replace `output` with it atomically."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data = response.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise RangesError(f"larger than {MAX_BYTES} bytes")
    ranges = parse_aws_ranges(data, str(output))
    output.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=output.parent, prefix=".ip-ranges.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return ranges


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monitor.rules.aws_ranges",
                                     description="Download AWS's ip-ranges.json for rules.aws_ip_ranges_file.")
    parser.add_argument("--output", type=Path, required=True, help="where the file goes (replaced atomically)")
    parser.add_argument("--url", default=PUBLISHED_URL, help=f"where to download it from (default {PUBLISHED_URL})")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the download")
    args = parser.parse_args(argv)
    try:
        ranges = fetch(args.url, args.output, args.timeout)
    except (OSError, RangesError) as exc:
        print(f"aws ranges: {args.url}: {exc}", file=sys.stderr)
        return 1
    print(f"aws ranges: {ranges.prefixes} prefixes written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
