"""Block Kit for an `attack-sequence` incident: narrative, timeline, linked identities, member alerts.

The context keys are the ones fixed for issue 14 (incident, actor, sequence,
tactics, timeline, timeline_omitted, identities, source_ips, user_agents,
member_alerts, narrative). Every value in them comes from CloudTrail and is
rendered like any other attacker-controlled value (see slack_format). A long
timeline keeps its first steps (how it started) and as many of its newest as
fit, with "+N more steps" between, so the message stays under Slack's limits
(50 blocks, 3000 characters per section) whatever the incident's size.
"""

from __future__ import annotations

from typing import Any

from monitor.alerts.slack_text import MAX_SECTION_CHARS, clip_escaped, code, sanitize, text_block
from monitor.model.alert import Alert, rfc3339

INCIDENT_DETECTOR = "attack-sequence"
# Room for the timeline: at most this many sections, and this many characters in all (the whole
# message must stay under about 40k).
MAX_TIMELINE_SECTIONS = 8
MAX_TIMELINE_CHARS = 20_000
MAX_STEPS_SHOWN = 50  # as many as an incident keeps; more is a wall of text
FIRST_STEPS_KEPT = 3
MAX_LIST_ITEMS = 10
LATEST_STEPS_IN_REPLY = 5


def is_incident(alert: Alert) -> bool:
    return alert.detector == INCIDENT_DETECTOR


def incident_of(alert: Alert) -> str:
    """The incident an ordinary alert is part of, or ""."""
    value = alert.context.get("incident")
    return value if isinstance(value, str) and not is_incident(alert) else ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def step_line(step: Any) -> str:
    """One timeline step: time, tactic, detector or signal, event name, principal and target."""
    item = step if isinstance(step, dict) else {}
    kind = _text(item.get("kind"))
    line = (f"• {code(_text(item.get('time')), 40)} {code(_text(item.get('tactic')), 40)} "
            f"{code(_text(item.get('step')), 80)}{' (signal)' if kind == 'signal' else ''}: "
            f"{code(_text(item.get('event_name')), 80)} by {code(_text(item.get('principal')), 160)}")
    target = _text(item.get("target"))
    if target:
        line += " on " + code(target, 160)
    return line


def _pack(lines: list[str], limit: int = MAX_SECTION_CHARS - 40) -> list[str]:
    """Lines joined into as few texts of at most `limit` characters as possible."""
    texts: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + 1 + len(line) > limit:
            texts.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        texts.append(current)
    return texts


def timeline_texts(alert: Alert) -> list[str]:
    """The timeline as section texts within the section and character budgets, oldest first."""
    steps = _list(alert.context.get("timeline"))
    omitted = _count(alert.context.get("timeline_omitted"))
    lines = [step_line(s) for s in steps]
    title = f"*Timeline* ({len(steps) + omitted} steps)"

    def fits(shown: list[str]) -> bool:
        # `shown` is the steps plus one "more steps" line.
        if len(shown) > MAX_STEPS_SHOWN + 1:
            return False
        packed = _pack([title, *shown])
        return len(packed) <= MAX_TIMELINE_SECTIONS and sum(map(len, packed)) <= MAX_TIMELINE_CHARS

    whole = [*lines, f"+{omitted} more steps (not kept in the incident)"]
    if len(lines) <= MAX_STEPS_SHOWN and fits(whole):
        return _pack([title, *(whole if omitted else lines)])
    head = lines[:FIRST_STEPS_KEPT]
    tail: list[str] = []
    # Add the newest steps while the whole still fits (a marker line is reserved).
    for line in reversed(lines[FIRST_STEPS_KEPT:]):
        if not fits([*head, "+000000 more steps", line, *tail]):
            break
        tail.insert(0, line)
    hidden = len(lines) - len(head) - len(tail) + omitted
    return _pack([title, *head, f"+{hidden} more steps", *tail])


def _identities(alert: Alert) -> str:
    links = _list(alert.context.get("identities"))
    if not links:
        return ""
    lines = []
    for link in links[:MAX_LIST_ITEMS]:
        item = link if isinstance(link, dict) else {}
        lines.append(f"• {code(_text(item.get('identity')), 200)} is {code(_text(item.get('linked_to')), 200)}: "
                     f"{code(_text(item.get('how')), 80)}")
    if len(links) > MAX_LIST_ITEMS:
        lines.append(f"+{len(links) - MAX_LIST_ITEMS} more")
    return "*Linked identities*\n" + "\n".join(lines)


def _values(title: str, values: list[Any], limit: int = 200) -> str:
    shown = [code(_text(v), limit) for v in values[:MAX_LIST_ITEMS]]
    if len(values) > MAX_LIST_ITEMS:
        shown.append(f"+{len(values) - MAX_LIST_ITEMS} more")
    return f"*{title}*\n" + (", ".join(shown) or "-")


def incident_fields(alert: Alert) -> list[dict[str, Any]]:
    context = alert.context
    steps = len(_list(context.get("timeline"))) + _count(context.get("timeline_omitted"))
    tactics = ", ".join(code(_text(t), 40) for t in _list(context.get("tactics"))[:14]) or "-"
    when = rfc3339(alert.event_time)
    if alert.last_event_time > alert.event_time:
        when += " → " + rfc3339(alert.last_event_time)
    texts = [
        "*Actor*\n" + code(_text(context.get("actor")) or alert.principal, 600),
        "*Account*\n" + code(alert.account, 40),
        "*Sequence*\n" + code(_text(context.get("sequence")), 120),
        "*Tactics*\n" + tactics,
        "*When*\n" + when,
        "*Steps*\n" + str(steps),
    ]
    return [{"type": "mrkdwn", "text": t[:2000], "verbatim": True} for t in texts]


def narrative_block(alert: Alert) -> dict[str, Any] | None:
    narrative = sanitize(_text(alert.context.get("narrative")), multiline=True).strip()
    if not narrative:
        return None
    return text_block("*What happened*\n" + clip_escaped(narrative, MAX_SECTION_CHARS - 40))


def incident_blocks(alert: Alert) -> list[dict[str, Any]]:
    """Everything between the header and the runbook for an incident (at most 14 blocks)."""
    blocks: list[dict[str, Any]] = []
    narrative = narrative_block(alert)
    if narrative is not None:
        blocks.append(narrative)
    blocks.append({"type": "section", "fields": incident_fields(alert)})
    blocks.extend(text_block(t) for t in timeline_texts(alert))
    identities = _identities(alert)
    if identities:
        blocks.append(text_block(identities))
    context = alert.context
    blocks.append(text_block(_values("Source addresses", _list(context.get("source_ips")), 60) + "\n"
                             + _values("User agents", _list(context.get("user_agents")), 200)))
    members = _list(context.get("member_alerts"))
    if members:
        blocks.append(text_block(_values("Member alerts", members, 80)))
    return blocks


def latest_steps_text(alert: Alert) -> str:
    """The newest steps of an incident, for a thread reply."""
    steps = _list(alert.context.get("timeline"))[-LATEST_STEPS_IN_REPLY:]
    if not steps:
        return ""
    return "\n".join(["*Latest steps*", *(step_line(s) for s in steps)])[:MAX_SECTION_CHARS]
