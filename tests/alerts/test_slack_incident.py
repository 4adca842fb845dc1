"""Incidents in Slack: one message with the timeline, within Slack's limits; updates and members name the id."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.alerts.base import KIND_NEW, KIND_UPDATE, Notice
from monitor.alerts.slack_format import MAX_MESSAGE_CHARS, MAX_SECTION_CHARS, build_message, build_parent, build_reply
from monitor.model.alert import Alert, rfc3339
from monitor.model.severity import Severity
from tests.alerts.conftest import T0, Receiver, http_sink, make_alert, settings_from
from tests.alerts.test_slack import links, mrkdwn_texts

INCIDENT = "5f0c2a9e1b7d4c3a8e6f0b1d2c3a4e5f"
TACTICS = ("discovery", "credential-access", "persistence", "privilege-escalation", "defense-evasion")


def step(index: int, *, principal: str = "arn:aws:iam::111122223333:user/dana", target: str = "") -> dict[str, Any]:
    return {"time": rfc3339(T0 + index * 60), "tactic": TACTICS[index % len(TACTICS)],
            "step": f"detector-{index}", "kind": "signal" if index % 2 else "alert", "title": f"Step {index}",
            "event_name": f"Event{index}", "principal": principal, "target": target or f"user/target-{index}",
            "event_id": f"00000000-0000-4000-8000-{index:012d}", "alert_id": f"member-{index}",
            "source_ip": "203.0.113.7", "user_agent": "aws-cli/2.15.0"}


def incident(steps: int = 4, **context: Any) -> Alert:
    timeline = [step(i) for i in range(steps)]
    values: dict[str, Any] = {
        "incident": INCIDENT,
        "actor": "arn:aws:iam::111122223333:user/dana",
        "sequence": "persistence-then-use",
        "tactics": list(TACTICS),
        "timeline": timeline,
        "identities": [{"identity": "arn:aws:iam::111122223333:user/ops-backup",
                        "linked_to": "arn:aws:iam::111122223333:user/dana", "how": "created the access key"}],
        "source_ips": ["203.0.113.7", "198.51.100.20"],
        "user_agents": ["aws-cli/2.15.0"],
        "member_alerts": ["member-0", "member-2"],
        "narrative": "user/dana created an access key for user/ops-backup at 10:02, used it from 203.0.113.7 "
                     "at 10:09 to attach AdministratorAccess.",
    }
    values.update(context)
    return make_alert(INCIDENT, detector="attack-sequence", severity=Severity.CRITICAL, title="Attack sequence by "
                      "user/dana: persistence then use", count=steps, last_event_time=T0 + steps * 60,
                      principal="arn:aws:iam::111122223333:user/dana", mitre=("T1098.001",), context=values)


def notice(alert: Alert, kind: str = KIND_NEW) -> Notice:
    return Notice(alert=alert, body=alert.to_json(), delivery_id="d1", kind=kind)


def assert_within_limits(message: dict[str, Any]) -> None:
    assert len(message["blocks"]) <= 50
    assert len(orjson.dumps(message)) <= MAX_MESSAGE_CHARS
    for block in message["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= MAX_SECTION_CHARS
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
    for text in mrkdwn_texts(message):
        assert not re.search(r"&(?!amp;|lt;|gt;)", text)


def test_incident_is_one_message_with_its_story() -> None:
    message = build_message(notice(incident()))
    text = orjson.dumps(message).decode()
    for expected in ("What happened", "created an access key for user/ops-backup", "*Timeline* (4 steps)",
                     "`detector-1` (signal)", "`Event3` by `arn:aws:iam::111122223333:user/dana` on `user/target-3`",
                     "`2023-11-14T22:13:20Z`", "`credential-access`", "Linked identities",
                     "`arn:aws:iam::111122223333:user/ops-backup` is `arn:aws:iam::111122223333:user/dana`: "
                     "`created the access key`", "`persistence-then-use`", "`198.51.100.20`", "`member-2`",
                     "*Steps*\\n4"):
        assert expected in text, expected
    assert "Details" not in text  # the context is shown as a story, not dumped
    assert_within_limits(message)


def test_a_200_step_timeline_fits_with_its_first_and_newest_steps() -> None:
    alert = incident(200, timeline_omitted=12)
    message = build_message(notice(alert))
    assert_within_limits(message)
    text = orjson.dumps(message).decode()
    assert "*Timeline* (212 steps)" in text
    shown = {int(n) for n in re.findall(r"`Event(\d+)`", text)}
    assert {0, 1, 2, 199} <= shown
    hidden = re.search(r"\+(\d+) more steps", text)
    assert hidden is not None and int(hidden.group(1)) == 200 - len(shown) + 12
    # The steps shown are the first three and an unbroken run of the newest.
    assert sorted(shown) == [0, 1, 2, *range(200 - len(shown) + 3, 200)]


def test_a_hostile_huge_incident_stays_inert_and_within_limits() -> None:
    huge = "<!channel> &<>`" * 400
    timeline = [step(i, principal=huge + "\u202e", target=huge) for i in range(200)]
    alert = incident(200, timeline=timeline, narrative=huge * 3, actor=huge,
                     identities=[{"identity": huge, "linked_to": huge, "how": huge}] * 40,
                     source_ips=[huge] * 40, user_agents=[huge] * 40, member_alerts=[huge] * 400)
    messages = (build_message(notice(alert)), build_parent(notice(alert)), build_reply(notice(alert, KIND_UPDATE)))
    for message in messages:
        assert_within_limits(message)
        assert "<!channel>" not in orjson.dumps(message).decode()
        assert links(message) == []
    assert re.search(r"\+\d+ more steps", orjson.dumps(messages[0]).decode())


def test_a_malformed_incident_context_still_formats() -> None:
    alert = incident(timeline=["not a step", {"time": 5}, None], identities="x", tactics=None, timeline_omitted=-3)
    for message in (build_message(notice(alert)), build_reply(notice(alert, KIND_UPDATE))):
        assert_within_limits(message)


def test_a_member_alert_says_which_incident_it_is_part_of() -> None:
    member = make_alert("m1", context={"incident": INCIDENT})
    for message in (build_message(notice(member)), build_parent(notice(member)),
                    build_reply(notice(member, KIND_UPDATE))):
        assert f"Part of incident `{INCIDENT}`" in orjson.dumps(message).decode()
    assert "Part of incident" not in orjson.dumps(build_message(notice(make_alert("m2")))).decode()


def test_a_thread_reply_shows_the_newest_steps() -> None:
    reply = build_reply(notice(incident(30), KIND_UPDATE))
    text = orjson.dumps(reply).decode()
    assert reply["text"].startswith(f"Update to incident {INCIDENT}: ")
    assert "Latest steps" in text and "`Event29`" in text and "`Event25`" in text and "`Event24`" not in text


async def test_webhook_only_updates_name_the_incident(tmp_path: Path, receiver: Receiver, running,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_URL", receiver.url())
    alerting = running(settings_from({"sinks": [http_sink("slack", "SLACK_URL", dedup=False)]}), tmp_path / "o.sqlite")
    await alerting.start()
    await alerting.record([incident(3)])
    await alerting.wait_for(lambda s: s.sinks["slack"].sent == 1)
    await alerting.record([incident(5)])
    await alerting.wait_for(lambda s: s.sinks["slack"].sent == 2)
    first, update = (r.json() for r in receiver.accepted)
    assert "Update to" not in orjson.dumps(first).decode()
    assert update["text"].startswith(f"Update to incident {INCIDENT}: ")
    assert update["blocks"][1]["text"]["text"] == f"*Update to incident* `{INCIDENT}`"
    assert "*Timeline* (5 steps)" in orjson.dumps(update).decode()


async def test_webhooks_carry_the_incident_context_as_recorded(tmp_path: Path, receiver: Receiver, running,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_URL", receiver.url())
    alerting = running(settings_from({"sinks": [http_sink("webhook", "HOOK_URL")]}), tmp_path / "o.sqlite")
    await alerting.start()
    alert = incident(60, timeline_omitted=3)
    member = make_alert("m1", context={"incident": INCIDENT})
    await alerting.record([alert, member])
    await alerting.wait_for(lambda s: s.sinks["webhook"].sent == 2)
    bodies = {r.json()["id"]: r.json() for r in receiver.accepted}
    assert bodies[INCIDENT]["context"] == alert.to_dict()["context"]
    assert bodies["m1"]["context"] == {"incident": INCIDENT}
