"""Block Kit messages for Slack that an attacker cannot write into.

Every CloudTrail-derived value is rendered inert by the primitives in
slack_text (escaped, in code spans, clipped, verbatim). The only link in a
message is the CloudTrail console link built here from a region and event id
that match strict patterns.

Three shapes: `build_message` (a notice as one message: what an incoming
webhook posts, and a bot's first message of an alert), `build_parent` (the
first message refreshed with the alert's newest state) and `build_reply` (a
short thread reply for an update). A message after the first names the
alert or incident it updates, so it reads right without a thread too. An
`attack-sequence` incident carries its narrative and timeline (see
slack_incident); a member alert says which incident it is part of.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from monitor.alerts.base import KIND_ESCALATION, KIND_NEW, KIND_REPEAT, KIND_UPDATE, Notice
from monitor.alerts.slack_incident import incident_blocks, incident_of, is_incident, latest_steps_text
from monitor.alerts.slack_text import (
    MAX_BLOCKS,
    MAX_FIELD_CHARS,
    MAX_HEADER_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_SECTION_CHARS,
    clip_escaped,
    code,
    plain,
    sanitize,
    text_block,
)
from monitor.model.alert import MAX_TARGETS, TARGETS, TARGETS_OMITTED, UPDATED_FOR, Alert, rfc3339
from monitor.model.severity import Severity

__all__ = ["MAX_HEADER_CHARS", "MAX_MESSAGE_CHARS", "MAX_SECTION_CHARS", "build_message", "build_parent",
           "build_reply", "code", "console_link", "headline", "updated_name"]

MAX_EVENT_IDS_SHOWN = 10
MAX_CONTEXT_ENTRIES = 10
MAX_TARGETS_SHOWN = MAX_TARGETS + 5  # an alert's list: its cap and the first target of each kind past it
# Context entries with a block of their own, not repeated under Details.
_OWN_BLOCKS = frozenset({TARGETS, TARGETS_OMITTED, UPDATED_FOR})

_REGION = re.compile(r"^[a-z]{2}-[a-z]+(?:-[a-z]+)?-\d{1,2}$")
# The console link is built for the commercial partition only.
_OTHER_PARTITIONS = ("cn-", "us-gov-", "us-iso", "eu-isoe-")
_EVENT_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMOJI = {
    Severity.CRITICAL: "\U0001f6a8",
    Severity.HIGH: "\U0001f534",
    Severity.MEDIUM: "\U0001f7e0",
    Severity.LOW: "\U0001f7e1",
    Severity.INFO: "\U0001f535",
}


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


def updated_name(alert: Alert) -> str:
    """What a later message updates: "incident <id>" or "alert <id>" (plain, for fallback text)."""
    return f"{'incident' if is_incident(alert) else 'alert'} {plain(alert.id, 80)}"


def _update_line(alert: Alert) -> str:
    return f"*Update to {'incident' if is_incident(alert) else 'alert'}* {code(alert.id, 80)}"


def _reason_line(alert: Alert) -> str | None:
    """Why the engine sent this update at once (a worse call, a new kind of target, a severity rise)."""
    reason = alert.context.get(UPDATED_FOR)
    return "*Updated at once:* " + code(reason, 300) if isinstance(reason, str) and reason else None


def _incident_line(alert: Alert) -> str | None:
    incident = incident_of(alert)
    return f"Part of incident {code(incident, 80)}" if incident else None


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": plain(text, MAX_HEADER_CHARS), "emoji": True}}


def _footer(alert: Alert) -> dict[str, Any]:
    mitre = ", ".join(code(m, 20) for m in alert.mitre[:10]) or "-"
    footer = f"trailsentry · detector {code(alert.detector, 80)} · MITRE {mitre} · alert {code(alert.id, 80)}"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": footer[:MAX_FIELD_CHARS], "verbatim": True}]}


def _fallback(notice: Notice, *, first: bool) -> str:
    text = plain(headline(notice), 300)
    if not first:
        text = f"Update to {updated_name(notice.alert)}: {text}"
    return clip_escaped(text, 600)


def _body(notice: Notice) -> list[dict[str, Any]]:
    """The alert's content: who, what, where, when (or an incident's story), links and runbook."""
    alert = notice.alert
    blocks: list[dict[str, Any]] = []
    if is_incident(alert):
        blocks.extend(incident_blocks(alert))
    else:
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
    return blocks


def build_message(notice: Notice) -> dict[str, Any]:
    """A notice as one self-contained message; after the first, it names the alert or incident it updates."""
    alert = notice.alert
    first = notice.kind == KIND_NEW
    blocks: list[dict[str, Any]] = [_header(headline(notice))]
    if not first:
        blocks.append(text_block(_update_line(alert)))
        reason = _reason_line(alert)
        if reason:
            blocks.append(text_block(reason))
    incident = _incident_line(alert)
    if incident:
        blocks.append(text_block(incident))
    if notice.kind == KIND_REPEAT:
        blocks.append(text_block(f"*+{notice.repeats} more* matching events in {_minutes(notice.window_seconds)} "
                                 "after the first message (folded as repeats)."))
    blocks.extend(_body(notice))
    blocks.append(_footer(alert))
    return _fitted({"text": _fallback(notice, first=first), "blocks": blocks})


def build_parent(notice: Notice) -> dict[str, Any]:
    """The first message of an alert, refreshed with the newest state of `notice.alert`."""
    alert = notice.alert
    current = Notice(alert=alert, body=notice.body, delivery_id=notice.delivery_id, kind=KIND_NEW)
    blocks: list[dict[str, Any]] = [_header(headline(current))]
    incident = _incident_line(alert)
    if incident:
        blocks.append(text_block(incident))
    blocks.extend(_body(current))
    blocks.append(_footer(alert))
    blocks.append({"type": "context", "elements": [{
        "type": "mrkdwn", "verbatim": True,
        "text": f"Latest state as of {rfc3339(alert.last_event_time)} (count {alert.count}); "
                "each update is in the thread."}]})
    return _fitted({"text": _fallback(current, first=True), "blocks": blocks})


def build_reply(notice: Notice) -> dict[str, Any]:
    """A short thread reply for a later notice: what changed, naming the alert or incident."""
    alert = notice.alert
    lines = [f"*{clip_escaped(plain(headline(notice), 300), 600)}*", _update_line(alert)]
    reason = _reason_line(alert)
    if reason:
        lines.append(reason)
    incident = _incident_line(alert)
    if incident:
        lines.append(incident)
    count = f"Count {alert.count}"
    if notice.repeats:
        count += f" (+{notice.repeats} more since the last message)"
    lines.append(f"{count} · severity {alert.severity.label} · last event {rfc3339(alert.last_event_time)}")
    blocks = [text_block("\n".join(lines))]
    targets = None if is_incident(alert) else _targets(alert.context)
    if targets is not None:
        blocks.append(text_block(targets))
    latest = latest_steps_text(alert) if is_incident(alert) else ""
    if latest:
        blocks.append(text_block(latest))
    return _fitted({"text": _fallback(notice, first=False), "blocks": blocks})


def _fitted(message: dict[str, Any]) -> dict[str, Any]:
    message["blocks"] = message["blocks"][:MAX_BLOCKS]
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
