"""Sigma rules: parsed by pySigma, compiled to detectors, evaluated by the real engine."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import orjson
import pytest

from monitor.decode import decode_bytes
from monitor.engine import Engine
from monitor.model import Event
from monitor.model.detector import ANY_SOURCE, Detector, Hit, Threshold
from monitor.model.severity import Severity
from monitor.rules import LoadedRules
from monitor.rules.sigma import load_sigma_rules, slug
from monitor.rules.sigma_values import required_literal
from tests.helpers import DATA, REPO, api_call, cloudtrail_event, iam_user, root, typed

RULES = Path(__file__).parent / "sigma"
EXAMPLES = REPO / "deploy" / "rules" / "sigma"


def compile_rule(tmp_path: Path, detection: str, *, level: str = "medium", tags: str = "- attack.t1078",
                 title: str = "Test Rule") -> Detector:
    text = f"""\
title: {title}
id: 0f0f0f0f-0000-4000-8000-000000000001
description: A rule written for one test.
tags:
  {tags}
logsource:
  product: aws
  service: cloudtrail
detection:
{textwrap.indent(textwrap.dedent(detection), "  ")}
level: {level}
"""
    path = tmp_path / "rule.yml"
    path.write_text(text)
    loaded = load_sigma_rules([path])
    assert not loaded.problems, [str(p) for p in loaded.problems]
    (detector,) = loaded.detectors
    return detector


def problems_of(tmp_path: Path, detection: str) -> list[str]:
    path = tmp_path / "rule.yml"
    path.write_text(f"""\
title: Bad Rule
tags: [attack.t1078]
logsource: {{product: aws, service: cloudtrail}}
detection:
{textwrap.indent(textwrap.dedent(detection), "  ")}
""")
    loaded = load_sigma_rules([path])
    assert not loaded.detectors
    return [p.message for p in loaded.problems]


def matches(detector: Detector, record: dict[str, Any]) -> bool:
    """The rule's verdict on a record, decoded into a typed event as the engine would."""
    return detector.match(typed(record), detector.params) is not None


def api(name: str = "ListBuckets", source: str = "s3.amazonaws.com", **fields: Any) -> dict[str, Any]:
    return cloudtrail_event(name, source, **fields)


# --- loading the rule directory -------------------------------------------------------------------


def test_directory_loads_good_rules_and_reports_each_bad_one_by_name_and_reason() -> None:
    loaded = load_sigma_rules([RULES])
    ids = [d.id for d in loaded.detectors]
    assert ids == [
        "sigma-many-failed-sign-ins",  # a correlation rule (tests/rules/test_sigma_correlation.py)
        "sigma-canary-token-touched",
        "sigma-only-a-tactic-tag",  # no ATT&CK technique in its tags: loads, with no mitre ids
        "sigma-inline-policy-granting-everything",
        "sigma-trail-tampering-by-a-human",
        "sigma-root-account-used",
        "sigma-1a2b3c4d-0005-4000-8000-000000000005",  # same title as the one before: named by its id
    ]
    assert all(loaded.kinds[i] == "sigma" for i in ids)
    assert loaded.files["sigma-trail-tampering-by-a-human"] == str(RULES / "trail_tampering.yml")
    problems = {(Path(p.file).name, p.rule): p.message for p in loaded.problems}
    assert "not a readable Sigma rule file" in problems[("broken.yml", "")]
    assert "base64offset" in problems[("unsupported_base64offset.yml", "Encoded Command In User Data")]
    assert "aggregation" in problems[("unsupported_aggregation.yml", "Many Failed Calls")]
    assert "count()" in problems[("unsupported_aggregation.yml", "Many Failed Calls")]
    assert problems[("not_cloudtrail.yml", "Windows Process Creation")].startswith("logsource is not AWS CloudTrail")
    assert "sortof" in problems[("unknown_modifier.yml", "Unknown Modifier")]
    # The building block of the correlation does not alert on its own (generate: false), and is no problem.
    assert not [p for p in loaded.problems if Path(p.file).name in ("correlation.yml", "no_technique.yml")]
    assert loaded.detectors[0].state == Threshold(count=5, window_seconds=600)
    assert loaded.detectors[2].mitre == ()
    assert len(loaded.problems) == 5


def test_metadata_comes_from_the_rule() -> None:
    loaded = load_sigma_rules([RULES / "trail_tampering.yml"])
    (detector,) = loaded.detectors
    assert detector.title == "Trail Tampering By A Human"
    assert detector.severity is Severity.CRITICAL
    assert detector.mitre == ("T1562.008",)
    assert "stopped, deleted or reconfigured" in detector.runbook
    assert "False positives: Trail migrations" in detector.runbook
    assert "References: https://docs.aws.amazon.com/" in detector.runbook


@pytest.mark.parametrize(("level", "severity"), [
    ("informational", Severity.INFO), ("low", Severity.LOW), ("medium", Severity.MEDIUM),
    ("high", Severity.HIGH), ("critical", Severity.CRITICAL),
])
def test_levels_map_to_severities(tmp_path: Path, level: str, severity: Severity) -> None:
    detector = compile_rule(tmp_path, "sel:\n  eventName: ListBuckets\ncondition: sel", level=level)
    assert detector.severity is severity


def test_techniques_are_collected_from_attack_tags(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "sel:\n  eventName: ListBuckets\ncondition: sel",
                            tags="- attack.discovery\n  - attack.t1580\n  - attack.t1078.004\n  - cve.2024-1234")
    assert detector.mitre == ("T1580", "T1078.004")


def test_a_rule_whose_tags_name_no_technique_loads_with_no_mitre_ids(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "sel:\n  eventName: ListBuckets\ncondition: sel", tags="- attack.discovery")
    assert detector.mitre == ()
    engine = Engine([detector])
    [alert] = engine.process_records([api("ListBuckets")], "test").alerts
    assert alert.mitre == () and orjson.loads(alert.to_json())["mitre"] == []


def test_slug_is_kebab_case_and_bounded() -> None:
    assert slug("  IAM: Access Key (Created) -- For Another User!  ") == "iam-access-key-created-for-another-user"
    long = slug("word " * 40)
    assert len(long) <= 64 and not long.endswith("-")


def test_same_title_without_id_is_reported_as_duplicate(tmp_path: Path) -> None:
    rule = "title: Twice\ntags: [attack.t1078]\nlogsource: {product: aws, service: cloudtrail}\n" \
           "detection: {sel: {eventName: X}, condition: sel}\n"
    (tmp_path / "a.yml").write_text(rule)
    (tmp_path / "b.yaml").write_text(rule)
    loaded = load_sigma_rules([tmp_path])
    assert [d.id for d in loaded.detectors] == ["sigma-twice"]
    (problem,) = loaded.problems
    assert problem.file.endswith("b.yaml") and "sigma-twice" in problem.message


def test_missing_path_and_empty_file_are_problems_and_loading_goes_on(tmp_path: Path) -> None:
    (tmp_path / "empty.yml").write_text("")
    loaded = load_sigma_rules([tmp_path / "absent.yml", tmp_path / "empty.yml", RULES / "keywords.yml"])
    assert [d.id for d in loaded.detectors] == ["sigma-canary-token-touched"]
    assert [Path(p.file).name for p in loaded.problems] == ["absent.yml", "empty.yml"]


# --- indexing ---------------------------------------------------------------------------------------


def test_indexed_when_every_path_fixes_source_and_name() -> None:
    (detector,) = load_sigma_rules([RULES / "trail_tampering.yml"]).detectors
    assert not detector.all_events
    assert detector.events == {("cloudtrail.amazonaws.com", n) for n in ("StopLogging", "DeleteTrail", "UpdateTrail")}


def test_a_rule_naming_only_the_call_is_indexed_for_any_source(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "sel:\n  eventName: ListBuckets\ncondition: sel")
    assert detector.events == {(ANY_SOURCE, "ListBuckets")}
    listed = {"eventID": "e1", "eventTime": "2026-05-04T10:00:00Z", "eventSource": "s3.amazonaws.com",
              "eventName": "ListBuckets", "userIdentity": {"type": "IAMUser"}}
    other = {**listed, "eventID": "e2", "eventName": "GetObject"}
    alerts = Engine([detector]).process_records([listed, other], "t").alerts
    assert [a.event_ids for a in alerts] == [["e1"]]


@pytest.mark.parametrize("detection", [
    "sel:\n  eventSource: s3.amazonaws.com\n  eventName|startswith: List\ncondition: sel",
    "a:\n  eventSource: s3.amazonaws.com\n  eventName: ListBuckets\nb:\n  userAgent: x\ncondition: a or b",
    "a:\n  eventSource: s3.amazonaws.com\n  eventName: listbuckets\ncondition: a",  # not CloudTrail's spelling
    "a:\n  eventSource: s3.amazonaws.com\n  eventName: ListBuckets\ncondition: not a",
])
def test_runs_on_every_event_when_the_index_cannot_be_exact(tmp_path: Path, detection: str) -> None:
    assert compile_rule(tmp_path, detection).all_events


def test_and_of_pairs_is_intersected(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, """\
        src:
          eventSource: ec2.amazonaws.com
        names:
          eventName: [RunInstances, StopInstances]
        only_run:
          eventName: RunInstances
        condition: src and names and only_run
        """)
    assert detector.events == {("ec2.amazonaws.com", "RunInstances")}


def test_example_rules_load_and_most_are_indexed() -> None:
    loaded = load_sigma_rules([EXAMPLES])
    assert not loaded.problems
    assert len(loaded.detectors) == 7  # two are correlations, whose four building blocks do not alert alone
    assert sum(d.state is not None for d in loaded.detectors) == 2
    assert sum(not d.all_events for d in loaded.detectors) == 6


# --- field matching ---------------------------------------------------------------------------------


def test_strings_match_case_insensitively_unless_cased(tmp_path: Path) -> None:
    plain = compile_rule(tmp_path, "sel:\n  userAgent: AWS-CLI/2.15.0\ncondition: sel")
    assert matches(plain, api(userAgent="aws-cli/2.15.0"))
    assert not matches(plain, api(userAgent="aws-cli/2.15.01"))
    cased = compile_rule(tmp_path, "sel:\n  userAgent|cased: AWS-CLI/2.15.0\ncondition: sel")
    assert not matches(cased, api(userAgent="aws-cli/2.15.0"))
    assert matches(cased, api(userAgent="AWS-CLI/2.15.0"))


def test_contains_startswith_endswith(tmp_path: Path) -> None:
    contains = compile_rule(tmp_path, "sel:\n  userAgent|contains: Boto3\ncondition: sel")
    starts = compile_rule(tmp_path, "sel:\n  userAgent|startswith: Boto3\ncondition: sel")
    ends = compile_rule(tmp_path, "sel:\n  userAgent|endswith: Boto3\ncondition: sel")
    agent = "Python/3.11 boto3/1.34 botocore"
    assert matches(contains, api(userAgent=agent))
    assert not matches(starts, api(userAgent=agent))
    assert not matches(ends, api(userAgent=agent))
    assert matches(starts, api(userAgent="BOTO3/1.34"))
    assert matches(ends, api(userAgent="made by boto3"))
    assert not matches(contains, api(userAgent="botocore"))


def test_wildcards_and_escaped_wildcards(tmp_path: Path) -> None:
    wild = compile_rule(tmp_path, "sel:\n  userIdentity.arn: 'arn:aws:iam::*:user/adm?n'\ncondition: sel")
    assert matches(wild, api(identity={"arn": "arn:aws:iam::111122223333:user/ADMIN"}))
    assert matches(wild, api(identity={"arn": "arn:aws:iam::9:user/admxn"}))
    assert not matches(wild, api(identity={"arn": "arn:aws:iam::9:user/admiin"}))
    literal = compile_rule(tmp_path, "sel:\n  requestParameters.name: 'star\\*name\\?'\ncondition: sel")
    assert matches(literal, api(requestParameters={"name": "STAR*name?"}))
    assert not matches(literal, api(requestParameters={"name": "starXnameY"}))
    # A backslash not before a wildcard stays a backslash.
    path = compile_rule(tmp_path, "sel:\n  requestParameters.key|endswith: '\\dir\\file'\ncondition: sel")
    assert matches(path, api(requestParameters={"key": "C:\\dir\\file"}))


def test_mixed_alternatives_of_one_field(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, """\
        sel:
          userAgent:
            - Exact-Agent
            - 'prefix-*'
            - '*-suffix'
            - '*middle*'
            - 'a?c*z'
            - 'ÄRGER'
        condition: sel
        """)
    for agent in ("exact-agent", "PREFIX-x", "x-SUFFIX", "xxMiddlexx", "ABCxyz", "abcz", "ärger"):
        assert matches(detector, api(userAgent=agent)), agent
    for agent in ("exact-agent2", "x-prefix-", "-suffix-x", "midle", "acz", "abcy", "arger", ""):
        assert not matches(detector, api(userAgent=agent)), agent


def test_lone_wildcard_matches_any_scalar_but_not_absent(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "sel:\n  requestParameters.code: '*'\ncondition: sel")
    for value in ("", 7, True, "AccessDenied"):
        assert matches(detector, api(requestParameters={"code": value})), value
    assert not matches(detector, api()) and not matches(detector, api(requestParameters={"code": {"a": "b"}}))
    assert not matches(detector, api(requestParameters={"code": None}))
    # A typed field (errorCode) holds text only: "" reads as absent, and a number is left out when decoding.
    typed_field = compile_rule(tmp_path, "sel:\n  errorCode: '*'\ncondition: sel")
    assert matches(typed_field, api(errorCode="AccessDenied"))
    assert not matches(typed_field, api()) and not matches(typed_field, api(errorCode={"a": "b"}))
    assert not matches(typed_field, api(errorCode="")) and not matches(typed_field, api(errorCode=7))


def test_all_modifier_needs_every_value(tmp_path: Path) -> None:
    (detector,) = load_sigma_rules([RULES / "policy_wildcards.yml"]).detectors
    both = '{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
    one = '{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}'
    event = api("PutUserPolicy", "iam.amazonaws.com", requestParameters={"policyDocument": both})
    assert matches(detector, event)
    assert not matches(detector, api("PutUserPolicy", "iam.amazonaws.com", requestParameters={"policyDocument": one}))
    assert not matches(detector, api("CreatePolicy", "iam.amazonaws.com", requestParameters={"policyDocument": both}))


def test_list_of_values_is_any(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "sel:\n  awsRegion: [us-east-1, eu-west-1]\ncondition: sel")
    assert matches(detector, api(awsRegion="eu-west-1"))
    assert not matches(detector, api(awsRegion="ap-south-1"))


def test_regular_expressions_are_case_sensitive_unless_flagged(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "sel:\n  userIdentity.arn|re: ':user/svc-[0-9]+$'\ncondition: sel")
    assert matches(detector, api(identity={"arn": "arn:aws:iam::1:user/svc-42"}))
    assert not matches(detector, api(identity={"arn": "arn:aws:iam::1:user/SVC-42"}))
    assert not matches(detector, api(identity={"arn": "arn:aws:iam::1:user/svc-42x"}))
    folded = compile_rule(tmp_path, "sel:\n  userIdentity.arn|re|i: ':user/svc-[0-9]+$'\ncondition: sel")
    assert matches(folded, api(identity={"arn": "arn:aws:iam::1:user/SVC-42"}))


@pytest.mark.parametrize(("pattern", "flags", "literal"), [
    (".+:assumed-role/aws:.+", 0, ":assumed-role/aws:"),
    ("^arn:aws:iam::\\d+:root$", 0, "arn:aws:iam::"),
    ("ab[c]de", 0, "abcde"),
    ("a|bcd", 0, ""),  # an alternative: no literal is in every match
    ("x(abc)y", 0, ""),  # inside a group: not looked into
    ("(?i)abcd", 0, ""), ("abcd", re.IGNORECASE, ""),  # case folding: `in` would not be the same test
    ("ab.cd", 0, ""),  # too short to be worth a test
])
def test_the_literal_every_match_contains(pattern: str, flags: int, literal: str) -> None:
    assert required_literal(pattern, flags) == literal


def test_a_regex_with_a_required_literal_matches_as_without_it(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "sel:\n  userIdentity.arn|re: '.+:assumed-role/aws:.+'\ncondition: sel")
    role = {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/aws:ec2-instance/i-0abc"}
    assert matches(detector, api(identity=role))
    assert not matches(detector, api(identity={**role, "arn": ":assumed-role/aws:x"}))  # `.+` needs one before
    assert not matches(detector, api(identity={**role, "arn": "arn:aws:sts::1:assumed-role/Admin/alice"}))


def test_invalid_regular_expression_is_a_problem(tmp_path: Path) -> None:
    (message,) = problems_of(tmp_path, "sel:\n  userAgent|re: '(unclosed'\ncondition: sel")
    assert "unclosed" in message


def test_cidr_matches_v4_and_v6_and_ignores_non_addresses(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "sel:\n  sourceIPAddress|cidr: [10.0.0.0/8, '2001:db8::/32']\ncondition: sel")
    assert matches(detector, api(sourceIPAddress="10.1.2.3"))
    assert matches(detector, api(sourceIPAddress="2001:db8::5"))
    assert not matches(detector, api(sourceIPAddress="11.1.2.3"))
    assert not matches(detector, api(sourceIPAddress="AWS Internal"))
    assert not matches(detector, api(sourceIPAddress="ec2.amazonaws.com"))


def test_exists_and_null(tmp_path: Path) -> None:
    exists = compile_rule(tmp_path, "sel:\n  errorCode|exists: true\ncondition: sel")
    absent = compile_rule(tmp_path, "sel:\n  errorCode|exists: false\ncondition: sel")
    null = compile_rule(tmp_path, "sel:\n  responseElements: null\ncondition: sel")
    assert matches(exists, api(errorCode="AccessDenied")) and not matches(absent, api(errorCode="AccessDenied"))
    assert not matches(exists, api()) and matches(absent, api())
    assert not matches(exists, api(errorCode=None))
    assert matches(null, api(responseElements=None))
    event = api()
    del event["responseElements"]
    assert matches(null, event)
    assert not matches(null, api(responseElements={"ok": True}))
    # A record without a caller (console captures, stripped exports): typed, an absent or empty userIdentity.
    no_caller = compile_rule(tmp_path, "sel:\n  userIdentity: null\ncondition: sel")
    assert matches(no_caller, api_call(None, "s3.amazonaws.com", "ListBuckets"))
    assert matches(no_caller, api_call({}, "s3.amazonaws.com", "ListBuckets"))
    assert not matches(no_caller, api())


def test_numbers_and_booleans_match_json_values_and_cloudtrail_strings(tmp_path: Path) -> None:
    number = compile_rule(tmp_path, "sel:\n  requestParameters.maxResults: 50\ncondition: sel")
    assert matches(number, api(requestParameters={"maxResults": 50}))
    assert matches(number, api(requestParameters={"maxResults": "50"}))
    assert not matches(number, api(requestParameters={"maxResults": 51}))
    assert not matches(number, api(requestParameters={"maxResults": True}))  # true is not 1 here
    mfa = compile_rule(tmp_path, "sel:\n  userIdentity.sessionContext.attributes.mfaAuthenticated: false\n"
                                 "condition: sel")
    without = api(identity={"sessionContext": {"attributes": {"mfaAuthenticated": "false"}}})
    assert matches(mfa, without)
    assert not matches(mfa, api(identity=iam_user(mfa=True)))
    read_only = compile_rule(tmp_path, "sel:\n  readOnly: true\ncondition: sel")
    assert matches(read_only, api(readOnly=True)) and not matches(read_only, api(readOnly=False))
    text = compile_rule(tmp_path, "sel:\n  readOnly: 'TRUE'\ncondition: sel")
    assert matches(text, api(readOnly=True))


def test_numeric_comparisons(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "sel:\n  requestParameters.maxCount|gte: 20\ncondition: sel")
    assert matches(detector, api(requestParameters={"maxCount": 20}))
    assert matches(detector, api(requestParameters={"maxCount": "100"}))
    assert not matches(detector, api(requestParameters={"maxCount": 19}))
    assert not matches(detector, api(requestParameters={"maxCount": "many"}))


def test_fields_fan_out_over_lists(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "sel:\n  resources.ARN|endswith: ':secret:prod-db'\ncondition: sel")
    resources = [{"ARN": "arn:aws:kms:us-east-1:1:key/k"}, {"ARN": "arn:aws:secretsmanager:us-east-1:1:secret:prod-db"}]
    assert matches(detector, api(resources=resources))
    assert not matches(detector, api(resources=resources[:1]))
    nested = compile_rule(tmp_path, "sel:\n  requestParameters.instancesSet.items.instanceId: i-0abc\ncondition: sel")
    event = api(requestParameters={"instancesSet": {"items": [{"instanceId": "i-0def"}, {"instanceId": "i-0ABC"}]}})
    assert matches(nested, event)
    end = compile_rule(tmp_path, "sel:\n  requestParameters.agents|contains: pacu\ncondition: sel")
    assert matches(end, api(requestParameters={"agents": ["aws-cli", {"x": 1}, "PACU"]}))
    assert not matches(end, api(requestParameters={"agents": ["aws-cli", None]}))
    # A list where CloudTrail writes text is left out when decoding: a typed field is never a list.
    top = compile_rule(tmp_path, "sel:\n  userAgent|contains: pacu\ncondition: sel")
    assert not matches(top, api(userAgent=["aws-cli", {"x": 1}, "PACU"]))


def test_fieldref_compares_two_fields_of_the_event(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "sel:\n  userIdentity.userName|fieldref: requestParameters.userName\n"
                                      "condition: sel")
    assert matches(detector, api("UpdateLoginProfile", requestParameters={"userName": "alice"}))
    assert matches(detector, api("UpdateLoginProfile", requestParameters={"userName": "ALICE"}))  # as strings are
    assert not matches(detector, api("UpdateLoginProfile", requestParameters={"userName": "bob"}))
    assert not matches(detector, api("UpdateLoginProfile", requestParameters={"userName": "alice2"}))
    # Absent on either side: no match (so `not` of it matches).
    assert not matches(detector, api("UpdateLoginProfile", requestParameters={}))
    assert not matches(detector, api("UpdateLoginProfile", identity={"type": "Root"},
                                     requestParameters={"userName": "alice"}))
    # Numbers compare as their JSON text; a list fans out.
    numbers = compile_rule(tmp_path, "sel:\n  requestParameters.a|fieldref: requestParameters.b\ncondition: sel")
    assert matches(numbers, api(requestParameters={"a": 42, "b": "42"}))
    assert matches(numbers, api(requestParameters={"a": ["x", "y"], "b": ["z", "Y"]}))
    assert not matches(numbers, api(requestParameters={"a": {"k": 1}, "b": {"k": 1}}))


@pytest.mark.parametrize(("modifiers", "other", "expected"), [
    ("fieldref|contains", "alice", True), ("fieldref|contains", "ICE", True), ("fieldref|contains", "bob", False),
    ("fieldref|startswith", "arn:aws:iam", True), ("fieldref|startswith", "alice", False),
    ("fieldref|endswith", "user/alice", True), ("fieldref|endswith", "arn:aws", False),
])
def test_fieldref_with_startswith_endswith_contains(tmp_path: Path, modifiers: str, other: str,
                                                    expected: bool) -> None:
    detector = compile_rule(tmp_path, f"sel:\n  userIdentity.arn|{modifiers}: requestParameters.userName\n"
                                      "condition: sel")
    assert matches(detector, api("CreateAccessKey", requestParameters={"userName": other})) is expected


def test_fieldref_takes_its_other_modifiers_after_it(tmp_path: Path) -> None:
    # pySigma turns `contains` into wildcards first, and a field reference with wildcards is refused.
    (message,) = problems_of(tmp_path, "sel:\n  userIdentity.arn|contains|fieldref: requestParameters.userName\n"
                                       "condition: sel")
    assert "must not contain wildcards" in message


def test_the_sigmahq_update_login_profile_rule_with_fieldref() -> None:
    path = DATA / "sigmahq_aws_cloudtrail" / "aws_update_login_profile.yml"
    if not path.exists():
        pytest.skip(f"SigmaHQ rules {path} are absent (they live outside the repository)")
    (detector,) = load_sigma_rules([path]).detectors
    arn = "arn:aws:iam::111122223333:user/alice"
    # As written, the filter drops a change whose target user name equals the caller's whole ARN.
    other = api("UpdateLoginProfile", "iam.amazonaws.com", requestParameters={"userName": "mallory"})
    itself = api("UpdateLoginProfile", "iam.amazonaws.com", requestParameters={"userName": arn})
    assert matches(detector, other) and not matches(detector, itself)


def test_neq_modifier_negates_the_item(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "sel:\n  eventName: ListBuckets\n  awsRegion|neq: us-east-1\ncondition: sel")
    assert matches(detector, api(awsRegion="eu-west-1"))
    assert not matches(detector, api(awsRegion="us-east-1"))


# --- conditions -------------------------------------------------------------------------------------


def test_and_or_not_with_parentheses(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, """\
        a:
          eventName: DeleteBucket
        b:
          eventName: DeleteObject
        c:
          awsRegion: us-east-1
        condition: (a or b) and not c
        """)
    assert matches(detector, api("DeleteBucket", awsRegion="eu-west-1"))
    assert matches(detector, api("DeleteObject", awsRegion="eu-west-1"))
    assert not matches(detector, api("DeleteObject", awsRegion="us-east-1"))
    assert not matches(detector, api("PutObject", awsRegion="eu-west-1"))


def test_one_of_and_all_of_with_wildcards(tmp_path: Path) -> None:
    one = compile_rule(tmp_path, """\
        selection_a:
          eventName: A
        selection_b:
          awsRegion: eu-west-1
        condition: 1 of selection_*
        """)
    every = compile_rule(tmp_path, """\
        selection_a:
          eventName: A
        selection_b:
          awsRegion: eu-west-1
        condition: all of selection_*
        """)
    assert matches(one, api("A")) and matches(one, api("B", awsRegion="eu-west-1"))
    assert not matches(one, api("B"))
    assert matches(every, api("A", awsRegion="eu-west-1")) and not matches(every, api("A"))


def test_one_of_them_and_all_of_them(tmp_path: Path) -> None:
    detection = "x:\n  eventName: A\ny:\n  awsRegion: eu-west-1\ncondition: {} of them"
    one = compile_rule(tmp_path, detection.format("1"))
    every = compile_rule(tmp_path, detection.format("all"))
    assert matches(one, api("A")) and not matches(every, api("A"))
    assert matches(every, api("A", awsRegion="eu-west-1"))


def test_list_of_maps_is_any_map(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, """\
        sel:
          - eventName: A
            awsRegion: eu-west-1
          - eventName: B
        condition: sel
        """)
    assert matches(detector, api("A", awsRegion="eu-west-1")) and matches(detector, api("B"))
    assert not matches(detector, api("A"))


def test_several_conditions_are_alternatives(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "a:\n  eventName: A\nb:\n  eventName: B\ncondition:\n  - a\n  - b")
    assert matches(detector, api("A")) and matches(detector, api("B")) and not matches(detector, api("C"))


def test_trail_tampering_filters(tmp_path: Path) -> None:
    (detector,) = load_sigma_rules([RULES / "trail_tampering.yml"]).detectors
    assert matches(detector, api("StopLogging", "cloudtrail.amazonaws.com"))
    assert not matches(detector, api("StopLogging", "cloudtrail.amazonaws.com", errorCode="AccessDenied"))
    service = iam_user() | {"invokedBy": "config.amazonaws.com"}
    assert not matches(detector, api("UpdateTrail", "cloudtrail.amazonaws.com", identity=service))


# --- keywords ---------------------------------------------------------------------------------------


def test_keywords_match_string_values_anywhere() -> None:
    (detector,) = load_sigma_rules([RULES / "keywords.yml"]).detectors
    assert detector.all_events
    assert matches(detector, api("GetObject", requestParameters={"bucketName": "CANARY-bucket-7f3a"}))
    assert matches(detector, api(resources=[{"ARN": "arn:aws:iam::1:user/decoy-7"}]))
    # Keywords match as substrings, so `?` needs one character after "decoy-", anywhere in a value.
    assert matches(detector, api(resources=[{"ARN": "arn:aws:iam::1:user/decoy-77"}]))
    assert not matches(detector, api(resources=[{"ARN": "arn:aws:iam::1:user/decoy-"}]))
    # Keys are not values.
    assert not matches(detector, api(requestParameters={"canary-bucket-7f3a": 1}))


def test_keyword_kinds(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, """\
        numbers:
          - 424242
        cased:
          '|cased': SecretName
        regex:
          '|re': 'i-[0-9a-f]{17}'
        condition: 1 of them
        """)
    assert matches(detector, api(requestParameters={"note": "ticket 424242"}))
    assert matches(detector, api(requestParameters={"name": "my-SecretName"}))
    assert not matches(detector, api(requestParameters={"name": "my-secretname"}))
    assert matches(detector, api(requestParameters={"id": "i-0123456789abcdef0"}))
    assert not matches(detector, api(requestParameters={"id": "i-0123"}))


def test_keyword_wildcards_stay_inside_one_value(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "keywords:\n  - 'alpha*omega'\ncondition: keywords")
    assert matches(detector, api(requestParameters={"a": "ALPHA to Omega"}))
    assert not matches(detector, api(requestParameters={"a": "alpha", "b": "omega"}))


def test_keywords_search_is_bounded(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "keywords:\n  - needle\ncondition: keywords")
    haystack = [{"v": "hay"}] * 30000 + [{"v": "needle"}]
    assert not matches(detector, api(requestParameters={"items": haystack}))  # past the bound: not searched
    assert matches(detector, api(requestParameters={"items": [{"v": "a needle here"}]}))


# --- unsupported features ---------------------------------------------------------------------------


@pytest.mark.parametrize(("detection", "named"), [
    ("sel:\n  userAgent|windash: -x\ncondition: sel", "windash"),
    ("sel:\n  userAgent|wide: x\ncondition: sel", "wide"),
    ("sel:\n  userAgent|utf16: x\ncondition: sel", "utf16"),
    ("sel:\n  userAgent|expand: '%agents%'\ncondition: sel", "expand"),
    ("sel:\n  eventTime|hour: 3\ncondition: sel", "hour"),
    ("sel:\n  eventName: A\ncondition: sel | count() > 5", "aggregation"),
    ("sel:\n  a..b: A\ncondition: sel", "empty part"),
])
def test_unsupported_features_are_named(tmp_path: Path, detection: str, named: str) -> None:
    (message,) = problems_of(tmp_path, detection)
    assert named in message


def test_non_cloudtrail_logsource_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "r.yml"
    path.write_text("title: Azure\ntags: [attack.t1078]\nlogsource: {product: azure, service: signinlogs}\n"
                    "detection: {sel: {ResultType: 0}, condition: sel}\n")
    loaded = load_sigma_rules([path])
    assert not loaded.detectors
    assert loaded.problems[0].rule == "Azure"
    assert loaded.problems[0].message.startswith("logsource is not AWS CloudTrail")


# --- hostile input ----------------------------------------------------------------------------------


# Hostile records as JSON text, which is what reaches the engine: records that are not objects, fields of
# the wrong type, huge values and numbers no parser reads.
HOSTILE_RECORDS = [
    b"null", b"[]", b'"text"', b"42", b"{}",
    b'{"eventName": null, "eventSource": 7, "userIdentity": "nope", "sourceIPAddress": {"ip": "10.0.0.1"}}',
    b'{"userIdentity": {"arn": {"nested": true}}, "requestParameters": [1, null, {"a": [[]]}], "resources": "x"}',
    b'{"userAgent": "' + b"x" * 1_000_000 + b'", "sourceIPAddress": "' + b"1" * 10_000 + b'", "errorCode": 1e308}',
    b'{"requestParameters": {"maxResults": "1e999", "items": [-0.0, 1' + b"0" * 400 + b']}}',
    b'{"responseElements": {"deep": ' + b"[" * 500 + b"]" * 500 + b'}, "additionalEventData": [' + b"9" * 400 + b"]}",
]


def hostile_events() -> list[Event]:
    """The hostile records decoded as the engine decodes them: the ones that are not objects are reported there
    and never reach a rule, fields of the wrong type are left out, free-form fields stay as they came."""
    part = decode_bytes(b'{"Records": [' + b", ".join(HOSTILE_RECORDS) + b"]}", "hostile")
    assert len(part.events) == len(HOSTILE_RECORDS) - 4
    return part.events


def test_hostile_events_never_raise() -> None:
    detectors = load_sigma_rules([RULES, EXAMPLES]).detectors
    for detector in detectors:
        for event in hostile_events():
            assert detector.match(event, detector.params) is None
    engine = Engine(detectors)
    result = engine.process(decode_bytes(b'{"Records": [' + b", ".join(HOSTILE_RECORDS) + b"]}", "hostile"))
    assert not result.alerts and not engine.stats.detector_errors


def test_hostile_values_with_every_value_kind(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, """\
        a:
          userAgent|re: '^y+$'
        b:
          sourceIPAddress|cidr: 10.0.0.0/8
        c:
          requestParameters.maxResults|lt: 5
        d:
          requestParameters.items: 1
        e:
          readOnly: true
        f:
          userIdentity.arn|contains: admin
        g:
          - keyword
        condition: 1 of them
        """)
    for event in hostile_events():
        assert detector.match(event, {}) is None
    assert matches(detector, {"requestParameters": {"items": ["2", 1.0]}})


# --- context and the engine ---------------------------------------------------------------------------


def test_hit_context_names_the_rule_and_the_fields_it_read() -> None:
    (detector,) = load_sigma_rules([RULES / "policy_wildcards.yml"]).detectors
    document = '{"Effect":"Allow","Action":"*"}' + " " * 5000
    event = typed(api("PutRolePolicy", "iam.amazonaws.com", requestParameters={"policyDocument": document}))
    hit = detector.match(event, {})
    assert isinstance(hit, Hit)
    assert hit.context["rule"] == "sigma-inline-policy-granting-everything"
    assert hit.context["sigma_title"] == "Inline Policy Granting Everything"
    assert hit.context["sigma_id"] == "1a2b3c4d-0002-4000-8000-000000000002"
    fields = hit.context["fields"]
    assert fields["eventName"] == "PutRolePolicy"
    assert len(fields["requestParameters.policyDocument"]) <= 256


def test_end_to_end_through_the_engine() -> None:
    loaded = load_sigma_rules([RULES, EXAMPLES])
    engine = Engine(loaded.detectors)
    events = [
        api("StopLogging", "cloudtrail.amazonaws.com", seconds=1),
        api("StopLogging", "cloudtrail.amazonaws.com", seconds=2, errorCode="AccessDenied"),
        api("GetBucketAcl", "s3.amazonaws.com", seconds=3, userAgent="Pacu/1.5 (aws-cli)"),
        api("ConsoleLogin", "signin.amazonaws.com", seconds=4, identity=root(),
            sourceIPAddress="203.0.113.9", responseElements={"ConsoleLogin": "Success"}),
        api("ConsoleLogin", "signin.amazonaws.com", seconds=5, sourceIPAddress="10.2.3.4",
            responseElements={"ConsoleLogin": "Success"}),
        api("DescribeInstances", "ec2.amazonaws.com", seconds=6),
    ]
    result = engine.process_records(events, "test")
    alerts = result.alerts + engine.flush()
    seen = {(a.detector, a.severity, tuple(a.mitre), a.event_ids[0]) for a in alerts}
    assert seen == {
        ("sigma-cloudtrail-logging-stopped-or-trail-deleted", Severity.HIGH, ("T1562.008",), events[0]["eventID"]),
        ("sigma-trail-tampering-by-a-human", Severity.CRITICAL, ("T1562.008",), events[0]["eventID"]),
        ("sigma-enumeration-with-an-offensive-tool-user-agent", Severity.LOW, ("T1526",), events[2]["eventID"]),
        ("sigma-console-sign-in-from-outside-the-corporate-networks", Severity.MEDIUM, ("T1078.004",),
         events[3]["eventID"]),
        ("sigma-root-account-used", Severity.HIGH, ("T1078.004",), events[3]["eventID"]),
        ("sigma-1a2b3c4d-0005-4000-8000-000000000005", Severity.LOW, ("T1078.004",), events[3]["eventID"]),
    }
    stopped = next(a for a in alerts if a.detector == "sigma-trail-tampering-by-a-human")
    assert stopped.context["fields"]["eventName"] == "StopLogging"
    assert not engine.stats.detector_errors


def test_meta_filter_in_the_same_file_is_applied(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text("""\
title: Any Bucket Deleted
id: 5d0c7a1e-1111-4000-8000-000000000001
tags: [attack.t1485]
logsource: {product: aws, service: cloudtrail}
detection:
  sel:
    eventSource: s3.amazonaws.com
    eventName: DeleteBucket
  condition: sel
---
title: Ignore The Build Account
filter:
  rules:
    - 5d0c7a1e-1111-4000-8000-000000000001
  selection:
    recipientAccountId: '999988887777'
  condition: not selection
logsource: {product: aws, service: cloudtrail}
""")
    loaded = load_sigma_rules([tmp_path])
    assert not loaded.problems
    (detector,) = loaded.detectors
    assert detector.events == {("s3.amazonaws.com", "DeleteBucket")}
    assert matches(detector, api("DeleteBucket", "s3.amazonaws.com"))
    assert not matches(detector, api("DeleteBucket", "s3.amazonaws.com", account="999988887777"))


def test_base64_modifier_matches_the_encoded_value(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "sel:\n  requestParameters.userData|base64|contains: curl\ncondition: sel")
    assert matches(detector, api(requestParameters={"userData": "IyEvYmluL3NoCmN1cmwK Y3VybA=="}))
    assert not matches(detector, api(requestParameters={"userData": "curl"}))


@pytest.mark.parametrize(("depth", "reason"), [(100, "deeper than 64"), (3000, "could not be compiled")])
def test_pathological_condition_is_one_problem(tmp_path: Path, depth: int, reason: str) -> None:
    (message,) = problems_of(tmp_path, f"sel:\n  eventName: A\ncondition: '{'not ' * depth}sel'")
    assert reason in message


def test_deep_parentheses_are_fine(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, f"sel:\n  eventName: A\ncondition: '{'(' * 300}sel{')' * 300}'")
    assert matches(detector, api("A")) and not matches(detector, api("B"))


@pytest.mark.parametrize("name", ["permiso_console_cartographer", "otrf_ec2_proxy_s3_exfil"])
def test_real_events_raise_no_errors_and_the_examples_stay_quiet(name: str) -> None:
    path = DATA / name / "events.jsonl"
    if not path.exists():
        pytest.skip(f"real data set {path} is absent (it lives outside the repository)")
    events = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    loaded = load_sigma_rules([EXAMPLES, RULES])
    engine = Engine(loaded.detectors)
    alerts = engine.process_records(events, name).alerts + engine.flush()
    assert not engine.stats.detector_errors
    # Benign console browsing and an S3 read-out with stolen role credentials: none of the
    # examples is about either (records without a caller or address are left out).
    assert not [a for a in alerts if a.detector in {d.id for d in load_sigma_rules([EXAMPLES]).detectors}]


def test_remembered_verdicts_stay_right_past_the_memo_bound(tmp_path: Path) -> None:
    detector = compile_rule(tmp_path, "sel:\n  userAgent|contains: [pacu, cloudfox]\ncondition: sel")
    for round_ in range(2):
        for i in range(5000):  # more distinct values than the memo keeps
            agent = f"Pacu/{i}" if i % 7 == 0 else f"aws-cli/{i}"
            assert matches(detector, api(userAgent=agent)) == (i % 7 == 0), (round_, agent)
    assert matches(detector, api(userAgent="x" * 600 + "CloudFox"))  # too long to remember, still matched
    assert matches(detector, api(userAgent="x" * 600 + "CloudFox"))


def test_alert_context_is_json_safe_for_odd_values(tmp_path: Path) -> None:
    loaded = load_sigma_rules([RULES / "trail_tampering.yml"])
    engine = Engine(loaded.detectors)
    # A typed field of the wrong type is left out when decoding (and reported): the rule never sees it.
    event = api("StopLogging", "cloudtrail.amazonaws.com", identity={"type": "IAMUser", "invokedBy": 10**30})
    result = engine.process_records([event], "test")
    (alert,) = result.alerts + engine.flush()
    assert [issue.reason for issue in result.issues] == ["wrong_type"]
    assert "userIdentity.invokedBy" not in alert.context["fields"]
    assert orjson.loads(alert.to_json())["context"]["rule"] == "sigma-trail-tampering-by-a-human"
    # Free-form fields keep any JSON value: a number past 64 bits, an object, a long text.
    detector = compile_rule(tmp_path, "sel:\n  requestParameters.count|gte: 0\n  requestParameters.doc|exists: true\n"
                                      "  requestParameters.note|exists: true\ncondition: sel")
    engine = Engine([detector])
    event = api(requestParameters={"count": 10**30, "doc": {"a": [1, {"b": None}]}, "note": "n" * 5000})
    (alert,) = engine.process_records([event], "test").alerts + engine.flush()
    fields = orjson.loads(alert.to_json())["context"]["fields"]
    assert fields["requestParameters.count"] in (10**30, float(10**30))
    assert fields["requestParameters.doc"] == '{"a":[1,{"b":null}]}'
    assert len(fields["requestParameters.note"]) <= 256


# --- SigmaHQ's CloudTrail rules, as written -----------------------------------------------------------


SIGMAHQ = DATA / "sigmahq_aws_cloudtrail"
# Per real data set, how many events each SigmaHQ rule matches: the known positive of the attack run
# (role credentials stolen from an instance, used from elsewhere), and what the noisier SigmaHQ rules match
# in benign console browsing (their own false positives, kept as written).
SIGMAHQ_MATCHES = {
    "otrf_ec2_proxy_s3_exfil": {"sigma-aws-sts-assumerole-misuse": 11},
    "permiso_console_cartographer": {
        "sigma-potential-bucket-enumeration-on-aws": 34, "sigma-ingress-egress-security-group-modification": 3,
        "sigma-aws-user-login-profile-was-modified": 3, "sigma-aws-iam-backdoor-users-keys": 2,
        "sigma-aws-cloudtrail-important-change": 2, "sigma-aws-bucket-deleted": 1,
        "sigma-potential-malicious-usage-of-cloudtrail-system-manager": 1,
    },
}


def _sigmahq() -> LoadedRules:
    if not SIGMAHQ.exists():
        pytest.skip(f"SigmaHQ rules {SIGMAHQ} are absent (they live outside the repository)")
    return load_sigma_rules([SIGMAHQ])


def test_every_sigmahq_cloudtrail_rule_loads_unchanged() -> None:
    loaded = _sigmahq()
    files = sorted(SIGMAHQ.glob("*.yml"))
    assert len(files) == 57
    assert [str(p) for p in loaded.problems] == []
    assert len(loaded.detectors) == 57
    assert sorted(loaded.files.values()) == [str(f) for f in files]  # one detector per file
    # The ones whose tags name no technique (7) and the one comparing two fields (fieldref) are among them.
    assert sum(not d.mitre for d in loaded.detectors) == 7
    assert "sigma-aws-user-login-profile-was-modified" in loaded.kinds
    assert sum(not d.all_events for d in loaded.detectors) >= 50  # nearly all indexed by their event names


@pytest.mark.parametrize("name", sorted(SIGMAHQ_MATCHES))
def test_sigmahq_rules_over_real_events(name: str) -> None:
    loaded = _sigmahq()
    path = DATA / name / "events.jsonl"
    if not path.exists():
        pytest.skip(f"real data set {path} is absent (it lives outside the repository)")
    events = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    engine = Engine(loaded.detectors)
    alerts = engine.process_records(events, name).alerts + engine.flush()
    assert not engine.stats.detector_errors
    assert dict(engine.stats.matches) == SIGMAHQ_MATCHES[name]
    assert {a.detector for a in alerts} == set(SIGMAHQ_MATCHES[name])
    if name == "otrf_ec2_proxy_s3_exfil":
        assert all("BankingWAFRole" in a.principal for a in alerts)
