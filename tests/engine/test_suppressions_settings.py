"""The `suppressions:` config section: parsing, every error with its path, detector id check, expiry warnings."""

from __future__ import annotations

import ipaddress
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import load_config, parse_config
from monitor.configreader import ConfigError
from monitor.engine.suppressions import SuppressionSet
from monitor.engine.suppressions_settings import check_detector_ids, warn_expired
from tests.helpers import REPO


def parse(entries: Any) -> SuppressionSet:
    return parse_config({"suppressions": entries}).engine.suppressions


def errors(entries: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config({"suppressions": entries})
    return info.value.errors


def test_a_full_config_file_parses(tmp_path: Path) -> None:
    path = tmp_path / "trailsentry.yaml"
    path.write_text("""
suppressions:
  - name: quarterly-scan
    detectors: [access-denied-burst]
    source_cidr: [203.0.113.0/24, "2001:db8::/32"]
    reason: authorised vulnerability scanner (SEC-142)
    expires: 2026-07-01
  - principal: arn:aws:iam::*:role/BreakGlass
    account: ["111122223333", "444455556666"]
    user_agent: "aws-cli/*"
    event_name: [GetObject, "List*"]
    reason: break-glass role, reviewed daily
    expires: 2026-07-01T18:30:00+02:00
  - principal: arn:aws:iam::*:role/deploy
    made_through: cloudformation.amazonaws.com
    reason: the deploy pipeline's stacks
""", encoding="utf-8")
    suppressions = load_config(path).engine.suppressions
    scan, glass, stacks = suppressions.entries
    assert stacks.made_through == ("cloudformation.amazonaws.com",) and stacks.principals
    assert scan.name == "quarterly-scan" and scan.where == "suppressions[0]"
    assert scan.detectors == ("access-denied-burst",) and not scan.is_global
    assert scan.source_cidrs == (ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("2001:db8::/32"))
    assert scan.expires == datetime(2026, 7, 1, tzinfo=UTC).timestamp()
    assert scan.expires_text == "2026-07-01T00:00:00Z"
    assert glass.name == "suppressions[1]" and glass.is_global
    assert glass.principals == ("arn:aws:iam::*:role/BreakGlass",)
    assert glass.accounts == frozenset({"111122223333", "444455556666"})
    assert glass.user_agents == ("aws-cli/*",) and glass.event_names == ("GetObject", "List*")
    assert glass.expires == datetime(2026, 7, 1, 16, 30, tzinfo=UTC).timestamp()
    assert glass.reason == "break-glass role, reviewed daily"


@pytest.mark.parametrize(("expires", "expected"), [
    ("2026-07-01", datetime(2026, 7, 1, tzinfo=UTC)),
    ("2026-07-01T12:00:00Z", datetime(2026, 7, 1, 12, tzinfo=UTC)),
    ("2026-07-01T12:00:00", datetime(2026, 7, 1, 12, tzinfo=UTC)),  # a bare time is UTC, like CloudTrail's
    ("2026-07-01T12:00:00-05:00", datetime(2026, 7, 1, 17, tzinfo=UTC)),
    (datetime(2026, 7, 1, 12).date(), datetime(2026, 7, 1, tzinfo=UTC)),
])
def test_expiry_forms(expires: Any, expected: datetime) -> None:
    (entry,) = parse([{"event_name": "GetObject", "reason": "r", "expires": expires}])
    assert entry.expires == expected.timestamp()


def test_absent_or_empty_section_is_no_suppressions() -> None:
    assert len(parse_config({}).engine.suppressions) == 0
    assert len(parse(None)) == 0
    assert len(parse([])) == 0


@pytest.mark.parametrize(("entries", "expected"), [
    ({"principal": "x"}, "suppressions: must be a list, got dict"),
    ([3], "suppressions[0]: must be a mapping, got int"),
    ([{"event_name": "GetObject"}], "suppressions[0].reason: required"),
    ([{"event_name": "GetObject", "reason": "  "}],
     "suppressions[0].reason: must not be empty: say why this is not worth an alert"),
    ([{"event_name": "GetObject", "reason": 5}], "suppressions[0].reason: must be a string, got int"),
    ([{"reason": "r"}], "suppressions[0]: needs at least one of principal, account, source_cidr, user_agent, "
                        "event_name, made_through (an entry without one would hide every detection)"),
    ([{"reason": "r", "detectors": ["root-console-login"]}], "suppressions[0]: needs at least one of"),
    ([{"event_name": "GetObject", "reason": "r", "principle": "arn:aws:iam::*:root"}],
     "suppressions[0].principle: unknown key"),
    ([{"event_name": "GetObject", "reason": "r"}, {"source_cidr": "10.0.0.1/8", "reason": "r"}],
     "suppressions[1].source_cidr: '10.0.0.1/8': not an IPv4 or IPv6 CIDR (10.0.0.1/8 has host bits set)"),
    ([{"source_cidr": ["10.0.0.0/8", "corporate"], "reason": "r"}],
     "suppressions[0].source_cidr: 'corporate': not an IPv4 or IPv6 CIDR"),
    ([{"source_cidr": "2001:db8::/129", "reason": "r"}], "suppressions[0].source_cidr: '2001:db8::/129'"),
    ([{"source_cidr": 10, "reason": "r"}], "suppressions[0].source_cidr: must be a string or a list of strings"),
    ([{"account": 111122223333, "reason": "r"}],
     "suppressions[0].account: 111122223333: account ids are 12-digit strings (quote them in YAML)"),
    ([{"account": ["11112222333"], "reason": "r"}], "suppressions[0].account: '11112222333': not a 12-digit"),
    ([{"account": [], "reason": "r"}], "suppressions[0].account: empty list"),
    ([{"principal": "alice", "reason": "r"}],
     "suppressions[0].principal: 'alice': write an ARN or an ARN glob, e.g. arn:aws:iam::*:role/BreakGlass"),
    ([{"principal": "*", "reason": "r"}], "suppressions[0].principal: '*' matches everything: remove the key"),
    ([{"user_agent": "**", "reason": "r"}], "suppressions[0].user_agent: '**' matches everything"),
    ([{"event_name": ["GetObject", ""], "reason": "r"}], "suppressions[0].event_name: values must not be empty"),
    ([{"event_name": [], "reason": "r"}], "suppressions[0].event_name: empty list: give at least one value"),
    ([{"event_name": "X", "detectors": [], "reason": "r"}], "suppressions[0].detectors: empty list"),
    ([{"event_name": "X", "detectors": [1], "reason": "r"}],
     "suppressions[0].detectors: must be a string or a list of strings"),
    ([{"event_name": "X", "reason": "r", "expires": "next week"}],
     "suppressions[0].expires: 'next week': write a date (2026-07-01) or an ISO 8601 date and time"),
    ([{"event_name": "X", "reason": "r", "expires": 20260701}], "suppressions[0].expires: 20260701: write a date"),
    ([{"name": "scan", "event_name": "X", "reason": "r"}, {"name": "scan", "event_name": "Y", "reason": "r"}],
     "suppressions[1].name: 'scan' is already used by suppressions[0]"),
])
def test_each_error_names_its_path(entries: Any, expected: str) -> None:
    found = errors(entries)
    assert any(e.startswith(expected) for e in found), found


def test_every_error_is_reported_at_once() -> None:
    found = errors([
        {"source_cidr": "nope", "reason": "", "extra": 1},
        {"event_name": "GetObject", "reason": "fine"},
        {"account": "12", "reason": "r", "expires": "never"},
    ])
    assert [e.split(":")[0] for e in found] == [
        "suppressions[0].reason", "suppressions[0].source_cidr", "suppressions[0].extra",
        "suppressions[2].account", "suppressions[2].expires",
    ]


def test_unknown_detector_ids_are_errors_unless_a_glob_matches() -> None:
    suppressions = parse([
        {"detectors": ["access-denied-burst", "iam-*"], "event_name": "X", "reason": "r"},
        {"detectors": ["acess-denied-burst"], "event_name": "X", "reason": "r"},  # typo
        {"detectors": ["*"], "event_name": "X", "reason": "r"},
        {"event_name": "X", "reason": "r"},  # global
        {"detectors": ["nothing-*"], "event_name": "X", "reason": "r"},
    ])
    known = ["access-denied-burst", "iam-policy-changed", "iam-user-shared", "root-console-login"]
    assert check_detector_ids(suppressions, known) == [
        "suppressions[1].detectors: 'acess-denied-burst' matches no known detector (see `trailsentry detectors list`)",
        "suppressions[4].detectors: 'nothing-*' matches no known detector (see `trailsentry detectors list`)",
    ]
    # A custom or Sigma rule id passed in is known too.
    assert check_detector_ids(suppressions, [*known, "acess-denied-burst", "nothing-else"]) == []


def test_expired_entries_warn_once_each(caplog: pytest.LogCaptureFixture) -> None:
    suppressions = parse([
        {"name": "old-scan", "event_name": "X", "reason": "scan in March", "expires": "2026-04-01"},
        {"name": "later", "event_name": "X", "reason": "r", "expires": "2026-09-01"},
        {"name": "forever", "event_name": "X", "reason": "r"},
    ])
    log = logging.getLogger("trailsentry.test.suppressions")
    now = datetime(2026, 5, 1, tzinfo=UTC).timestamp()
    with caplog.at_level(logging.WARNING, logger=log.name):
        expired = warn_expired(suppressions, now, log)
    assert [e.name for e in expired] == ["old-scan"]
    assert [r.getMessage() for r in caplog.records] == [
        "suppression old-scan expired at 2026-04-01T00:00:00Z and no longer applies (reason was: scan in March); "
        "remove or renew it",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    assert warn_expired(suppressions, datetime(2026, 3, 1, tzinfo=UTC).timestamp(), log) == []


def test_the_readme_example_parses_and_does_what_it_says() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### `suppressions`"):]
    block = section[section.index("```yaml") + len("```yaml"):section.index("```\n", section.index("```yaml") + 7)]
    config = parse_config(yaml.safe_load(block))
    scan, glass, stacks = config.engine.suppressions.entries
    assert stacks.made_through == ("cloudformation.amazonaws.com",)
    assert scan.detectors == ("access-denied-burst",) and scan.reason and scan.expires_text == "2026-07-01T00:00:00Z"
    assert glass.is_global and glass.principals == ("arn:aws:iam::*:role/BreakGlass",)
    assert check_detector_ids(config.engine.suppressions, ["access-denied-burst"]) == []
