"""`trailsentry explain ALERT_ID --from PATH...`: one alert, an incident above all, told as a readable page.

The inputs are alert outputs (`scan --format jsonl`, `merge`, a file sink's JSON Lines) or CloudTrail logs,
told apart by content: a file whose first line is a JSON object with "schema" and "detector" holds alerts;
anything else is CloudTrail, scanned by the same code path as `scan` (the caller hands in the `Scanner`).
Of several versions of one alert (an episode emitted, then updated) the most complete is kept, ranked as
`merge` ranks them. An id may be shortened to a unique prefix, as in git.

Everything printed comes from attacker-controlled fields (CloudTrail values copied into the alert) or from a
file anyone could have written: every cell is cleaned of control and zero-width characters, measured in
terminal columns and clipped, so the table stays aligned and the terminal stays safe.
"""

from __future__ import annotations

import gzip
import io
import sys
import textwrap
import unicodedata
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from monitor.model import Alert
from monitor.offline.merge import MAX_LINE_BYTES, BadLine, lines, parse_alert, printable
from monitor.offline.scan import STDIN, Scanner, UnreadablePath, expand_paths
from monitor.workers import Job

INCIDENT_DETECTOR = "attack-sequence"
# Shorter prefixes match too much to be meant (git asks for 4 as well).
MIN_PREFIX = 4
_GZIP_MAGIC = b"\x1f\x8b"
_PROSE_WIDTH = 100
_PROSE_CHARS = 4000
_LIST_ITEM_CHARS = 200
_CONTEXT_VALUE_CHARS = 300
_MAX_LIST_ITEMS = 50
_AMBIGUOUS_SHOWN = 10

# The timeline's columns: (heading, context key, widest it may be).
_TIMELINE_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("TIME", "time", 20),
    ("TACTIC", "tactic", 20),
    ("STEP", "step", 32),
    ("KIND", "kind", 6),
    ("EVENT", "event_name", 32),
    ("PRINCIPAL", "principal", 40),
    ("TARGET", "target", 40),
    ("SOURCE IP", "source_ip", 39),
)


class NotFound(LookupError):
    """No alert has that id (or an id starting with it)."""


class Ambiguous(LookupError):
    """The prefix names several alerts."""


# --- reading --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Candidate:
    """The most complete version of one alert id seen so far, as its JSON object."""

    rank: tuple[int, float, int, int, bytes]
    data: dict[str, Any]


@dataclass(slots=True)
class Found:
    alerts: dict[str, Candidate] = field(default_factory=dict)
    alert_files: int = 0
    cloudtrail_files: int = 0
    bad_lines: int = 0

    def add(self, alert: Alert, data: dict[str, Any], rendered: bytes) -> None:
        rank = (alert.count, alert.last_event_time, len(alert.event_ids), len(rendered), rendered)
        held = self.alerts.get(alert.id)
        if held is None or rank > held.rank:
            self.alerts[alert.id] = Candidate(rank, data)

    def searched(self) -> str:
        sources = []
        if self.alert_files:
            sources.append(f"{self.alert_files} alert file(s)")
        if self.cloudtrail_files:
            sources.append(f"{self.cloudtrail_files} CloudTrail file(s) scanned")
        return f"{len(self.alerts)} alert(s) searched" + (f" from {' and '.join(sources)}" if sources else "")


def holds_alerts(first_line: bytes) -> bool:
    """True for a line that is an alert object (alert outputs), False for anything else (CloudTrail)."""
    try:
        data = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(data, dict) and "schema" in data and "detector" in data


def _first_line(stream: IO[bytes]) -> bytes:
    while line := stream.readline(MAX_LINE_BYTES + 1):
        if line.strip():
            return line
    return b""


def _read_alerts(stream: IO[bytes], found: Found, on_bad: Callable[[str, int, str], None], name: str) -> None:
    """Every alert line kept (its raw object, so fields newer than this version survive `--format json`)."""
    for number, line in lines(stream):
        if line is not None and not line.strip():
            continue
        try:
            if line is None:
                raise BadLine(f"line over {MAX_LINE_BYTES:,} bytes")
            alert = parse_alert(line)
        except BadLine as exc:
            found.bad_lines += 1
            on_bad(name, number, printable(str(exc)))
            continue
        found.add(alert, orjson.loads(line), line.strip())


def _open(path: str) -> IO[bytes]:
    if path == STDIN:
        data = sys.stdin.buffer.read()  # read whole: it is looked at, then read again
        return io.BytesIO(gzip.decompress(data) if data[:2] == _GZIP_MAGIC else data)
    handle = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    if handle.read(2) == _GZIP_MAGIC:
        handle.seek(0)
        return gzip.GzipFile(fileobj=handle, mode="rb")  # type: ignore[return-value]
    handle.seek(0)
    return handle


def find_alerts(paths: list[str], scanner: Callable[[list[str]], Scanner],
                on_bad: Callable[[str, int, str], None]) -> Found:
    """Every alert in the inputs: alert files read, CloudTrail files scanned together in event-time order.

    `scanner(paths)` builds the Scanner for the CloudTrail files (only when there are some). Raises
    UnreadablePath (a usage error) when an input is missing or cannot be read.
    """
    found = Found()
    cloudtrail: list[Job] = []
    for path in expand_paths(paths):
        try:
            with _open(path) as stream:
                if holds_alerts(_first_line(stream)):
                    stream.seek(0)
                    found.alert_files += 1
                    _read_alerts(stream, found, on_bad, "<stdin>" if path == STDIN else path)
                elif path == STDIN:
                    stream.seek(0)
                    cloudtrail.append(Job(origin="<stdin>", data=stream.read()))
                else:
                    cloudtrail.append(Job(origin=path, path=path))
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
            raise UnreadablePath(f"{printable(path)}: cannot read: {printable(reason)}") from None
    if cloudtrail:
        found.cloudtrail_files = len(cloudtrail)
        for alert in _scan(scanner([job.path or STDIN for job in cloudtrail]), cloudtrail):
            found.add(alert, alert.to_dict(), alert.to_json())
    return found


def _scan(scanner: Scanner, jobs: list[Job]) -> list[Alert]:
    """What `Scanner.scan` does, over jobs already made (stdin was read once, to look at it)."""
    pool = scanner.pool()
    try:
        for job, slices in scanner.findings(iter(jobs), pool):
            scanner.scan_one(job, slices)
    finally:
        if pool is not None:
            pool.close()
    return scanner.finish().alerts


@dataclass(frozen=True, slots=True)
class Selected:
    data: dict[str, Any]
    # The prefix the user gave, when it was one (the output says which id it stood for).
    prefix: str | None = None


def select(found: Found, wanted: str) -> Selected:
    """The alert with id `wanted`, or the only one whose id starts with it (at least MIN_PREFIX characters)."""
    held = found.alerts.get(wanted)
    if held is not None:
        return Selected(held.data)
    matches = sorted(i for i in found.alerts if i.startswith(wanted)) if len(wanted) >= MIN_PREFIX else []
    if len(matches) == 1:
        return Selected(found.alerts[matches[0]].data, prefix=wanted)
    if matches:
        shown = [f"{i}  {clean(_text(found.alerts[i].data.get('detector')), 40)}" for i in matches[:_AMBIGUOUS_SHOWN]]
        more = f"\n  ... and {len(matches) - _AMBIGUOUS_SHOWN} more" if len(matches) > _AMBIGUOUS_SHOWN else ""
        raise Ambiguous(f"id prefix {clean(wanted, 64)!r} matches {len(matches)} alerts; give more of the id:\n  "
                        + "\n  ".join(shown) + more)
    hint = f" (a prefix needs at least {MIN_PREFIX} characters)" if len(wanted) < MIN_PREFIX else ""
    raise NotFound(f"no alert with id {clean(wanted, 64)!r}{hint}: {found.searched()}")


# --- cleaning and measuring -----------------------------------------------------------------------

# Control, format (zero-width, bidi overrides), surrogate, private, unassigned, line/paragraph separators and
# combining marks: anything that would move the cursor, hide text or not take exactly its own columns.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Mn", "Me"})


def _safe_char(ch: str) -> str:
    if ch == " " or (ch.isprintable() and unicodedata.category(ch) not in _UNSAFE_CATEGORIES):
        return ch
    return "?"


def _columns(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def width(text: str) -> int:
    """Terminal columns of cleaned text."""
    return sum(_columns(ch) for ch in text)


def clean(text: str, limit: int) -> str:
    """Printable, at most `limit` terminal columns, "…" where it was cut."""
    out: list[str] = []
    used = 0
    for ch in text:
        safe = _safe_char(ch)
        cost = _columns(safe)
        if used + cost > limit:
            while out and used + 1 > limit:  # room for the ellipsis
                used -= _columns(out.pop())
            out.append("…")
            break
        out.append(safe)
        used += cost
    return "".join(out)


def _pad(text: str, columns: int) -> str:
    return text + " " * (columns - width(text))


def _text(value: Any) -> str:
    """A field as text whatever JSON put there (a hostile file may hold numbers, lists, objects)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode("utf-8", "replace")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def short_name(value: str) -> str:
    """An ARN as its resource part (user/dana, assumed-role/admin/s1); anything else as it is."""
    if value.startswith("arn:"):
        parts = value.split(":", 5)
        if len(parts) == 6 and parts[5]:
            return parts[5]
    return value


def _when(value: Any) -> str:
    """A time as YYYY-MM-DDTHH:MM:SSZ (whole seconds, UTC); anything unparseable shown as it is."""
    text = _text(value)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if moment.tzinfo is None:
        return text
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def table(headings: list[str], rows: list[list[str]], limits: list[int], indent: str = "  ") -> list[str]:
    """Aligned columns: each cell cleaned and clipped to its column's limit, two spaces between columns, "-" for
    an empty cell (so every column is visibly there)."""
    cells = [[clean(value, limit) or "-" for value, limit in zip(row, limits, strict=True)] for row in rows]
    widths = [max([width(heading), *(width(row[i]) for row in cells)]) for i, heading in enumerate(headings)]
    out = []
    for row in [headings, *cells]:
        out.append((indent + "  ".join(_pad(cell, widths[i]) for i, cell in enumerate(row))).rstrip())
    return out


# --- rendering ------------------------------------------------------------------------------------


def render_json(data: dict[str, Any]) -> bytes:
    """The alert's JSON object on one line, as `scan --format jsonl` writes it."""
    return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS, default=str) + b"\n"


def render_text(selected: Selected) -> str:
    data = selected.data
    context = data.get("context") if isinstance(data.get("context"), dict) else {}
    assert isinstance(context, dict)
    out: list[str] = []
    alert_id = _text(data.get("id"))
    if selected.prefix is not None:
        out.append(f"(id prefix {clean(selected.prefix, 64)} is alert {clean(alert_id, 64)})")
    if data.get("detector") == INCIDENT_DETECTOR:
        _incident(data, context, out)
    else:
        _ordinary(data, context, out)
    return "\n".join(out) + "\n"


def _fields(pairs: list[tuple[str, str]], out: list[str], limit: int = 160) -> None:
    shown = [(name, value) for name, value in pairs if value]
    label = max((len(name) for name, _ in shown), default=0)
    for name, value in shown:
        out.append(f"  {name:<{label}}  {clean(value, limit)}")


def _joined(value: Any) -> str:
    return ", ".join(_text(v) for v in _list(value)) if isinstance(value, list) else _text(value)


def _incident(data: dict[str, Any], context: dict[str, Any], out: list[str]) -> None:
    incident = _text(context.get("incident")) or _text(data.get("id"))
    out.append(f"Incident {clean(incident, 64)}: {clean(_text(data.get('title')), 120)}")
    _fields([
        ("severity", _text(data.get("severity"))),
        ("actor", _text(context.get("actor")) or _text(data.get("principal"))),
        ("sequence", _text(context.get("sequence"))),
        ("tactics", _joined(context.get("tactics") or data.get("tactics"))),
        ("first", _when(data.get("event_time"))),
        ("last", _when(data.get("last_event_time"))),
        ("account", _account(data)),
        ("alert id", _text(data.get("id")) if incident != _text(data.get("id")) else ""),
    ], out)

    timeline = [step for step in _list(context.get("timeline")) if isinstance(step, dict)]
    omitted = context.get("timeline_omitted")
    out.append("")
    out.append(f"Timeline ({len(timeline)} step(s), oldest first)")
    rows = []
    for step in timeline:
        row = []
        for _, key, _limit in _TIMELINE_COLUMNS:
            value = _text(step.get(key))
            if key == "time":
                value = _when(value)
            elif key in ("principal", "target"):
                value = short_name(value)
            row.append(value)
        rows.append(row)
    out.extend(table([h for h, _, _ in _TIMELINE_COLUMNS], rows, [limit for _, _, limit in _TIMELINE_COLUMNS]))
    if isinstance(omitted, int) and not isinstance(omitted, bool) and omitted > 0:
        out.append(f"  ... {omitted} more step(s) not kept in the alert (the timeline holds at most {len(timeline)})")

    identities = [i for i in _list(context.get("identities")) if isinstance(i, dict)]
    if identities:
        out.append("")
        out.append("Identities linked")
        out.extend(table(["IDENTITY", "LINKED TO", "HOW"],
                         [[short_name(_text(i.get("identity"))), short_name(_text(i.get("linked_to"))),
                           _text(i.get("how"))] for i in identities], [60, 60, 40]))
    _bullets("Source addresses", context.get("source_ips"), out)
    _bullets("User agents", context.get("user_agents"), out)
    _bullets("Member alerts", context.get("member_alerts"), out)
    _paragraph("What happened", _text(context.get("narrative")), out)
    _paragraph("Runbook", _text(data.get("runbook")), out)


def _paragraph(heading: str, text: str, out: list[str]) -> None:
    """Prose (a narrative, a runbook): cleaned, capped, wrapped (not at hyphens: organization-trail stays whole)."""
    if not text:
        return
    out.append("")
    out.append(heading)
    out.extend(textwrap.wrap(clean(text, _PROSE_CHARS), _PROSE_WIDTH, initial_indent="  ", subsequent_indent="  ",
                             break_on_hyphens=False))


def _account(data: dict[str, Any]) -> str:
    account, alias = _text(data.get("account")), _text(data.get("account_alias"))
    return f"{account} ({alias})" if alias and account else account or alias


def _bullets(heading: str, value: Any, out: list[str]) -> None:
    items = [_text(v) for v in _list(value)]
    if not items:
        return
    out.append("")
    out.append(f"{heading} ({len(items)})")
    for item in items[:_MAX_LIST_ITEMS]:
        out.append(f"  {clean(item, _LIST_ITEM_CHARS)}")
    if len(items) > _MAX_LIST_ITEMS:
        out.append(f"  ... and {len(items) - _MAX_LIST_ITEMS} more")


def _ordinary(data: dict[str, Any], context: dict[str, Any], out: list[str]) -> None:
    out.append(f"Alert {clean(_text(data.get('id')), 64)}: {clean(_text(data.get('title')), 120)}")
    event_ids = [_text(e) for e in _list(data.get("event_ids"))]
    _fields([
        ("detector", _text(data.get("detector"))),
        ("severity", _text(data.get("severity"))),
        ("signal", "yes" if data.get("signal") is True else ""),
        ("account", _account(data)),
        ("region", _text(data.get("region"))),
        ("principal", _text(data.get("principal"))),
        ("source ip", _text(data.get("source_ip"))),
        ("user agent", _text(data.get("user_agent"))),
        ("event", " ".join(p for p in (_text(data.get("event_source")), _text(data.get("event_name"))) if p)),
        ("first", _when(data.get("event_time"))),
        ("last", _when(data.get("last_event_time"))),
        ("count", _text(data.get("count"))),
        ("mitre", _joined(data.get("mitre"))),
        ("tactics", _joined(data.get("tactics"))),
        ("incident", _text(context.get("incident"))),
        ("event ids", ", ".join(event_ids)),
    ], out, limit=_CONTEXT_VALUE_CHARS)
    shown = {k: v for k, v in context.items() if k != "incident"}
    if shown:
        out.append("")
        out.append("Context")
        label = min(max(width(clean(_text(k), 40)) for k in shown), 40)
        for key, value in shown.items():
            out.append(f"  {_pad(clean(_text(key), 40), label)}  {clean(_text(value), _CONTEXT_VALUE_CHARS)}")
    _paragraph("Runbook", _text(data.get("runbook")), out)
