"""Slack messages: attacker-controlled fields arrive as inert text; only trailsentry's console link is a link."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.alerts.base import KIND_NEW, KIND_REPEAT, KIND_UPDATE, Notice
from monitor.alerts.slack_format import (
    MAX_HEADER_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_SECTION_CHARS,
    build_message,
    code,
    console_link,
)
from monitor.model.alert import Alert
from tests.alerts.conftest import Receiver, http_sink, make_alert, settings_from

EVENT_ID = "3e9b4c1a-8f5d-4e9a-9b7a-0c1d2e3f4a5b"
CONSOLE = f"https://us-east-1.console.aws.amazon.com/cloudtrailv2/home?region=us-east-1#/events/{EVENT_ID}"
HOSTILE_UA = "<!channel> <http://evil.example|click>"


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    """Every string Slack parses as mrkdwn: the fallback text and each mrkdwn text object."""
    found = [message["text"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message["blocks"])
    return found


def links(message: dict[str, Any]) -> list[str]:
    """Slack's control sequences (<...>: links, mentions, channel pings) in parsed text."""
    return [m for text in mrkdwn_texts(message) for m in re.findall(r"<([^>]*)>", text)]


def notice(alert: Alert, kind: str = KIND_NEW, repeats: int = 0) -> Notice:
    return Notice(alert=alert, body=alert.to_json(), delivery_id="d1", kind=kind, repeats=repeats,
                  window_seconds=600)


async def test_hostile_user_agent_arrives_as_escaped_text(tmp_path: Path, receiver: Receiver, running,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_URL", receiver.url())
    alerting = running(settings_from({"sinks": [http_sink("slack", "SLACK_URL")]}), tmp_path / "o.sqlite")
    await alerting.start()
    hostile = make_alert(
        "a1", user_agent=HOSTILE_UA, principal="arn:aws:iam::111122223333:user/<@U123>",
        context={"requestParameters": "<http://evil|bank> & *bold* `tick`", "<!here>": "x"},
        account_alias="<!subteam^S1|oncall>")
    await alerting.record([hostile])
    await alerting.wait_for(lambda s: s.sinks["slack"].sent == 1)
    payload = receiver.accepted[0].json()
    raw = receiver.accepted[0].body.decode()
    assert "&lt;!channel&gt; &lt;http://evil.example|click&gt;" in raw
    assert "<!channel>" not in raw and "<@U123>" not in raw and "<!here>" not in raw
    assert links(payload) == [f"{CONSOLE}|Open the event in the CloudTrail console"]
    assert all(t.get("verbatim") for t in _text_objects(payload) if t.get("type") == "mrkdwn")


def _text_objects(message: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "type" in node and "text" in node and isinstance(node["text"], str):
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message["blocks"])
    return found


def test_message_carries_who_what_where_when_and_runbook() -> None:
    alert = make_alert("a1", account_alias="prod", count=7, context={"mfa": False})
    message = build_message(notice(alert))
    text = orjson.dumps(message).decode()
    for expected in ("arn:aws:iam::111122223333:root", "111122223333", "prod", "ConsoleLogin",
                     "signin.amazonaws.com", "us-east-1", "203.0.113.7", "Mozilla/5.0", EVENT_ID,
                     "Confirm with the account owner", "T1078.004", "*Count*\\n7", "2023-11-14T22:12:20Z"):
        assert expected in text, expected
    assert message["blocks"][0]["type"] == "header"
    assert message["blocks"][0]["text"]["text"].startswith("\U0001f534 HIGH: Root user console login")


def test_repeat_message_says_how_many_more() -> None:
    message = build_message(notice(make_alert("a1", count=13), KIND_REPEAT, repeats=12))
    assert "+12 more in 10 min" in message["blocks"][0]["text"]["text"]


def test_control_bidi_and_backticks_are_neutralised() -> None:
    value = "evil\u202egnp.exe`<b>`\x00\x1b[31m\nnext"
    rendered = code(value)
    assert rendered.startswith("`") and rendered.endswith("`") and rendered.count("`") == 2
    assert "\u202e" not in rendered and "\x00" not in rendered and "\x1b" not in rendered and "\n" not in rendered
    assert "&lt;b&gt;" in rendered


def test_limits_hold_for_huge_fields() -> None:
    huge = "&<>" * 20_000
    alert = make_alert("a1", user_agent=huge, principal=huge, title="T" * 500, runbook=huge,
                       event_ids=[EVENT_ID] * 20, context={f"k{i}": huge for i in range(40)})
    message = build_message(notice(alert))
    assert len(orjson.dumps(message)) <= MAX_MESSAGE_CHARS
    assert len(message["blocks"]) <= 50
    assert len(message["blocks"][0]["text"]["text"]) <= MAX_HEADER_CHARS
    for block in message["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= MAX_SECTION_CHARS
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
    # Clipping never leaves half an entity such as "&am".
    for text in mrkdwn_texts(message):
        assert not re.search(r"&(?!amp;|lt;|gt;)", text)


@pytest.mark.parametrize(("region", "event_id"), [
    ("us-east-1", "not-a-uuid"),
    ("us-east-1/../../evil.example", EVENT_ID),
    ("us-east-1", EVENT_ID + "|click"),
    ("evil.example#", EVENT_ID),
    ("cn-north-1", EVENT_ID),
    ("", EVENT_ID),
])
def test_console_link_only_for_strict_region_and_event_id(region: str, event_id: str) -> None:
    assert console_link(region, event_id) is None


def test_console_link_for_valid_parts() -> None:
    assert console_link("eu-central-2", EVENT_ID) == (
        f"https://eu-central-2.console.aws.amazon.com/cloudtrailv2/home?region=eu-central-2#/events/{EVENT_ID}")


def test_no_link_when_the_event_id_is_hostile() -> None:
    alert = make_alert("a1", event_ids=["<http://evil|x>", "https://evil.example/" + EVENT_ID], region="us-east-1")
    assert links(build_message(notice(alert))) == []


def test_every_target_is_listed_inertly_with_the_count_of_the_rest_and_the_reason_for_an_update() -> None:
    targets = ["trail:org-trail", "trail:<!channel>", *(f"bucket:example-{n}" for n in range(18))]
    alert = make_alert("a1", context={"call": "cloudtrail:DeleteTrail", "targets": targets, "targets_omitted": 7,
                                      "updated_for": "new call cloudtrail:DeleteTrail"})
    message = build_message(notice(alert, KIND_UPDATE))
    texts = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section" and "text" in b]
    [listing] = [t for t in texts if t.startswith("*Targets")]
    assert listing.startswith("*Targets (27)*\n`trail:org-trail`, `trail:&lt;!channel&gt;`, `bucket:example-0`")
    assert listing.endswith("`bucket:example-17`, +7 more")
    assert "*Updated at once:* `new call cloudtrail:DeleteTrail`" in texts
    [details] = [t for t in texts if t.startswith("*Details*")]
    assert "targets" not in details and "updated_for" not in details and "cloudtrail:DeleteTrail" in details
    assert [link for link in links(message) if not link.startswith(CONSOLE)] == []
