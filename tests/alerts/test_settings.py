"""Config for sinks, routes and alerting: every error with its path; secrets referenced, never echoed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from monitor.alerts.service import Alerting
from monitor.alerts.sink_settings import ConsoleOptions, SlackOptions, WebhookOptions, describe_sink
from monitor.config import parse_config
from monitor.configreader import ConfigError
from monitor.model.severity import Severity
from tests.alerts.conftest import TOKEN, settings_from

HOOK = f"https://hooks.slack.com/services/{TOKEN}"


def errors_of(config: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        settings_from(config)
    return caught.value.errors


def test_no_sinks_means_json_lines_on_stdout() -> None:
    settings = settings_from({})
    assert [(s.name, s.kind) for s in settings.sinks] == [("console", "console")]
    assert settings.sinks[0].options == ConsoleOptions(path=None)


def test_full_example_parses() -> None:
    settings = settings_from({
        "sinks": [
            {"name": "oncall", "type": "slack", "webhook_url_env": "SLACK_ONCALL", "min_severity": "high"},
            {"name": "pager", "type": "sns", "topic_arn": "arn:aws:sns:eu-west-1:111122223333:pager"},
            {"name": "siem", "type": "webhook", "url_file": "/run/secrets/siem", "secret_env": "SIEM_KEY",
             "headers": {"Authorization": "Bearer ${SIEM_TOKEN}"}},
            {"name": "archive", "type": "file", "path": "/var/log/alerts.jsonl", "dedup": False},
        ],
        "routes": [{"min_severity": "critical", "sinks": ["pager", "oncall"]},
                   {"detectors": ["iam-*"], "accounts": ["prod"], "tags": ["T1098*"], "sinks": ["oncall"]},
                   {"max_severity": "low", "sinks": ["archive"]}],
        "alerting": {"repeat_window": {"window_seconds": 300, "key": ["account", "source_ip"],
                                       "detectors": {"root-console-login": {"window_seconds": 0}}},
                     "sink_failing": {"consecutive_failures": 3, "pending_seconds": 120, "notify": ["oncall"]}},
    })
    slack, sns, webhook, archive = settings.sinks
    assert slack.min_severity is Severity.HIGH and slack.rate_per_second == 1.0
    assert isinstance(slack.options, SlackOptions) and slack.options.url.env == "SLACK_ONCALL"
    assert sns.options.region == "eu-west-1"  # type: ignore[union-attr]
    assert isinstance(webhook.options, WebhookOptions) and webhook.options.url.file == "/run/secrets/siem"
    assert archive.dedup is False
    assert settings.routes[2].max_severity is Severity.LOW
    assert settings.repeat_window.detectors["root-console-login"].window_seconds == 0
    assert settings.health.notify == ("oncall",)
    assert describe_sink(slack)["url"] == "environment variable SLACK_ONCALL"


def test_errors_carry_paths() -> None:
    errors = errors_of({
        "sinks": [
            {"type": "slack"},
            {"type": "sms"},
            {"type": "sns", "topic_arn": "not-an-arn"},
            {"type": "webhook", "url_env": "HOOK", "url_file": "/x", "timeout_seconds": -1},
            {"name": "Bad Name", "type": "file"},
            {"type": "webhook", "url_env": "1BAD", "headers": {"Content-Type": "text/plain", "X-A": 5}},
            {"type": "console", "colour": True},
        ],
        "routes": [{"sinks": ["nowhere"], "min_severity": "urgent"}, {"min_severity": "high"}],
        "alerting": {"suppression": {"key": ["hostname"]}, "sink_failing": {"consecutive_failures": 0}},
    })
    for expected in (
        "sinks[0].webhook_url_env: required (or webhook_url_file)",
        "sinks[1].type: must be one of slack, sns, webhook, console, file",
        "sinks[2].topic_arn: must be an SNS topic ARN",
        "sinks[3].url_env: give url_env or url_file, not both",
        "sinks[3].timeout_seconds: must be >= 0.001",
        "sinks[4].name: use lower-case letters",
        "sinks[4].path: required",
        "sinks[5].url_env: must be an environment variable name",
        "sinks[5].headers.Content-Type: set by trailsentry",
        "sinks[5].headers.X-A: must be a string",
        "sinks[5].name: duplicate sink name 'webhook'",
        "sinks[6].colour: unknown key",
        "routes[0].sinks: unknown sink 'nowhere'",
        "routes[0].min_severity: unknown severity 'urgent'",
        "routes[1].sinks: required",
        "alerting.suppression.key: use fields from",
        "alerting.sink_failing.consecutive_failures: must be >= 1",
    ):
        assert any(e.startswith(expected) for e in errors), (expected, errors)



def test_the_repeat_window_keeps_its_old_name_as_a_deprecated_alias() -> None:
    window = {"window_seconds": 120, "key": ["account"], "detectors": {"root-*": {"window_seconds": 0}}}
    old = parse_config({"alerting": {"suppression": window}})
    new = parse_config({"alerting": {"repeat_window": window}})
    assert old.alerting.repeat_window == new.alerting.repeat_window
    assert old.alerting.repeat_window.window_seconds == 120
    assert old.warnings == ("alerting.suppression: renamed to alerting.repeat_window; the old name still works "
                            "but is deprecated",)
    assert new.warnings == ()
    # The allowlists keep their name: they are the only `suppressions`.
    assert parse_config({"suppressions": []}).warnings == ()


def test_both_names_of_the_repeat_window_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"alerting": {"suppression": {"window_seconds": 1}, "repeat_window": {"window_seconds": 2}}})
    assert caught.value.errors == ["alerting.suppression: renamed to alerting.repeat_window; give only repeat_window"]


@pytest.mark.parametrize(("sink", "key"), [
    ({"type": "slack", "webhook_url": HOOK}, "webhook_url"),
    ({"type": "slack", "url": HOOK, "webhook_url_env": "X"}, "url"),
    ({"type": "webhook", "url": HOOK}, "url"),
    ({"type": "webhook", "url_env": "X", "secret": "hunter2-" + TOKEN}, "secret"),
])
def test_secret_in_config_text_is_rejected_without_echo(sink: dict[str, Any], key: str) -> None:
    errors = errors_of({"sinks": [sink]})
    assert any(e.startswith(f"sinks[0].{key}: secrets are not written in the config") for e in errors), errors
    assert TOKEN not in "\n".join(errors)


def test_missing_secret_is_reported_at_build_with_path_not_value(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_HOOK", raising=False)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    monkeypatch.setenv("SET_HOOK", HOOK)
    settings = settings_from({"sinks": [
        {"name": "a", "type": "slack", "webhook_url_env": "NOT_SET_HOOK"},
        {"name": "b", "type": "webhook", "url_file": str(empty)},
        {"name": "c", "type": "webhook", "url_file": str(tmp_path / "missing")},
        {"name": "d", "type": "webhook", "url_env": "SET_HOOK", "headers": {"X-Key": "${NOT_SET_HOOK}"}},
    ]})
    with pytest.raises(ConfigError) as caught:
        Alerting(settings, db_path=tmp_path / "o.sqlite")
    text = str(caught.value)
    assert "sinks[0].webhook_url_env: environment variable NOT_SET_HOOK is not set" in text
    assert f"sinks[1].url_file: file {empty} is empty" in text
    assert "sinks[2].url_file: cannot read file" in text
    assert "sinks[3].headers.X-Key: environment variable NOT_SET_HOOK is not set" in text
    assert TOKEN not in text


def test_reprs_hold_no_secrets() -> None:
    settings = settings_from({"sinks": [{"type": "webhook", "url_env": "HOOK",
                                         "headers": {"X-Team": "sec " + TOKEN}}]})
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)
    header_value = settings.sinks[0].options.headers[0][1]  # type: ignore[union-attr]
    assert header_value.reveal() == "sec " + TOKEN


def test_literal_credentials_in_headers_or_secret_files_are_rejected_unechoed() -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from({"sinks": [
            {"type": "webhook", "url_env": "HOOK", "headers": {"Authorization": "Bearer " + TOKEN}},
            {"type": "slack", "webhook_url_file": HOOK},
        ]})
    text = str(caught.value)
    assert "sinks[0].headers.Authorization: credentials are not written in the config" in text
    assert "sinks[1].webhook_url_file: must be the path of a file" in text
    assert TOKEN not in text and HOOK not in text


def test_url_from_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "slack-url"
    secret_file.write_text(HOOK + "\n")
    settings = settings_from({"sinks": [{"type": "slack", "webhook_url_file": str(secret_file)}]})
    url = settings.sinks[0].options.url.resolve()  # type: ignore[union-attr]
    assert url.reveal() == HOOK
    assert TOKEN not in repr(url)
