"""The learning detectors: what each one's `match` learns from typed events (its key and value), the
engine's narrowing by identity type, the normalisers, and the bounded memos."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import orjson
import pytest

from detectors.learners import _instance_sessions, _normalise
from detectors.learners import iam_user_shared as ius
from detectors.learners import instance_credentials_used_elsewhere as icue
from detectors.learners import model_invocation_burst as mib
from detectors.learners import new_region_for_principal as region
from detectors.learners import new_source_ip_for_principal as new_ip
from detectors.learners import new_user_agent_for_principal as new_ua
from detectors.learners import workload_credentials_used_elsewhere as wcue
from detectors.learners._normalise import principal_key, source_network, user_agent_family
from monitor.decode import decode_bytes
from monitor.engine import Engine
from monitor.engine.detect import Detection
from monitor.model import Detector, FirstSeen, RateBaseline, Severity, keys
from monitor.model.detector import IDENTITY_CENTER, INSTANCE_SESSION, TASK_OR_FUNCTION_SESSION
from monitor.model.event import event_from_record
from monitor.offline.samples import load_cases, run_samples, samples_path
from tests.helpers import ACCOUNT, api_call, at, iam_user, root

LEARNERS = [new_ip.DETECTOR, new_ua.DETECTOR, region.DETECTOR, ius.DETECTOR, icue.DETECTOR, mib.DETECTOR]
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
SSO_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/alice@example.com"
CLI = "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0 exe/x86_64 prompt/off"
SDK = "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.0"
INSTANCE = "i-0abc1234def567890"

Found = tuple[str | None, str | None, bool]


def role(name: str, session: str, account: str = ACCOUNT) -> dict[str, Any]:
    return {"type": "AssumedRole", "principalId": f"AROAEXAMPLEROLEID0001:{session}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{name}/{session}", "accountId": account,
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": f"arn:aws:iam::{account}:role/{name}",
                                                 "accountId": account, "userName": name}}}


SSO = role("AWSReservedSSO_Admin_0123456789abcdef", "alice@example.com")


def found(detector: Detector, *records: dict[str, Any], **params: Any) -> list[Found]:
    """(key, value, standalone) of each Hit that may alert, through detection as the engine runs it (narrowing
    included); quiet Hits (learned, never news) are left out."""
    configured = dataclasses.replace(detector, params={**detector.params, **params})
    part = decode_bytes(orjson.dumps({"Records": list(records)}), "test")
    findings = Detection([configured]).detect(part).findings
    return [(f.key, f.value, f.standalone) for f in findings if not f.quiet]


def call(identity: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
    source = fields.pop("source", "ec2.amazonaws.com")
    return api_call(identity, source, fields.pop("name", "RunInstances"), 0, **fields)


# --- the contract --------------------------------------------------------------------------------------

def test_each_learner_keys_its_own_hits_and_declares_its_kind() -> None:
    for detector in LEARNERS:
        assert detector.group_by == keys(), detector.id
        assert isinstance(detector.state, RateBaseline if detector is mib.DETECTOR else FirstSeen), detector.id
    assert new_ip.DETECTOR.identity_types == new_ua.DETECTOR.identity_types == {"IAMUser", "Root", IDENTITY_CENTER}
    assert ius.DETECTOR.identity_types == {"IAMUser"}
    # Role sessions named after an instance, a task or a function only, unless roles are listed.
    assert icue.DETECTOR.identity_types == {INSTANCE_SESSION}
    widened = wcue.DETECTOR.identity_types_for
    assert widened is not None and widened(wcue.DETECTOR.params) == {TASK_OR_FUNCTION_SESSION}
    assert widened({**wcue.DETECTOR.params, "workload_roles": ["build-*"]}) == {"AssumedRole"}
    # Anyone can act in a region; only changing calls count.
    assert region.DETECTOR.all_events and region.DETECTOR.changes_only and not region.DETECTOR.identity_types


# --- people: new network, new tool ----------------------------------------------------------------------

@pytest.mark.parametrize("identity", [iam_user("alice"), root(), SSO], ids=["iam-user", "root", "sso-session"])
def test_a_persons_call_is_keyed_by_their_arn(identity: dict[str, Any]) -> None:
    event = call(identity, ip="203.0.113.77", userAgent=CLI)
    assert found(new_ip.DETECTOR, event) == [(identity["arn"], "203.0.113.0/24", False)]
    assert found(new_ua.DETECTOR, event) == [(identity["arn"], "aws-cli", False)]


def test_an_identity_without_arn_is_keyed_by_account_and_principal() -> None:
    identity = {k: v for k, v in iam_user("alice").items() if k != "arn"}
    assert found(new_ip.DETECTOR, call(identity)) == [(f"{ACCOUNT}|IAMUser:alice", "198.51.100.0/24", False)]


@pytest.mark.parametrize(("identity", "fields"), [
    (role("deploy", "ci-run-42"), {}),  # a workload's role session
    (role("AWSServiceRoleForECS", "ecs"), {}),  # a workload role whatever its name
    ({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}, {}),
    ({"type": "FederatedUser", "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/bob"}, {}),
    (iam_user("alice"), {"ip": "AWS Internal/3"}),
    (iam_user("alice"), {"ip": "cloudformation.amazonaws.com"}),
    (iam_user("alice"), {"eventType": "AwsServiceEvent"}),
    ({**iam_user("alice"), "invokedBy": "athena.amazonaws.com"}, {}),
    (None, {}),
], ids=["workload", "service-linked", "aws-service", "federated", "aws-internal", "service-host", "service-event",
        "invoked-by", "no-identity"])
def test_workloads_and_aws_itself_are_not_people(identity: dict[str, Any] | None, fields: dict[str, Any]) -> None:
    event = call(identity, **fields)
    assert found(new_ip.DETECTOR, event) == found(new_ua.DETECTOR, event) == []


def test_console_calls_carry_a_network_but_no_tool() -> None:
    event = call(iam_user("alice"), userAgent="[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488]")
    assert found(new_ip.DETECTOR, event) == [(ALICE, "198.51.100.0/24", False)]
    assert found(new_ua.DETECTOR, event) == []


# --- regions ---------------------------------------------------------------------------------------------

def test_a_role_session_acts_in_a_region_as_its_role() -> None:
    event = call(role("deploy", "ci-run-42"), region="ap-east-1")
    assert found(region.DETECTOR, event) == [(f"arn:aws:iam::{ACCOUNT}:role/deploy", "ap-east-1", False)]
    assert found(region.DETECTOR, call(iam_user("alice"), region="x" * 40)) == [(ALICE, "x" * 32, False)]


@pytest.mark.parametrize("fields", [
    {"readOnly": True}, {"source": "iam.amazonaws.com"}, {"source": "organizations.amazonaws.com"},
    {"region": ""}, {"ip": "AWS Internal/3"},
], ids=["read", "iam", "organizations", "no-region", "aws-internal"])
def test_reads_global_services_and_aws_itself_are_not_a_region_choice(fields: dict[str, Any]) -> None:
    assert found(region.DETECTOR, call(iam_user("alice"), **fields)) == []


def test_a_record_without_read_only_is_a_change() -> None:
    event = call(iam_user("alice"), region="eu-west-1")
    del event["readOnly"]
    assert found(region.DETECTOR, event) == [(ALICE, "eu-west-1", False)]


# --- IAM users shared ------------------------------------------------------------------------------------

def test_an_iam_users_call_gives_its_network_and_its_tool_under_two_keys() -> None:
    event = call(iam_user("alice"), ip="2001:db8:1234:5678::1", userAgent=CLI)
    assert found(ius.DETECTOR, event) == [(f"{ALICE}|networks", "2001:db8:1234::/48", False),
                                          (f"{ALICE}|tools", "aws-cli", False)]
    console = call(iam_user("alice"), userAgent="AWS Internal")
    assert found(ius.DETECTOR, console) == [(f"{ALICE}|networks", "198.51.100.0/24", False)]
    assert found(ius.DETECTOR, call(iam_user("alice"), ip="AWS Internal/3", userAgent="AWS Internal")) == []


def test_only_iam_users_are_counted_as_shared() -> None:
    for identity in (SSO, root(), role("deploy", "ci-run-42")):
        assert found(ius.DETECTOR, call(identity)) == []
        assert ius.match(event_from_record(call(identity)), {}) is None  # narrowed, and still right if called


# --- instance sessions -----------------------------------------------------------------------------------

def instance_call(ip: str, agent: str = SDK, **fields: Any) -> dict[str, Any]:
    return call(role("app-instance-role", INSTANCE), source="s3.amazonaws.com", name="GetObject", ip=ip,
                userAgent=agent, **fields)


SESSION = f"{ACCOUNT}|arn:aws:sts::{ACCOUNT}:assumed-role/app-instance-role/{INSTANCE}"


def test_an_instance_sessions_place_is_its_public_address_and_a_client_signal_stands_alone() -> None:
    assert found(icue.DETECTOR, instance_call("52.95.110.1")) == [(SESSION, "52.95.110.1", False)]
    assert found(icue.DETECTOR, instance_call("1.2.3.4", "curl/8.5.0")) == [(SESSION, "client: curl/", True)]
    darwin = instance_call("10.0.0.5", "aws-cli/1.18.136 Python/3.8.5 Darwin/19.5.0", vpcEndpointId="vpce-1")
    assert found(icue.DETECTOR, darwin) == [(SESSION, "workstation platform: darwin/", True)]
    hit = icue.match(event_from_record(instance_call("1.2.3.4", "python-requests/2.31.0")), icue.DETECTOR.params)
    assert hit is not None and hit.severity is Severity.HIGH
    assert dict(hit.context) == {"instance_id": INSTANCE, "reason": "client: python-requests/"}


@pytest.mark.parametrize("event", [
    instance_call("10.0.12.34"), instance_call("100.64.3.2"), instance_call("fd12:3456:789a::1"),
    instance_call("52.95.110.9", vpcEndpointId="vpce-0a1b2c3d4e5f60718"),
    instance_call("s3.amazonaws.com", "s3.amazonaws.com"), instance_call("AWS Internal/3", "AWS Internal"),
    instance_call("1.2.3.4", eventType="AwsServiceEvent"),
    call(role("app", "report-builder"), ip="1.2.3.4", userAgent="curl/8.5.0"),
    call(role("app", "i-am-bob"), ip="1.2.3.4", userAgent="curl/8.5.0"),
    call(iam_user("alice"), ip="1.2.3.4", userAgent="curl/8.5.0"),
], ids=["private", "shared", "ula", "endpoint", "service-host", "aws-internal", "service-event", "lambda",
        "look-alike", "iam-user"])
def test_the_instances_own_side_aws_and_other_callers_have_no_place(event: dict[str, Any]) -> None:
    assert found(icue.DETECTOR, event) == []


def test_params_leave_out_addresses_but_never_a_client_signal() -> None:
    own = {"instance_networks": ["52.95.110.0/24"]}
    assert found(icue.DETECTOR, instance_call("52.95.110.1"), **own) == []
    assert found(icue.DETECTOR, instance_call("1.2.3.4"), **own) == [(SESSION, "1.2.3.4", False)]
    assert found(icue.DETECTOR, instance_call("1.2.3.4"), count_source_ips=False) == []
    assert found(icue.DETECTOR, instance_call("1.2.3.4", "curl/8.5.0"), count_source_ips=False, **own) == [
        (SESSION, "client: curl/", True)]


def test_a_listed_egress_address_is_still_the_sessions_own_first_place() -> None:
    events = [instance_call("52.95.110.1"), instance_call("1.2.3.4", eventTime=at(600))]
    engine = Engine([dataclasses.replace(icue.DETECTOR, params={**icue.DETECTOR.params,
                                                                 "instance_networks": ["52.95.110.1/32"]})])
    assert len([*engine.process_records(events, "t").alerts, *engine.flush()]) == 1


# --- model invocations -----------------------------------------------------------------------------------

def test_model_invocations_are_counted_per_principal_and_denied_ones_are_not() -> None:
    invoke = call(role("app", "session-1"), source="bedrock.amazonaws.com", name="InvokeModel",
                  requestParameters={"modelId": "anthropic.claude-3-haiku"})
    assert found(mib.DETECTOR, invoke) == [(f"arn:aws:iam::{ACCOUNT}:role/app", None, False)]
    hit = mib.match(event_from_record(invoke), {})
    assert hit is not None and dict(hit.context) == {"model": "anthropic.claude-3-haiku"}
    assert found(mib.DETECTOR, {**invoke, "errorCode": "AccessDeniedException"}) == []
    assert found(mib.DETECTOR, {**invoke, "sourceIPAddress": "bedrock.amazonaws.com"}) == []


# --- normalisers -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("user_agent", "family"), [
    ("aws-cli/2.15.0 Python/3.11.6 Linux/5.10 exe/x86_64", "aws-cli"),
    ("aws-cli/1.29.0 Python/3.8.10 Windows/10 botocore/1.31.0", "aws-cli"),
    ("Boto3/1.34.1 md/Botocore#1.34.1 ua/2.0 os/linux#5.10", "boto3"),
    ("APN/1.0 HashiCorp/1.0 Terraform/1.5.7 (+https://www.terraform.io) terraform-provider-aws/5.31.0", "terraform"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15", "browser/macos"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/122.0.0.0", "browser/windows"),
    ("[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488]", None),
    ("AWS Internal", None),
    ("cloudformation.amazonaws.com", None),
    ("curl/8.4.0", "curl"),
    ("", None),
    ("\x00\x01 weird", "other"),
])
def test_user_agents_are_remembered_by_tool_family(user_agent: str, family: str | None) -> None:
    assert user_agent_family(user_agent) == family


@pytest.mark.parametrize(("source_ip", "network"), [
    ("203.0.113.77", "203.0.113.0/24"),
    ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
    ("::ffff:203.0.113.5", "203.0.113.0/24"),
    ("AWS Internal", None),
    ("ec2.amazonaws.com", None),
    ("999.1.1.1", None),
    ("1" * 5000, None),
])
def test_source_addresses_are_remembered_by_network(source_ip: str, network: str | None) -> None:
    assert source_network(source_ip) == network


def test_role_sessions_fold_into_their_role_and_aws_itself_has_no_key() -> None:
    identity = {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Deploy/i-0abc",
                "accountId": "111122223333"}
    session: dict[str, Any] = {"userIdentity": identity, "sourceIPAddress": "203.0.113.5"}
    assert principal_key(event_from_record(session)) == "arn:aws:iam::111122223333:role/Deploy"
    for made_by_aws in ({**session, "sourceIPAddress": "AWS Internal"},
                        {**session, "eventType": "AwsServiceEvent"},
                        {**session, "userIdentity": {**identity, "invokedBy": "ec2.amazonaws.com"}}):
        assert principal_key(event_from_record(made_by_aws)) is None


def test_hostile_long_values_are_normalised_without_being_remembered() -> None:
    memos = (_normalise._memo_family, _normalise._memo_network, _normalise._memo_fold,
             ius._memo_hits, icue._memo_hit, _instance_sessions._client_signal, _instance_sessions._instance_in)
    before = [memo.cache_info().currsize for memo in memos]
    for index in range(50):
        assert user_agent_family("curl/" + "x" * 5000 + str(index)) == "curl"
        assert source_network("1" * 100 + str(index)) is None
        huge = f"arn:aws:iam::{ACCOUNT}:user/" + "m" * 5000 + str(index)
        records = [call({**iam_user("alice"), "arn": huge}),
                   call(role("r" * 5000 + str(index), INSTANCE), ip="1.2.3.4", userAgent="curl/ " + "y" * 5000),
                   call({**role("app", INSTANCE), "principalId": "x" * 500 + f":{INSTANCE}"}, ip="1.2.3.4")]
        assert len(found(new_ip.DETECTOR, records[0])) == len(found(ius.DETECTOR, records[0])) - 1 == 1
        assert found(icue.DETECTOR, records[1])[0][1:] == ("client: curl/", True)
        assert found(icue.DETECTOR, records[2]) == []
    assert [memo.cache_info().currsize for memo in memos] == before


# --- together and alone, samples, hostile shapes ---------------------------------------------------------

def _alerts(detectors: list[Detector], events: list[Any]) -> set[tuple[str, str, int]]:
    engine = Engine(detectors)
    final = {a.id: a for a in [*engine.process_records(copy.deepcopy(events), "t").alerts, *engine.flush()]}
    assert dict(engine.stats.detector_errors) == {}
    return {(a.detector, a.id, a.count) for a in final.values()}


def test_learners_together_give_the_same_alerts_as_each_alone() -> None:
    events = [e for d in LEARNERS for case in load_cases(samples_path(d)) for e in case["events"]]
    together = _alerts(LEARNERS, events)
    assert together == {alert for d in LEARNERS for alert in _alerts([d], events)}
    assert {detector for detector, _, _ in together} == {d.id for d in LEARNERS}


@pytest.mark.parametrize("detector", LEARNERS, ids=lambda d: d.id)
def test_samples_pass(detector: Detector) -> None:
    results = run_samples(detector)
    assert len(results) >= 2
    assert [(r.name, r.problems) for r in results if not r.passed] == []


HOSTILE: list[dict[str, Any]] = [
    {"userIdentity": None}, {"userIdentity": {"type": ["IAMUser"]}, "awsRegion": 5},
    {"userIdentity": {"type": "IAMUser", "arn": 7}, "sourceIPAddress": {"x": 1}},
    {"userIdentity": {"type": "AssumedRole", "principalId": ":i-", "arn": None}, "sourceIPAddress": "1.2.3.4"},
    {"userIdentity": {**iam_user("alice"), "sessionContext": "x"}, "userAgent": ["curl"], "readOnly": "no"},
    {"userIdentity": role("app", INSTANCE), "sourceIPAddress": "1.2.3.4", "userAgent": 5, "recipientAccountId": 1},
    {"eventSource": "bedrock.amazonaws.com", "eventName": "InvokeModel", "requestParameters": [1],
     "userIdentity": iam_user("alice"), "errorCode": None},
]


def test_hostile_shapes_never_raise() -> None:
    events = [{**call(iam_user("alice")), **variant} for variant in HOSTILE]
    _alerts(LEARNERS, events)
    for detector in LEARNERS:
        for event in decode_bytes(orjson.dumps({"Records": events}), "hostile").events:
            detector.match(event, detector.params)


@pytest.mark.parametrize(("name", "read_only", "reads"), [
    ("DescribeInstances", None, True), ("ListFunctions20150331", None, True), ("GetObject", None, True),
    ("RunInstances", None, False), ("CreateTags", None, False), ("DescribeInstances", False, False),
    ("RunInstances", True, True), ("", None, False),
])
def test_new_region_reads_by_flag_else_by_name(name: str, read_only: bool | None, reads: bool) -> None:
    record: dict[str, Any] = {"eventName": name}
    if read_only is not None:
        record["readOnly"] = read_only
    assert region.reads(event_from_record(record)) is reads
