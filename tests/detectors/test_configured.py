"""The deployment-configured detectors: web identity subjects, unknown accounts, regions, CIDRs, instance credentials.

Their samples run in test_samples.py; these tests cover what samples cannot: config from YAML through the
real config parser and registry, hostile events and params, the index each detector declares, and the
secrets an AssumeRole* response carries staying out of alerts.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
import yaml

from detectors import _configured
from detectors.identity.non_mfa_sensitive_call import SENSITIVE_CALLS
from monitor.config import parse_config
from monitor.engine import Engine, configure
from monitor.engine.registry import apply_settings
from monitor.engine.settings import DetectorSettings
from monitor.model import Alert, Detector
from monitor.model.event import event_from_record
from monitor.rules.builtin import builtin_detectors
from tests.helpers import ACCOUNT, OTHER_ACCOUNT, api_call, iam_user, latest, of, root, signin

Event = dict[str, Any]

IDS = ("web-identity-unexpected-subject", "cross-account-assume-role-unknown", "unapproved-region",
       "source-ip-outside-allowlist", "instance-credentials-used-elsewhere")
BY_ID = {d.id: d for d in builtin_detectors()}
STRANGER = "999988887777"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKENdoNotLeak"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def run(events: list[Event], detectors: list[Detector]) -> list[Alert]:
    engine = Engine(detectors)
    alerts = [*engine.process_records(copy.deepcopy(events), "test").alerts, *engine.flush()]
    assert dict(engine.stats.detector_errors) == {}
    return alerts


def with_params(detector_id: str, **params: Any) -> Detector:
    return apply_settings(BY_ID[detector_id], DetectorSettings(params=params))


def role_session(role: str, session: str, account: str = ACCOUNT) -> dict[str, Any]:
    return {"type": "AssumedRole", "principalId": f"AROAEXAMPLEROLEID0001:{session}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/{session}", "accountId": account,
            "accessKeyId": "ASIAEXAMPLESESSION01",
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEROLEID0001",
                                                 "arn": f"arn:aws:iam::{account}:role/{role}", "accountId": account,
                                                 "userName": role},
                               "attributes": {"mfaAuthenticated": "false"}}}


def credentials() -> dict[str, Any]:
    return {"accessKeyId": "ASIAEXAMPLEISSUED001", "secretAccessKey": SECRET_KEY, "sessionToken": SESSION_TOKEN,
            "expiration": "Mar 2, 2026, 3:00:00 PM"}


def web_identity(subject: str, role: str = f"arn:aws:iam::{ACCOUNT}:role/deploy-app", seconds: float = 0) -> Event:
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    return api_call({"type": "WebIdentityUser", "principalId": f"{provider}:sts.amazonaws.com:{subject}",
                     "userName": subject, "identityProvider": provider},
                    "sts.amazonaws.com", "AssumeRoleWithWebIdentity", seconds, ip="20.42.0.17",
                    requestParameters={"roleArn": role, "roleSessionName": "GitHubActions"},
                    responseElements={"credentials": credentials(), "subjectFromWebIdentityToken": subject,
                                      "provider": provider, "audience": "sts.amazonaws.com"})


def assume_from(account: str, role: str = f"arn:aws:iam::{ACCOUNT}:role/partner-readonly",
                seconds: float = 0) -> Event:
    return api_call({"type": "AWSAccount", "principalId": "AIDAEXAMPLESTRANGER1", "accountId": account},
                    "sts.amazonaws.com", "AssumeRole", seconds, account=ACCOUNT,
                    requestParameters={"roleArn": role, "roleSessionName": "s", "externalId": "ext-secret-id"},
                    responseElements={"credentials": credentials()})


def instance_call(ip: str, agent: str, seconds: float = 0, name: str = "GetObject", **fields: Any) -> Event:
    return api_call(role_session("app-instance-role", "i-0abc1234def567890"), "s3.amazonaws.com", name, seconds,
                    ip=ip, userAgent=agent, **fields)


SDK = "aws-sdk-go-v2/1.25.2 os/linux lang/go#1.22.0"


# --- the contract: ids, index, grouping ------------------------------------------------------------------

@pytest.mark.parametrize("detector_id", IDS)
def test_declared_and_grouped(detector_id: str) -> None:
    detector = BY_ID[detector_id]
    assert detector.group_by is not None
    if detector_id == "instance-credentials-used-elsewhere":
        assert detector.all_events  # credentials can be used for any call: the one documented exception
    else:
        assert not detector.all_events and detector.events


def test_source_ip_watches_sign_ins_and_every_sensitive_call() -> None:
    events = BY_ID["source-ip-outside-allowlist"].events
    sensitive = {(source, name) for source, names in SENSITIVE_CALLS.items() for name in names}
    assert sensitive <= events
    assert {("signin.amazonaws.com", "ConsoleLogin"), ("sts.amazonaws.com", "GetSessionToken"),
            ("iam.amazonaws.com", "CreateAccessKey")} <= events


def test_unapproved_region_watches_creation_and_recon_but_no_global_service() -> None:
    from detectors.network.unapproved_region import GLOBAL_SOURCES
    events = BY_ID["unapproved-region"].events
    assert {("ec2.amazonaws.com", "RunInstances"), ("lambda.amazonaws.com", "CreateFunction20150331"),
            ("bedrock.amazonaws.com", "InvokeModel"), ("ec2.amazonaws.com", "DescribeInstances")} <= events
    assert not {source for source, _ in events} & GLOBAL_SOURCES


# --- config, through the real parser and registry ---------------------------------------------------------

CONFIG = f"""
detectors:
  web-identity-unexpected-subject:
    params:
      allowed_subjects:
        "arn:aws:iam::*:role/deploy-app": ["repo:acme/app:ref:refs/heads/main"]
  cross-account-assume-role-unknown:
    params:
      known_accounts: ["{OTHER_ACCOUNT}"]
  unapproved-region:
    params:
      allowed_regions: [eu-west-1, us-east-1]
    extra_events: ["ec2.amazonaws.com:CreateVolume", "iam.amazonaws.com:CreateUser"]
  source-ip-outside-allowlist:
    params:
      allowed_cidrs: ["198.51.100.0/24", "2001:db8::/32"]
  instance-credentials-used-elsewhere:
    params:
      instance_networks: ["52.95.110.1/32"]
"""


def configured() -> list[Detector]:
    config = parse_config(yaml.safe_load(CONFIG))
    return configure(builtin_detectors(), config.engine.detectors)


def test_yaml_config_drives_all_five() -> None:
    events = [
        web_identity("repo:acme/app:ref:refs/heads/main", seconds=0),
        web_identity("repo:mallory/app:pull_request", seconds=1),
        assume_from(OTHER_ACCOUNT, seconds=2),
        assume_from(STRANGER, seconds=3),
        api_call(iam_user("alice"), "ec2.amazonaws.com", "RunInstances", 4, region="eu-west-1"),
        api_call(iam_user("alice"), "ec2.amazonaws.com", "CreateVolume", 5, region="ap-east-1"),  # extra_events
        api_call(iam_user("bob"), "iam.amazonaws.com", "CreateAccessKey", 6, ip="198.51.100.9"),
        api_call(iam_user("bob"), "iam.amazonaws.com", "CreateAccessKey", 7, ip="2001:db9::1"),
        instance_call("52.95.110.1", SDK, 8),
        instance_call("52.95.110.1", "curl/8.5.0", 9),
    ]
    alerts = latest(run(events, configured()))
    fired = sorted((a.detector, a.severity.label) for a in alerts.values() if a.detector in IDS)
    assert fired == [
        ("cross-account-assume-role-unknown", "medium"),
        ("instance-credentials-used-elsewhere", "high"),
        ("source-ip-outside-allowlist", "medium"),
        ("unapproved-region", "medium"),
        ("web-identity-unexpected-subject", "high"),
    ]
    by_detector = {a.detector: a for a in alerts.values()}
    assert by_detector["web-identity-unexpected-subject"].context["subject"] == "repo:mallory/app:pull_request"
    assert by_detector["cross-account-assume-role-unknown"].context["caller_account"] == STRANGER
    assert by_detector["unapproved-region"].event_name == "CreateVolume"
    assert by_detector["source-ip-outside-allowlist"].source_ip == "2001:db9::1"
    assert by_detector["instance-credentials-used-elsewhere"].context["reason"] == "client: curl/"


def test_global_services_never_fire_even_when_added_to_the_index() -> None:
    event = api_call(iam_user("alice"), "iam.amazonaws.com", "CreateUser", 0, region="ap-east-1")
    assert of(run([event], configured()), "unapproved-region") == []


def test_unconfigured_detectors_stay_quiet() -> None:
    events = [web_identity("repo:mallory/app:pull_request"), assume_from(STRANGER),
              api_call(iam_user("alice"), "ec2.amazonaws.com", "RunInstances", 1, region="ap-east-1"),
              signin(root(), 2, "Success", ip="203.0.113.250")]
    alerts = run(events, builtin_detectors())
    assert [a for a in alerts if a.detector in IDS] == []


# --- secrets stay out of alerts ----------------------------------------------------------------------------

def test_issued_credentials_and_external_ids_never_reach_an_alert() -> None:
    detectors = [with_params("web-identity-unexpected-subject", unlisted_roles="alert"),
                 with_params("cross-account-assume-role-unknown", known_accounts=[OTHER_ACCOUNT])]
    alerts = run([web_identity("repo:x/y:ref:refs/heads/main"), assume_from(STRANGER, seconds=1)], detectors)
    assert {a.detector for a in alerts} == {d.id for d in detectors}
    for alert in alerts:
        text = alert.to_json().decode()
        assert SESSION_TOKEN not in text and SECRET_KEY not in text and "ext-secret-id" not in text


# --- behaviour samples cannot show well --------------------------------------------------------------------

def test_web_identity_role_globs_and_several_entries() -> None:
    detector = with_params("web-identity-unexpected-subject", allowed_subjects={
        "arn:aws:iam::*:role/deploy-*": ["repo:acme/*:ref:refs/heads/main"],
        f"arn:aws:iam::{ACCOUNT}:role/deploy-app": ["repo:acme/app:environment:prod"],
    })
    allowed = [web_identity("repo:acme/app:environment:prod"),
               web_identity("repo:acme/tools:ref:refs/heads/main", role=f"arn:aws:iam::{ACCOUNT}:role/deploy-x")]
    assert run(allowed, [detector]) == []
    refused = web_identity("repo:acme/app:environment:staging", seconds=5)
    alerts = run([refused], [detector])
    assert len(alerts) == 1 and alerts[0].context["role_listed"] is True


def test_instance_session_seen_from_an_outside_address_is_one_episode_naming_it() -> None:
    events = [instance_call("52.95.110.1", SDK, 0), instance_call("10.1.2.3", SDK, 5, vpcEndpointId="vpce-1"),
              instance_call("1.2.3.4", SDK, 60), instance_call("1.2.3.4", SDK, 120)]
    alerts = latest(run(events, [BY_ID["instance-credentials-used-elsewhere"]]))
    assert len(alerts) == 1
    alert = next(iter(alerts.values()))
    assert alert.severity.label == "medium"
    # The NAT address is the session's own (learned from its first call); the outside one is new, and its
    # repeat folds into the episode; the endpoint call is the instance's own network and never counts.
    assert alert.context["places"] == ["1.2.3.4"]
    assert alert.count == 2


def test_instance_signal_in_one_session_does_not_touch_another() -> None:
    other = instance_call("1.2.3.4", SDK, 0)
    other["userIdentity"] = role_session("app-instance-role", "i-0fedcba9876543210")
    events = [instance_call("1.2.3.4", "Mozilla/5.0 (Macintosh)", 0), other]
    alerts = run(events, [BY_ID["instance-credentials-used-elsewhere"]])
    assert [a.principal.rsplit("/", 1)[-1] for a in alerts] == ["i-0abc1234def567890"]


def test_cross_account_known_list_is_read_once_per_value() -> None:
    _configured.accounts([OTHER_ACCOUNT])
    before = _configured._account_set.cache_info().hits
    detector = with_params("cross-account-assume-role-unknown", known_accounts=[OTHER_ACCOUNT])
    run([assume_from(OTHER_ACCOUNT, seconds=i) for i in range(5)], [detector])
    assert _configured._account_set.cache_info().hits >= before + 5


# --- hostile events and params -----------------------------------------------------------------------------

WEIRD: list[Any] = [None, 7, 3.5, True, ["x"], {"type": ["Root"]}, "x" * 100_000, "\x00\u202e", "",
                    "i-0abc1234def567890", ":i-", "::ffff:1.2.3.4", "999::zz", "AWS Internal/3"]
FIELDS = ("userIdentity", "requestParameters", "responseElements", "sourceIPAddress", "userAgent", "awsRegion",
          "recipientAccountId", "errorCode", "vpcEndpointId", "resources", "eventType", "sessionCredentialFromConsole")


def base_events() -> list[Event]:
    return [web_identity("repo:mallory/app:pull_request"), assume_from(STRANGER),
            api_call(iam_user("alice"), "ec2.amazonaws.com", "RunInstances", 1, region="ap-east-1"),
            api_call(iam_user("bob"), "iam.amazonaws.com", "CreateAccessKey", 2, ip="203.0.113.5"),
            instance_call("1.2.3.4", "curl/8.5.0", 3)]


def hostile_variants() -> list[Event]:
    variants: list[Event] = []
    for event, field, value in itertools.product(base_events(), FIELDS, WEIRD):
        changed = copy.deepcopy(event)
        changed[field] = value
        changed["eventID"] = f"{changed['eventID']}-{field}-{len(variants)}"
        variants.append(changed)
    for event, value in itertools.product(base_events(), WEIRD):
        for inner in ("principalId", "type", "arn", "accountId", "userName", "invokedBy", "sessionContext"):
            changed = copy.deepcopy(event)
            changed["userIdentity"] = {**changed["userIdentity"], inner: value}
            changed["eventID"] = f"{changed['eventID']}-{inner}-{len(variants)}"
            variants.append(changed)
    return variants


def test_hostile_events_never_raise() -> None:
    detectors = configured()
    engine = Engine([d for d in detectors if d.id in IDS])
    engine.process_records(hostile_variants(), "hostile")
    engine.flush()
    assert dict(engine.stats.detector_errors) == {}
    assert sum(engine.stats.matches.values()) > 0  # the variants that keep their meaning still match


BAD_PARAMS: list[Any] = [None, 7, "x", ["x", 1, None, {"a": 1}, ["nested"]], {"a": ["b", 2]}, {1: 2}, True, 3.5]


@pytest.mark.parametrize("detector_id", IDS)
def test_wrong_typed_params_never_raise(detector_id: str) -> None:
    for value in BAD_PARAMS:
        params = dict.fromkeys(BY_ID[detector_id].params, value)
        engine = Engine([with_params(detector_id, **params)])
        engine.process_records(copy.deepcopy(base_events()), "bad params")
        engine.flush()
        assert dict(engine.stats.detector_errors) == {}, value


def test_address_helpers() -> None:
    assert _configured.address("AWS Internal/3") is None
    assert _configured.address("ec2.amazonaws.com") is None
    assert _configured.address("x" * 200) is None
    assert str(_configured.address("::ffff:198.51.100.7")) == "198.51.100.7"
    nets = _configured.networks(("198.51.100.0/24", "2001:db8::/32", "nonsense", "10.0.0.1"))
    assert len(nets) == 3
    assert _configured.address_in("2001:db8:1::5", ("2001:db8::/32",))
    assert not _configured.address_in("2001:db9::5", ("2001:db8::/32",))
    assert _configured.accounts([OTHER_ACCOUNT, int(ACCOUNT), "12345", True, {"x": 1}]) == {OTHER_ACCOUNT, ACCOUNT}


def test_oversized_event_values_are_judged_but_never_remembered() -> None:
    from detectors.learners import _instance_sessions as icue
    detector = BY_ID["instance-credentials-used-elsewhere"]
    normal = instance_call("1.2.3.4", "curl/8.5.0")
    assert detector.match(event_from_record(normal), detector.params) is not None
    sizes = (icue._public.cache_info().currsize, icue._client_signal.cache_info().currsize,
             _configured._address.cache_info().currsize)
    for n in range(3):
        huge = copy.deepcopy(normal)
        huge["userAgent"] = f"curl/8.5.0 {n}" + "x" * 200_000
        hit = detector.match(event_from_record(huge), detector.params)
        assert hit is not None and hit.context["reason"] == "client: curl/"
        huge["sourceIPAddress"] = f"{n}" * 100_000
        assert detector.match(event_from_record(huge), detector.params) is None
        assert _configured.address(f"1.2.3.{n}" + " " * 100) is None
    assert (icue._public.cache_info().currsize, icue._client_signal.cache_info().currsize,
            _configured._address.cache_info().currsize) == sizes
