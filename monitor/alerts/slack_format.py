"""Block Kit messages for Slack that an attacker cannot write into.

Every CloudTrail-derived value (user agent, principal, request values, error
messages) is attacker-controlled. In mrkdwn text each one is: stripped of
control, bidi and zero-width characters; escaped (`&`, `<`, `>`) so
`<!channel>`, `<@U123>` and `<http://evil|bank>` show as text; put inside an
inline code span (no bold/links/mentions there, and backticks in the value
are replaced so it cannot close the span); and clipped after escaping so the
limits hold. Text objects are `verbatim` so Slack does not auto-link URLs or
names. The only link in a message is the CloudTrail console link built here
from a region and event id that match strict patterns.

Slack limits kept: 50 blocks, 3000 characters per section text, 2000 per
field, 150 for a plain_text header, about 40k for the whole message.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import orjson

from monitor.alerts.base import KIND_ESCALATION, KIND_REPEAT, KIND_UPDATE, Notice
from monitor.model.alert import MAX_TARGETS, TARGETS, TARGETS_OMITTED, UPDATED_FOR, Alert, rfc3339
from monitor.model.severity import Severity

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_FIELD_CHARS = 2000
MAX_HEADER_CHARS = 150
MAX_MESSAGE_CHARS = 39_000
MAX_EVENT_IDS_SHOWN = 10
MAX_CONTEXT_ENTRIES = 10
MAX_TARGETS_SHOWN = MAX_TARGETS + 5  # an alert's list: its cap and the first target of each kind past it
# Context entries with a block of their own, not repeated under Details.
_OWN_BLOCKS = frozenset({TARGETS, TARGETS_OMITTED, UPDATED_FOR})

_REGION = re.compile(r"^[a-z]{2}-[a-z]+(?:-[a-z]+)?-\d{1,2}$")
# The console link is built for the commercial partition only.
_OTHER_PARTITIONS = ("cn-", "us-gov-", "us-iso", "eu-isoe-")
_EVENT_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Bidi overrides/isolates and zero-width characters can make text read differently than it is.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                       "\u2060\u2066\u2067\u2068\u2069\ufeff")
_EMOJI = {
    Severity.CRITICAL: "\U0001f6a8",
    Severity.HIGH: "\U0001f534",
    Severity.MEDIUM: "\U0001f7e0",
    Severity.LOW: "\U0001f7e1",
    Severity.INFO: "\U0001f535",
}
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def sanitize(text: str, *, multiline: bool = False) -> str:
    """Replace control, bidi and zero-width characters; keep newlines only when asked."""
    out: list[str] = []
    for char in text:
        if char == "\n" and multiline:
            out.append(char)
        elif char in _INVISIBLE:
            out.append("\ufffd")
        elif unicodedata.category(char) in ("Cc", "Cs"):
            out.append(" " if char in "\t\n\r" else "\ufffd")
        else:
            out.append(char)
    return "".join(out)


def escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


def clip_escaped(text: str, limit: int) -> str:
    """Escape `text` and cut it so the *escaped* result fits in `limit` (never inside an entity)."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    out: list[str] = []
    used = 0
    for char in text:
        piece = _ESCAPES.get(char, char)
        if used + len(piece) > limit - 1:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + "…"


def code(value: str, limit: int = 300) -> str:
    """An attacker-controlled value as an inline code span: inert, escaped, clipped."""
    clean = sanitize(value).strip().replace("`", "\u02cb")
    if not clean:
        return "-"
    return "`" + clip_escaped(clean, max(limit - 2, 4)) + "`"


def text_block(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_SECTION_CHARS], "verbatim": True}}


def plain(text: str, limit: int) -> str:
    clean = " ".join(sanitize(text).split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def console_link(region: str, event_id: str) -> str | None:
    """The CloudTrail console URL for one event, or None unless both parts match strict patterns."""
    if not _REGION.match(region) or region.startswith(_OTHER_PARTITIONS) or not _EVENT_ID.match(event_id):
        return None
    return f"https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}#/events/{event_id}"


def _minutes(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} h"
    if seconds >= 60:
        return f"{round(seconds / 60)} min"
    return f"{round(seconds)} s"


def headline(notice: Notice) -> str:
    alert = notice.alert
    label = alert.severity.label.upper()
    title = alert.title
    if alert.context.get("mode") == "hunt":  # found in past logs by `scan s3://`: nothing to page for now
        title = f"[historical, found by a hunt] {title}"
    if notice.kind == KIND_REPEAT:
        return f"{_EMOJI[alert.severity]} +{notice.repeats} more in {_minutes(notice.window_seconds)}: {title}"
    if notice.kind == KIND_ESCALATION:
        return f"{_EMOJI[alert.severity]} Escalated to {label}: {title}"
    if notice.kind == KIND_UPDATE:
        return f"{_EMOJI[alert.severity]} {label} (update): {title}"
    return f"{_EMOJI[alert.severity]} {label}: {title}"


def _who(alert: Alert) -> str:
    lines = [code(alert.principal, 600)]
    account = code(alert.account, 40)
    if alert.account_alias:
        account += " (" + code(alert.account_alias, 200) + ")"
    lines.append("account " + account)
    return "*Who*\n" + "\n".join(lines)


def _fields(alert: Alert, notice: Notice) -> list[dict[str, Any]]:
    when = rfc3339(alert.event_time)
    if alert.last_event_time > alert.event_time:
        when += " → " + rfc3339(alert.last_event_time)
    count = str(alert.count)
    if notice.repeats and notice.kind != KIND_REPEAT:
        count += f" (+{notice.repeats} more since the last message)"
    texts = [
        _who(alert),
        "*What*\n" + code(alert.event_name, 200) + " on " + code(alert.event_source, 200),
        "*Where*\nregion " + code(alert.region, 60) + "\nsource IP " + code(alert.source_ip, 200),
        "*When*\n" + when,
        "*Count*\n" + count,
        "*Severity*\n" + alert.severity.label,
    ]
    return [{"type": "mrkdwn", "text": t[:MAX_FIELD_CHARS], "verbatim": True} for t in texts]


def _context_lines(context: dict[str, Any]) -> str:
    lines: list[str] = []
    context = {key: value for key, value in context.items() if key not in _OWN_BLOCKS}
    for index, (key, value) in enumerate(context.items()):
        if index >= MAX_CONTEXT_ENTRIES:
            lines.append(f"… {len(context) - MAX_CONTEXT_ENTRIES} more")
            break
        if isinstance(value, str):
            shown = value
        else:
            shown = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
        lines.append("• " + code(str(key), 80) + ": " + code(shown, 250))
    return "\n".join(lines)


def _targets(context: dict[str, Any]) -> str | None:
    """Every target the alert folded, one code span each, and how many more ("+12 more")."""
    listed = context.get(TARGETS)
    if not isinstance(listed, list) or not listed:
        return None
    shown = [code(str(t), 200) for t in listed[:MAX_TARGETS_SHOWN]]
    omitted = context.get(TARGETS_OMITTED)
    more = (omitted if type(omitted) is int and omitted > 0 else 0) + max(0, len(listed) - MAX_TARGETS_SHOWN)
    if more:
        shown.append(f"+{more} more")
    return f"*Targets ({len(listed) + more})*\n" + ", ".join(shown)


def _event_ids(alert: Alert) -> str:
    shown = [code(e, 80) for e in alert.event_ids[:MAX_EVENT_IDS_SHOWN]]
    more = len(alert.event_ids) - MAX_EVENT_IDS_SHOWN
    if more > 0:
        shown.append(f"+{more} more")
    return "*Event IDs*\n" + ", ".join(shown)


def build_message(notice: Notice) -> dict[str, Any]:
    alert = notice.alert
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": plain(headline(notice), MAX_HEADER_CHARS),
                                    "emoji": True}},
    ]
    if notice.kind == KIND_REPEAT:
        blocks.append(text_block(f"*+{notice.repeats} more* matching events in {_minutes(notice.window_seconds)} "
                                 "after the first message (folded as repeats)."))
    reason = alert.context.get(UPDATED_FOR)
    if isinstance(reason, str) and reason:
        blocks.append(text_block("*Updated at once:* " + code(reason, 300)))
    blocks.append({"type": "section", "fields": _fields(alert, notice)})
    targets = _targets(alert.context)
    if targets is not None:
        blocks.append(text_block(targets))
    blocks.append(text_block("*User agent*\n" + code(alert.user_agent, 1000)))
    if alert.event_ids:
        blocks.append(text_block(_event_ids(alert)))
    details = _context_lines(alert.context)
    if details:
        blocks.append(text_block("*Details*\n" + details))
    link = next((u for u in (console_link(alert.region, e) for e in alert.event_ids) if u), None)
    if link is not None:
        blocks.append(text_block(f"<{link}|Open the event in the CloudTrail console>"))
    if alert.runbook:
        runbook = clip_escaped(sanitize(alert.runbook, multiline=True).strip(), MAX_SECTION_CHARS - 20)
        blocks.append(text_block("*Runbook*\n" + runbook))
    mitre = ", ".join(code(m, 20) for m in alert.mitre[:10]) or "-"
    footer = f"trailsentry · detector {code(alert.detector, 80)} · MITRE {mitre} · alert {code(alert.id, 80)}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer[:MAX_FIELD_CHARS],
                                                    "verbatim": True}]})
    fallback = clip_escaped(plain(headline(notice), 300), 600)
    message: dict[str, Any] = {"text": fallback, "blocks": blocks[:MAX_BLOCKS]}
    # Drop the bulkiest optional blocks until the whole message fits.
    while len(orjson.dumps(message)) > MAX_MESSAGE_CHARS and len(message["blocks"]) > 3:
        message["blocks"] = _without_largest(message["blocks"])
    return message


def _without_largest(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    sizes = [(len(orjson.dumps(b)), i) for i, b in enumerate(blocks) if b.get("type") == "section" and i > 0]
    if not sizes:
        return blocks[:-1]
    _, index = max(sizes)
    return blocks[:index] + blocks[index + 1:]
