"""Custom YAML rules: every operator, combinators, fan-out, hostile values, engine-run thresholds,
and a validation error naming the file and the rule for each mistake."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from monitor.config import ConfigError, load_config, parse_config
from monitor.decode import decode_bytes
from monitor.engine import Engine, EngineSettings
from monitor.model import Detector, Event, Severity, Threshold
from monitor.rules.builtin import builtin_detectors
from monitor.rules.conditions import MAX_REGEX_SUBJECT
from monitor.rules.custom import load_custom_rules, parse_rules
from monitor.rules.loader import assemble_detectors, load_rules, rule_files
from tests.helpers import REPO, cloudtrail_event, iam_user, typed

FILE = "team.rules.yaml"


def rule(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "test-rule",
        "title": "Test rule",
        "severity": "medium",
        "mitre": ["T1078"],
        "runbook": "Check it.",
        "events": ["iam.amazonaws.com:CreateUser"],
        "condition": {"field": "eventName", "equals": "CreateUser"},
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def compile_one(**changes: Any) -> Detector:
    loaded = parse_rules({"rules": [rule(**changes)]}, FILE)
    assert not loaded.problems, [str(p) for p in loaded.problems]
    [detector] = loaded.detectors
    return detector


def problems_of(raw: Any, taken: tuple[str, ...] = ()) -> list[str]:
    loaded = parse_rules({"rules": [raw]}, FILE, taken)
    assert not loaded.detectors
    return [str(p) for p in loaded.problems]


def matches(condition: dict[str, Any], record: dict[str, Any]) -> bool:
    """The rule's verdict on a record, decoded into a typed event as the engine would."""
    detector = compile_one(condition=condition)
    return detector.match(typed(record), {}) is not None


def create_user(**fields: Any) -> dict[str, Any]:
    return cloudtrail_event("CreateUser", "iam.amazonaws.com", **fields)


# --- operators -------------------------------------------------------------------------------------

EVENT = create_user(
    sourceIPAddress="203.0.113.10",
    userAgent="Boto3/1.34 Python/3.11 exec-env/AWS_ECS",
    requestParameters={"userName": "Deploy-Bot", "port": "443", "tags": [{"key": "team", "value": "red"},
                                                                        {"key": "env", "value": "prod"}]},
    responseElements={"user": {"createDate": "x", "count": 7, "enabled": True, "ratio": 2.5}},
)

CASES = [
    ({"field": "requestParameters.userName", "equals": "Deploy-Bot"}, True),
    ({"field": "requestParameters.userName", "equals": "deploy-bot"}, False),
    ({"field": "requestParameters.userName", "equals": "deploy-bot", "case_insensitive": True}, True),
    ({"field": "requestParameters.port", "equals": 443}, True),  # compared as text
    ({"field": "responseElements.user.count", "equals": "7"}, True),
    ({"field": "responseElements.user.enabled", "equals": True}, True),
    ({"field": "responseElements.user.enabled", "equals": "true"}, True),
    ({"field": "responseElements.user.ratio", "equals": 2.5}, True),
    ({"field": "requestParameters.userName", "in": ["alice", "Deploy-Bot"]}, True),
    ({"field": "requestParameters.userName", "in": ["alice", "DEPLOY-BOT"]}, False),
    ({"field": "requestParameters.userName", "in": ["alice", "DEPLOY-BOT"], "case_insensitive": True}, True),
    ({"field": "userAgent", "prefix": "Boto3/"}, True),
    ({"field": "userAgent", "prefix": ["aws-cli/", "boto3/"]}, False),
    ({"field": "userAgent", "prefix": ["aws-cli/", "boto3/"], "case_insensitive": True}, True),
    ({"field": "userAgent", "suffix": "AWS_ECS"}, True),
    ({"field": "userAgent", "suffix": "aws_ecs"}, False),
    ({"field": "userAgent", "contains": "Python/3"}, True),
    ({"field": "userAgent", "contains": ["sqlmap", "exec-env"]}, True),
    ({"field": "userAgent", "contains": ["sqlmap", "nikto"]}, False),
    ({"field": "userAgent", "regex": r"^Boto3/\d+\.\d+ "}, True),
    ({"field": "userAgent", "regex": r"^boto3/"}, False),
    ({"field": "userAgent", "regex": r"^boto3/\S+", "case_insensitive": True}, True),
    ({"field": "sourceIPAddress", "cidr": "203.0.113.0/24"}, True),
    ({"field": "sourceIPAddress", "cidr": ["10.0.0.0/8", "2001:db8::/32"]}, False),
    ({"field": "sourceIPAddress", "cidr": "203.0.113.77/24"}, True),  # host bits are ignored
    ({"field": "requestParameters.userName", "exists": True}, True),
    ({"field": "requestParameters.missing", "exists": True}, False),
    ({"field": "requestParameters.missing", "exists": False}, True),
    ({"field": "responseElements.user.count", "gt": 6}, True),
    ({"field": "responseElements.user.count", "gt": 7}, False),
    ({"field": "responseElements.user.count", "gte": 7}, True),
    ({"field": "responseElements.user.count", "lt": 7.5}, True),
    ({"field": "responseElements.user.count", "lte": 6}, False),
    ({"field": "requestParameters.port", "gte": 443}, True),  # a numeric string compares as a number
    ({"field": "requestParameters.userName", "lt": 10}, False),  # not a number
    ({"field": "responseElements.user.enabled", "gt": 0}, False),  # bools are not numbers
]


@pytest.mark.parametrize(("condition", "expected"), CASES, ids=[str(c) for c, _ in CASES])
def test_operator(condition: dict[str, Any], expected: bool) -> None:
    assert matches(condition, EVENT) is expected


def test_ipv6_cidr_and_mixed_families() -> None:
    condition = {"field": "sourceIPAddress", "cidr": ["10.0.0.0/8", "2001:db8::/32"]}
    assert matches(condition, create_user(sourceIPAddress="2001:db8::17"))
    assert matches(condition, create_user(sourceIPAddress="10.1.2.3"))
    assert not matches(condition, create_user(sourceIPAddress="2001:db9::1"))
    assert not matches(condition, create_user(sourceIPAddress="AWS Internal"))
    assert not matches(condition, create_user(sourceIPAddress="ec2.amazonaws.com"))


# --- combinators and fan-out -----------------------------------------------------------------------

def test_all_any_not() -> None:
    condition = {"all": [
        {"field": "eventName", "equals": "CreateUser"},
        {"any": [{"field": "sourceIPAddress", "cidr": "10.0.0.0/8"}, {"field": "userAgent", "contains": "curl"}]},
        {"not": {"field": "userIdentity.type", "in": ["AWSService", "AWSAccount"]}},
    ]}
    assert matches(condition, create_user(sourceIPAddress="10.0.0.1"))
    assert matches(condition, create_user(userAgent="curl/8.0"))
    assert not matches(condition, create_user())  # neither branch of the any
    service = {"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"}
    assert not matches(condition, create_user(sourceIPAddress="10.0.0.1", userIdentity=service))


def test_many_children_and_nesting() -> None:
    leaves = [{"field": "eventName", "prefix": p} for p in ("C", "Cr", "Cre", "Crea")]
    assert matches({"all": leaves}, create_user())
    assert not matches({"all": [*leaves, {"field": "eventName", "suffix": "Role"}]}, create_user())
    assert matches({"any": [{"field": "eventName", "suffix": s} for s in ("Role", "Group", "User")]}, create_user())
    assert matches({"not": {"not": {"field": "eventName", "equals": "CreateUser"}}}, create_user())


def test_a_path_over_a_list_matches_when_any_value_does() -> None:
    event = create_user(resources=[{"ARN": "arn:aws:s3:::public", "type": "AWS::S3::Bucket"},
                                   {"ARN": "arn:aws:iam::111122223333:role/admin", "type": "AWS::IAM::Role"}])
    assert matches({"field": "resources.ARN", "suffix": ":role/admin"}, event)
    assert matches({"field": "resources.type", "equals": "AWS::S3::Bucket"}, event)
    assert not matches({"field": "resources.ARN", "contains": "secret"}, event)
    # not: no value may match
    assert not matches({"not": {"field": "resources.type", "equals": "AWS::IAM::Role"}}, event)
    tags = EVENT
    assert matches({"all": [{"field": "requestParameters.tags.value", "equals": "prod"},
                            {"field": "requestParameters.tags.key", "equals": "team"}]}, tags)
    # a list of scalars at the end of the path fans out too
    assert matches({"field": "requestParameters.names", "equals": "b"}, create_user(requestParameters={
        "names": ["a", "b"]}))


# --- hostile values --------------------------------------------------------------------------------

# Hostile values as JSON text: what an attacker can write into a record the engine decodes.
HOSTILE_VALUES: list[bytes] = [
    b"null", b'{"nested": "x"}', b'["x", {"y": 1}]', b'[[["deep"]]]', b"true", b"1" + b"0" * 30, b"1e999",
    b"-0.0", b'"' + b"A" * 5_000_000 + b'"', b'"\\u0000\\udcff"', b'"' + b"1" * 5000 + b'"', b'"nan"', b'""',
    b"3.14",
]


def hostile_events(value: bytes) -> list[Event]:
    """Events whose requestParameters hold `value` (as itself, under a key, in a list), decoded from JSON text as
    the engine decodes it; a record the decoder cannot read at all is reported there and never reaches a rule."""
    record = orjson.dumps(create_user(requestParameters="HOLE"))
    shapes = (b'{"value": %s}' % value, value, b'[{"value": %s}, "junk", null]' % value)
    return decode_bytes(b'{"Records": [%s]}' % b",".join(record.replace(b'"HOLE"', shape) for shape in shapes),
                        "hostile").events


EVERY_OPERATOR = [
    {"field": "requestParameters.value", "equals": "x"},
    {"field": "requestParameters.value", "equals": 1},
    {"field": "requestParameters.value", "in": ["x", 2, True]},
    {"field": "requestParameters.value", "prefix": "A", "case_insensitive": True},
    {"field": "requestParameters.value", "suffix": "y"},
    {"field": "requestParameters.value", "contains": ["deep", "B"]},
    {"field": "requestParameters.value", "regex": "(a+)+$", "case_insensitive": True},
    {"field": "requestParameters.value", "cidr": ["0.0.0.0/0", "::/0"]},
    {"field": "requestParameters.value", "exists": True},
    {"field": "requestParameters.value", "gt": 1},
    {"field": "requestParameters.value", "lte": 1e308},
]


@pytest.mark.parametrize("condition", EVERY_OPERATOR, ids=[str(c) for c in EVERY_OPERATOR])
def test_hostile_values_never_raise(condition: dict[str, Any]) -> None:
    detector = compile_one(condition=condition)
    seen = 0
    for value in HOSTILE_VALUES:
        for event in hostile_events(value):
            detector.match(event, {})  # must not raise
            seen += 1
    assert seen >= 3 * (len(HOSTILE_VALUES) - 1)  # only the lone surrogate may leave its records unreadable
    odd_shapes = [Event(), typed(create_user(requestParameters="string")), typed(create_user(requestParameters=[1, 2]))]
    for odd in odd_shapes:
        detector.match(odd, {})


def test_hostile_values_do_not_match_string_operators() -> None:
    assert not matches({"field": "requestParameters.value", "equals": "{'nested': 'x'}"},
                       create_user(requestParameters={"value": {"nested": "x"}}))
    assert not matches({"field": "requestParameters.value", "contains": "nested"},
                       create_user(requestParameters={"value": {"nested": "x"}}))
    assert not matches({"field": "requestParameters.value", "gt": 0}, create_user(requestParameters={"value": "nan"}))
    assert not matches({"field": "requestParameters.value", "gt": 0},
                       create_user(requestParameters={"value": "9" * 100}))  # too long to be a number


def test_regex_sees_a_bounded_prefix_of_huge_values() -> None:
    condition = {"field": "requestParameters.value", "regex": "needle"}
    assert matches(condition, create_user(requestParameters={"value": "x" * 100 + "needle"}))
    assert not matches(condition, create_user(requestParameters={"value": "x" * MAX_REGEX_SUBJECT + "needle"}))


def test_huge_lists_are_bounded() -> None:
    event = create_user(requestParameters={"items": [{"v": "x"}] * 100_000 + [{"v": "late"}]})
    assert not matches({"field": "requestParameters.items.v", "equals": "late"}, event)
    assert matches({"field": "requestParameters.items.v", "equals": "x"}, event)


# --- through the real engine -----------------------------------------------------------------------

def run(detector: Detector, events: list[dict[str, Any]]) -> list[Any]:
    engine = Engine([detector], EngineSettings())
    alerts = {a.id: a for a in [*engine.process_records(events, "test").alerts, *engine.flush()]}
    assert not engine.stats.detector_errors
    return list(alerts.values())


def test_threshold_by_key_in_window() -> None:
    detector = compile_one(
        events=["s3.amazonaws.com:DeleteObject"], condition={"field": "errorCode", "exists": False},
        group_by=["userIdentity.arn"], threshold={"count": 3, "window_seconds": 60})
    bob = iam_user("bob")
    deletes = [cloudtrail_event("DeleteObject", "s3.amazonaws.com", seconds=10 * i) for i in range(3)]
    slow = [cloudtrail_event("DeleteObject", "s3.amazonaws.com", seconds=100 * i, identity=bob) for i in range(3)]
    failed = [cloudtrail_event("DeleteObject", "s3.amazonaws.com", seconds=i, identity=bob, errorCode="AccessDenied")
              for i in range(5)]
    [alert] = run(detector, [*deletes, *slow, *failed])
    assert alert.count == 3 and alert.principal == "arn:aws:iam::111122223333:user/alice"
    assert alert.context["threshold"] == 3


def test_distinct_count_by_key() -> None:
    detector = compile_one(
        events=["sts.amazonaws.com:GetCallerIdentity"], condition={"field": "userIdentity.type", "equals": "IAMUser"},
        group_by=["userIdentity.arn"], distinct={"field": "sourceIPAddress", "count": 3, "window_seconds": 3600})
    calls = [cloudtrail_event("GetCallerIdentity", "sts.amazonaws.com", seconds=i, sourceIPAddress=f"198.51.100.{n}")
             for i, n in enumerate([1, 1, 2, 2, 1])]
    assert run(detector, calls) == []
    calls.append(cloudtrail_event("GetCallerIdentity", "sts.amazonaws.com", seconds=9, sourceIPAddress="198.51.100.3"))
    [alert] = run(detector, calls)
    assert sorted(alert.context["sourceIPAddress"]) == ["198.51.100.1", "198.51.100.2", "198.51.100.3"]


def test_group_by_folds_repeats_into_one_episode_and_context_is_clipped() -> None:
    detector = compile_one(group_by=["userIdentity.arn", "requestParameters.userName"], episode_seconds=600,
                           context_fields=["requestParameters.userName", "requestParameters.blob",
                                           "requestParameters.tags.key", "requestParameters.absent"])
    blob = {"big": "z" * 10_000}
    events = [create_user(seconds=i, requestParameters={"userName": "eve", "blob": blob,
                                                        "tags": [{"key": "a"}, {"key": 2}]}) for i in range(4)]
    events.append(create_user(seconds=5, requestParameters={"userName": "mallory"}))
    alerts = run(detector, events)
    assert sorted(a.count for a in alerts) == [1, 4]
    eve = next(a for a in alerts if a.count == 4)
    assert eve.context["requestParameters.userName"] == "eve"
    assert eve.context["requestParameters.tags.key"] == ["a", "2"]
    assert len(eve.context["requestParameters.blob"]) <= 256 and eve.context["requestParameters.blob"][0] == "{"
    assert "requestParameters.absent" not in eve.context


def test_all_events_rule_sees_unindexed_events_and_metadata_reaches_the_alert() -> None:
    detector = compile_one(events=None, all_events=True, severity="high", mitre=["T1496", "T1078.004"],
                           condition={"field": "userAgent", "contains": "kali"})
    hits = [cloudtrail_event(name, "ec2.amazonaws.com", userAgent="aws-cli/2 kali linux")
            for name in ("DescribeInstances", "RunInstances")]
    alerts = run(detector, [*hits, cloudtrail_event("ListUsers", "iam.amazonaws.com")])
    assert len(alerts) == 2
    assert {a.severity for a in alerts} == {Severity.HIGH} and alerts[0].mitre == ("T1496", "T1078.004")
    assert alerts[0].runbook == "Check it." and alerts[0].title == "Test rule"


def test_indexed_rule_only_sees_its_events() -> None:
    detector = compile_one(condition={"field": "userAgent", "exists": True})
    assert detector.events == frozenset({("iam.amazonaws.com", "CreateUser")}) and not detector.all_events
    other = cloudtrail_event("CreateUser", "evil.amazonaws.com")
    assert len(run(detector, [create_user(), other])) == 1


# --- validation --------------------------------------------------------------------------------------

VALIDATION = [
    (rule(colour="red"), "unknown key 'colour'"),
    (rule(thresold={"count": 1}), "unknown key 'thresold' (did you mean 'threshold'?)"),
    (rule(title=None), "title: required"),
    (rule(runbook=" "), "runbook: must be a non-empty string"),
    (rule(severity="apocalyptic"), "severity: unknown severity 'apocalyptic'"),
    (rule(mitre=["T1078", "lateral"]), "mitre: 'lateral': not ATT&CK technique ids"),
    (rule(mitre=[]), "mitre: must be a non-empty list"),
    (rule(id="Bad_Id"), "id: 'Bad_Id' is not kebab-case"),
    (rule(id="sigma-mine"), "id: the 'sigma-' prefix is reserved for Sigma rules"),
    (rule(events=None), "events: required"),
    (rule(events=["CreateUser"]), "events[0]: 'CreateUser': write 'eventSource:eventName'"),
    (rule(all_events=True), "declare events or all_events: true, not both"),
    (rule(condition=None), "condition: required"),
    (rule(condition={"field": "x", "matches": "y"}), "condition: unknown operator 'matches'"),
    (rule(condition={"field": "x"}), "condition: needs one operator"),
    (rule(condition={"field": "x", "equals": "a", "prefix": "b"}),
     "condition: one operator per leaf, got equals, prefix"),
    (rule(condition={"equals": "a"}), "condition.field: required"),
    (rule(condition={"field": "a..b", "equals": "a"}), "condition.field: field path 'a..b' has an empty part"),
    (rule(condition={"all": [{"field": "x", "regex": "(unclosed"}]}), "condition.all[0].regex: bad regex '(unclosed'"),
    (rule(condition={"field": "x", "regex": "a" * 1001}), "condition.regex: pattern longer than 1000 characters"),
    (rule(condition={"any": [{"field": "x", "cidr": "10.0.0.0/33"}]}), "condition.any[0].cidr: bad CIDR '10.0.0.0/33'"),
    (rule(condition={"field": "x", "cidr": "not-an-ip"}), "condition.cidr: bad CIDR 'not-an-ip'"),
    (rule(condition={"field": "x", "in": []}), "condition.in: must be a non-empty list"),
    (rule(condition={"field": "x", "in": [{"a": 1}]}), "condition.in[0]: must be a string, number or true/false"),
    (rule(condition={"field": "x", "gt": "ten"}), "condition.gt: must be a number, got str"),
    (rule(condition={"field": "x", "exists": "yes"}), "condition.exists: must be true or false"),
    (rule(condition={"field": "x", "cidr": "10.0.0.0/8", "case_insensitive": True}),
     "condition.case_insensitive: applies to equals, in, prefix, suffix, contains, regex only, not cidr"),
    (rule(condition={"all": []}), "condition.all: must be a non-empty list of conditions"),
    (rule(condition={"all": [{"field": "x", "equals": 1}], "field": "y"}), "'all' must stand alone in its mapping"),
    (rule(condition={"not": "x"}), "condition.not: must be a mapping"),
    (rule(condition="eventName == x"), "condition: must be a mapping"),
    (rule(threshold={"count": 3, "window_seconds": 60}), "threshold: needs group_by"),
    (rule(distinct={"field": "sourceIPAddress", "count": 2, "window_seconds": 60}), "distinct: needs group_by"),
    (rule(group_by=["a"], threshold={"count": 0, "window_seconds": 60}), "threshold.count: must be a positive integer"),
    (rule(group_by=["a"], threshold={"count": 3}), "threshold.window_seconds: required"),
    (rule(group_by=["a"], threshold={"count": 3, "window_seconds": 60, "per": "x"}), "threshold: unknown key 'per'"),
    (rule(group_by=["a"], threshold={"count": 3, "window_seconds": 60},
          distinct={"field": "b", "count": 2, "window_seconds": 60}), "declare threshold or distinct, not both"),
    (rule(group_by=[]), "group_by: must be a non-empty list of field paths"),
    (rule(episode_seconds=0), "episode_seconds: must be a positive integer"),
    (rule(context_fields=[1]), "context_fields: must be a non-empty list of field paths"),
    (rule(samples={"name": "x"}), "samples: must be a list of cases"),
    (rule(samples=[{"name": "x", "events": [], "expect": {"alert": 1}}]), "samples[0].expect: unknown key 'alert'"),
    (rule(samples=[{"name": "x", "events": [], "expect": {}}]), "samples[0].expect.alerts: required count"),
    (rule(samples=[{"events": "e", "expect": {"alerts": 0, "severity": "huge"}}]), "samples[0].name: required"),
    (rule(samples=[{"name": "x", "events": [], "expect": {"alerts": 0, "severity": "huge"}}]),
     "samples[0].expect.severity: unknown severity 'huge'"),
    (rule(samples=[{"name": "x", "events": [], "expect": {"alerts": 0}, "params": {}}]),
     "samples[0]: unknown key 'params'"),
    (rule(samples=yaml.safe_load("- {name: x, expect: {alerts: 0}, events: [{eventTime: 2026-03-01T10:00:00Z}]}")),
     "samples[0].events[0].eventTime: YAML read a datetime; quote it"),
]


@pytest.mark.parametrize(("raw", "message"), VALIDATION, ids=[m for _, m in VALIDATION])
def test_validation_error_names_file_rule_and_problem(raw: dict[str, Any], message: str) -> None:
    found = problems_of(raw)
    name = raw.get("id", "test-rule") if isinstance(raw.get("id"), str) else "rules[0]"
    assert any(p.startswith(f"{FILE}: rule {name!r}: ") and message in p for p in found), found


def test_every_error_of_a_rule_is_reported_at_once() -> None:
    found = problems_of(rule(severity="x", mitre=["y"], condition={"field": "z", "regex": "("}, colour=1))
    assert len(found) == 4, found


def test_rule_without_id_is_named_by_index() -> None:
    loaded = parse_rules({"rules": [rule(), {"title": "no id"}]}, FILE)
    assert [d.id for d in loaded.detectors] == ["test-rule"]
    assert loaded.problems and all(p.rule == "rules[1]" for p in loaded.problems)
    assert "team.rules.yaml: rule 'rules[1]': id: required" in [str(p) for p in loaded.problems]
    assert problems_of("just a string") == [f"{FILE}: rule 'rules[0]': a rule must be a mapping, got str"]


def test_bad_rule_is_skipped_and_good_ones_load() -> None:
    loaded = parse_rules({"rules": [rule(id="good-one"), rule(id="bad-one", severity="x"), rule(id="good-two")]}, FILE)
    assert [d.id for d in loaded.detectors] == ["good-one", "good-two"]
    assert {p.rule for p in loaded.problems} == {"bad-one"}
    assert loaded.kinds == {"good-one": "custom", "good-two": "custom"}
    assert loaded.files["good-two"] == FILE


def test_ids_must_be_unique_across_files_and_not_clash_with_builtins(tmp_path: Path) -> None:
    first = write_rules(tmp_path / "a.yaml", [rule(id="shared-id")])
    second = write_rules(tmp_path / "b.yaml", [rule(id="shared-id"), rule(id="root-console-login")])
    loaded = load_custom_rules([first, second], taken={d.id for d in builtin_detectors()})
    assert [d.id for d in loaded.detectors] == ["shared-id"]
    messages = [str(p) for p in loaded.problems]
    assert f"{second}: rule 'shared-id': duplicate id 'shared-id': also defined in {first} (rules[0])" in messages
    assert f"{second}: rule 'root-console-login': id 'root-console-login' is already a built-in detector's" in messages


def test_file_level_problems(tmp_path: Path) -> None:
    (tmp_path / "syntax.yaml").write_text("rules:\n  - id: x\n    title: [unclosed\n")
    (tmp_path / "dupkey.yaml").write_text("rules:\n  - id: x\n    condition: {field: a, exists: true}\n"
                                          "    condition: {field: b, exists: true}\n")
    (tmp_path / "norules.yaml").write_text("- id: x\n")
    (tmp_path / "extra.yaml").write_text(yaml.safe_dump({"rules": [rule(id="fine")], "version": 2}))
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00")
    files, missing = rule_files([tmp_path, tmp_path / "absent.yaml"])
    loaded = load_custom_rules(files)
    messages = sorted(str(p) for p in [*missing, *loaded.problems])
    assert f"{tmp_path / 'absent.yaml'}: no such file or directory" in messages
    assert any(m.startswith(f"{tmp_path / 'syntax.yaml'}: not valid YAML at line ") for m in messages)
    assert f"{tmp_path / 'dupkey.yaml'}: not valid YAML at line 4, column 5: duplicate key 'condition'" in messages
    assert f"{tmp_path / 'norules.yaml'}: expected a mapping with a `rules:` list" in messages
    assert f"{tmp_path / 'extra.yaml'}: unknown top-level key 'version' (only `rules:`)" in messages
    assert any(m.startswith(f"{tmp_path / 'binary.yaml'}: cannot read") for m in messages)
    assert [d.id for d in loaded.detectors] == ["fine"]  # the other rule of a file with a top-level problem


def test_directories_are_read_sorted_and_subdirectories_are_left_alone(tmp_path: Path) -> None:
    write_rules(tmp_path / "b.yml", [rule(id="from-b")])
    write_rules(tmp_path / "a.yaml", [rule(id="from-a")])
    (tmp_path / "notes.txt").write_text("not a rule")
    (tmp_path / "sigma").mkdir()
    (tmp_path / "sigma" / "x.yml").write_text("title: a sigma rule\n")
    files, problems = rule_files([tmp_path])
    assert files == [tmp_path / "a.yaml", tmp_path / "b.yml"] and not problems


def test_samples_are_kept_with_their_rule() -> None:
    case = {"name": "fires", "events": [create_user()], "expect": {"alerts": 1}}
    loaded = parse_rules({"rules": [rule(samples=[case])]}, FILE)
    [sample] = loaded.samples
    assert sample.detector == "test-rule" and sample.file == FILE and sample.case == case


# --- loader and config -------------------------------------------------------------------------------

def write_rules(path: Path, rules: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"rules": rules}))
    return path


SIGMA_BAD = """title: Not CloudTrail
logsource: {product: windows, category: process_creation}
detection:
  sel: {Image|endswith: '\\\\cmd.exe'}
  condition: sel
level: high
tags: [attack.t1059]
"""
SIGMA_GOOD = """title: Trail Stopped By Anyone
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging}
  condition: sel
level: high
tags: [attack.t1562.008]
"""


def test_load_rules_combines_custom_and_sigma(tmp_path: Path) -> None:
    custom = write_rules(tmp_path / "custom" / "mine.yaml", [rule(id="my-rule")])
    (tmp_path / "sigma").mkdir()
    (tmp_path / "sigma" / "good.yml").write_text(SIGMA_GOOD)
    (tmp_path / "sigma" / "bad.yml").write_text(SIGMA_BAD)
    loaded = load_rules([custom], [tmp_path / "sigma"])
    kinds = loaded.kinds
    assert kinds["my-rule"] == "custom" and list(kinds.values()).count("sigma") == 1
    assert any(p.rule == "Not CloudTrail" for p in loaded.problems)


def test_rules_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config_file = tmp_path / "conf" / "trailsentry.yaml"
    config_file.parent.mkdir()
    config_file.write_text("rules:\n  custom: [rules/, /abs/mine.yaml]\n  sigma: sigma\n")
    config = load_config(config_file)
    assert config.rules.custom == (tmp_path / "conf" / "rules", Path("/abs/mine.yaml"))
    assert config.rules.sigma == (tmp_path / "conf" / "sigma",)
    assert parse_config({"rules": {"custom": ["rules/"]}}).rules.custom == (Path("rules/"),)  # cwd-relative


def test_rules_section_errors_have_paths() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"rules": {"custom": [1], "sigmas": ["x"], "sigma": [""]}})
    assert set(caught.value.errors) == {"rules.custom: must be a string or a list of strings",
                                        "rules.sigmas: unknown key", "rules.sigma: empty path"}


def test_assemble_applies_detector_settings_to_rules(tmp_path: Path) -> None:
    custom = write_rules(tmp_path / "mine.yaml", [rule(id="rule-a"), rule(id="rule-b"),
                                                   rule(id="rule-c", group_by=["userIdentity.arn"],
                                                        threshold={"count": 5, "window_seconds": 60})])
    config = parse_config({"rules": {"custom": [str(custom)]}, "detectors": {
        "rule-a": {"enabled": False}, "rule-b": {"severity": "critical"}, "rule-c": {"threshold": 2}}})
    detectors, loaded = assemble_detectors(config)
    by_id = {d.id: d for d in detectors}
    assert "rule-a" not in by_id and by_id["rule-b"].severity is Severity.CRITICAL
    threshold = by_id["rule-c"].state
    assert isinstance(threshold, Threshold) and threshold.count == 2
    assert "root-console-login" in by_id  # the built-ins are still there
    assert {d.id for d in loaded.detectors} == {"rule-a", "rule-b", "rule-c"}  # as written, unconfigured


def test_assemble_refuses_any_custom_problem(tmp_path: Path) -> None:
    custom = write_rules(tmp_path / "mine.yaml", [rule(id="fine"), rule(id="broken", condition={"field": "x"})])
    config = parse_config({"rules": {"custom": [str(custom), str(tmp_path / "gone")]}})
    with pytest.raises(ConfigError) as caught:
        assemble_detectors(config)
    assert caught.value.errors == [
        f"custom rule: {tmp_path / 'gone'}: no such file or directory",
        f"custom rule: {custom}: rule 'broken': condition: needs one operator "
        "(equals, in, prefix, suffix, contains, regex, cidr, exists, gt, gte, lt, lte)",
    ]


def test_assemble_logs_and_skips_bad_sigma_rules(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "good.yml").write_text(SIGMA_GOOD)
    (tmp_path / "bad.yml").write_text(SIGMA_BAD)
    config = parse_config({"rules": {"sigma": [str(tmp_path)]},
                           "detectors": {"sigma-not-cloudtrail": {"enabled": False}}})
    with caplog.at_level(logging.WARNING, logger="trailsentry.rules"):
        detectors, loaded = assemble_detectors(config)
    assert sum(1 for d in detectors if loaded.kinds.get(d.id) == "sigma") == 1
    assert any("Sigma rule skipped" in r.getMessage() and "Not CloudTrail" in r.getMessage() for r in caplog.records)
    assert any("detectors.sigma-not-cloudtrail" in r.getMessage() for r in caplog.records)


def test_settings_for_unknown_rule_ids_are_still_an_error() -> None:
    config = parse_config({"detectors": {"no-such-rule": {"enabled": False}}})
    with pytest.raises(ValueError, match="no-such-rule"):
        assemble_detectors(config)


def test_the_example_rule_file_loads_cleanly() -> None:
    loaded = load_custom_rules([REPO / "deploy" / "rules" / "example.rules.yaml"],
                               taken={d.id for d in builtin_detectors()})
    assert not loaded.problems, [str(p) for p in loaded.problems]
    assert len(loaded.detectors) >= 3 and len(loaded.samples) >= 6


def test_compiled_rule_is_independent_of_the_parsed_data() -> None:
    raw = rule(condition={"field": "requestParameters.userName", "in": ["a", "b"]})
    loaded = parse_rules({"rules": [raw]}, FILE)
    pristine = copy.deepcopy(raw)
    raw["condition"]["in"].append("c")  # mutating the YAML data after load changes nothing
    [detector] = loaded.detectors
    assert detector.match(typed(create_user(requestParameters={"userName": "c"})), {}) is None
    assert raw != pristine
