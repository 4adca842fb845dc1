"""The `sources`, `checkpoint` and `service` sections: typed settings, and every error with its path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.cli import main
from monitor.config import ConfigError, parse_config
from monitor.config.example import EXAMPLE_CONFIG
from monitor.config.service import CHECKPOINT_ENV, DEFAULT_CHECKPOINT_PATH, CheckpointSettings, ServiceSettings
from monitor.config.validate import run_errors
from monitor.sources.registry import KINDS, UnavailableKind, source_module

QUEUE = "https://sqs.us-east-1.amazonaws.com/111122223333/cloudtrail-events"


def errors_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.errors


def test_defaults_without_live_sections() -> None:
    config = parse_config({})
    assert config.live.sources == ()
    assert config.live.service == ServiceSettings()
    assert config.live.service.drain_seconds < 30  # inside Kubernetes' default grace period
    assert config.live.checkpoint.resolve({}) == DEFAULT_CHECKPOINT_PATH
    assert run_errors(config.live) == [
        "sources: at least one source is required to run (see `trailsentry config example`)"]


def test_sources_are_parsed_by_their_kind_module(tmp_path: Path) -> None:
    config = parse_config({
        "sources": [
            {"kind": "s3-sqs", "queue_url": QUEUE, "download_concurrency": 8},
            {"kind": "directory", "name": "inbox", "path": str(tmp_path)},
        ],
        "service": {"queue_batches": 4, "drain_seconds": 12.5, "checkpoint_seconds": 2, "restart_seconds": 5},
        "checkpoint": {"path": str(tmp_path / "state.sqlite")},
    })
    first, second = config.live.sources
    assert (first.kind, first.name, first.where) == ("s3-sqs", "s3-sqs", "sources[0]")  # name defaults to kind
    assert first.settings.queue_url == QUEUE and first.settings.download_concurrency == 8
    assert first.settings.aws.region == "us-east-1"  # taken from the queue URL
    assert (second.kind, second.name) == ("directory", "inbox")
    assert second.settings.path == tmp_path
    assert config.live.service == ServiceSettings(queue_batches=4, drain_seconds=12.5, checkpoint_seconds=2.0,
                                                  restart_seconds=5.0)
    assert run_errors(config.live) == []


def test_every_error_is_reported_with_its_path_at_once() -> None:
    errors = errors_of({
        "sources": [
            {"kind": "s3-sqs", "queue_url": QUEUE},
            {"kind": "s3-sqs", "name": "second"},
            {"name": "nameless"},
            {"kind": "carrier-pigeon"},
            {"kind": "s3-sqs", "name": "second", "queue_url": QUEUE, "colour": "blue"},
            {"kind": "s3-sqs", "name": "bad name!", "queue_url": QUEUE},
            "just a string",
        ],
        "checkpoint": {"path": 42, "mode": "fast"},
        "service": {"queue_batches": 0, "drain_seconds": "soon", "checkpoint_seconds": 0, "restart_seconds": -1,
                    "colour": 3},
    })
    expected = [
        "sources[1].queue_url: required",
        "sources[2].kind: required",
        "sources[3].kind: unknown source kind 'carrier-pigeon'; one of " + ", ".join(sorted(KINDS)),
        "sources[4].name: 'second' is already used by sources[1]; give each source a unique name",
        "sources[4].colour: unknown key",
        "sources[5].name: use letters, digits, '.', '_' or '-' (at most 63, starting with a letter or digit)",
        "sources[6]: must be a mapping, got str",
        "checkpoint.path: must be a string, got int",
        "checkpoint.mode: unknown key",
        "service.queue_batches: must be >= 1",
        "service.drain_seconds: must be a number, got str",
        "service.checkpoint_seconds: must be >= 0.1",
        "service.restart_seconds: must be >= 1",
        "service.colour: unknown key",
    ]
    for line in expected:
        assert line in errors, (line, errors)
    assert len(errors) >= len(expected)


def test_sources_must_be_a_list() -> None:
    assert "sources: must be a list, got dict" in errors_of({"sources": {"kind": "s3-sqs"}})


def test_the_checkpoint_path_comes_from_the_environment_then_the_config_then_the_default() -> None:
    configured = CheckpointSettings(path="/data/state.sqlite")
    assert configured.resolve({CHECKPOINT_ENV: "/volume/ts.sqlite"}) == Path("/volume/ts.sqlite")
    assert configured.resolve({CHECKPOINT_ENV: "  "}) == Path("/data/state.sqlite")
    assert configured.resolve({}) == Path("/data/state.sqlite")
    assert CheckpointSettings().resolve({}) == Path("var/trailsentry.sqlite")


def test_every_registered_kind_is_a_module_following_the_convention() -> None:
    missing: list[str] = []
    for kind in KINDS:
        try:
            module = source_module(kind)
        except UnavailableKind:
            missing.append(kind)  # not built yet in this tree; the config reports it by path
            continue
        assert kind == module.KIND
    assert len(missing) < len(KINDS)
    with pytest.raises(UnavailableKind, match="unknown source kind"):
        source_module("ftp")


def test_the_example_config_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load(EXAMPLE_CONFIG)
    config = parse_config(data)
    assert [s.kind for s in config.live.sources] == ["s3-sqs"]
    path = tmp_path / "example.yaml"
    path.write_text(EXAMPLE_CONFIG)
    assert main(["config", "validate", str(path)]) == 0
    assert "valid" in capsys.readouterr().out


def test_the_example_shows_every_section_a_deployment_needs() -> None:
    data = yaml.safe_load(EXAMPLE_CONFIG)
    assert list(data) == ["sources", "checkpoint", "service", "state", "engine", "decode", "accounts", "detectors",
                          "suppressions", "rules", "sinks", "routes", "alerting", "metrics"]
    config = parse_config(data)  # the real parser: valid as printed
    assert config.warnings == ()
    assert {s.kind for s in config.alerting.sinks} == {"slack", "sns", "webhook", "file"}
    assert config.alerting.routes and config.alerting.repeat_window.window_seconds == 600
    assert config.metrics.port == 9108 and len(config.engine.suppressions) == 1
    # Secrets only by reference: no URL or token where a sink's secret belongs.
    for sink in data["sinks"]:
        assert not {"webhook_url", "url", "secret"} & set(sink), sink


def test_the_example_state_section_for_replicas_is_valid_once_uncommented() -> None:
    lines = EXAMPLE_CONFIG.splitlines()
    start = lines.index("state:")
    end = next(index for index in range(start + 1, len(lines)) if lines[index] and not lines[index].startswith(" "))
    block = [line for line in lines[start:end] if "backend: embedded" not in line]
    # The commented settings (`  # key: value`) switched on; the prose comments stay comments.
    shared = "\n".join(re.sub(r"^  # ([a-z_]+: )", r"  \1", line) for line in block)
    state = parse_config(yaml.safe_load(shared)).state
    assert state.shared and state.url is not None and state.url.env == "TRAILSENTRY_REDIS_URL"
    assert state.key_prefix == "trailsentry:" and state.lease_seconds == 10 and state.timeout_seconds == 2


def test_config_validate_reports_live_section_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"sources": [{"kind": "s3-sqs"}], "service": {"queue_batches": -3}}))
    assert main(["config", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "config error: sources[0].queue_url: required" in err
    assert "config error: service.queue_batches: must be >= 1" in err


def test_delivery_and_metrics_sections_are_parsed_with_the_rest() -> None:
    config = parse_config({"sinks": [{"name": "siem", "type": "webhook", "url_env": "SIEM_URL"}],
                           "routes": [{"sinks": ["siem"]}], "alerting": {"retention_seconds": 86400},
                           "metrics": {"port": 9109}})
    assert [sink.name for sink in config.alerting.sinks] == ["siem"]
    assert config.alerting.retention_seconds == 86400 and config.metrics.port == 9109


def test_delivery_and_metrics_errors_are_reported_with_the_others() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"sinks": [{"name": "siem", "type": "webhook"}], "metrics": {"port": "x"},
                      "engine": {"lateness_seconds": -1}})
    text = "\n".join(caught.value.errors)
    assert "sinks[0]" in text and "metrics.port" in text and "engine.lateness_seconds" in text
