"""The attack-path detectors beyond their samples: hostile input, secrets kept out, episodes, real data."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from detectors._fields import account_of, as_list, matches_any, walk
from detectors.compute.ssm_remote_command import is_human
from monitor.decode import decode_bytes
from monitor.engine import Engine
from monitor.model import Alert, Detector, Severity
from monitor.model.event import event_from_record
from monitor.rules.builtin import builtin_detectors
from tests.helpers import ACCOUNT, DATA, OTHER_ACCOUNT, api_call, iam_user, latest, of

ATTACK_PATHS = frozenset({
    "snapshot-or-image-shared", "lambda-backdoor", "ssm-remote-command", "ec2-user-data-changed",
    "ec2-user-data-read", "ec2-instance-connect-key-pushed", "logging-deleted",
    "roles-anywhere-trust-anchor-created", "federation-token-issued",
})
DETECTORS = [d for d in builtin_detectors() if d.id in ATTACK_PATHS]
SECRET = "s3cr3t-Marker-0c1d2e3f"


def role_session(role: str, path: str = "/") -> dict[str, Any]:
    return {"type": "AssumedRole", "principalId": f"AROAEXAMPLE:{role}", "accountId": ACCOUNT,
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/session",
            "sessionContext": {"sessionIssuer": {"type": "Role", "userName": role,
                                                 "arn": f"arn:aws:iam::{ACCOUNT}:role{path}{role}"}}}


def run(detectors: list[Detector], events: list[dict[str, Any]]) -> tuple[Engine, list[Alert]]:
    engine = Engine(detectors)
    result = engine.process_records(events, "test")
    return engine, [*result.alerts, *engine.flush()]


# Nesting as deep as decoding hands on to detectors (deeper records are reported as input issues, unread).
_DEEP_LEVELS = 980
_DEEP_MARKER = "<nested too deep to write with orjson>"


def run_with_deep_values(detectors: list[Detector], events: list[dict[str, Any]]) -> Engine:
    """Like `run`, with each `_DEEP_MARKER` value replaced in the JSON by `deep(_DEEP_LEVELS)`."""
    nested = b'{"add":' * _DEEP_LEVELS + b'{"groups":"all"}' + b"}" * _DEEP_LEVELS
    data = orjson.dumps({"Records": events}).replace(orjson.dumps(_DEEP_MARKER), nested)
    engine = Engine(detectors)
    engine.process(decode_bytes(data, "test"))
    engine.flush()
    return engine


def test_every_attack_path_detector_is_built_in_and_indexed() -> None:
    assert {d.id for d in DETECTORS} == ATTACK_PATHS
    for detector in DETECTORS:
        assert not detector.all_events and detector.events, detector.id
    lambda_events = next(d for d in DETECTORS if d.id == "lambda-backdoor").events
    # CloudTrail records Lambda calls under API-versioned names.
    assert ("lambda.amazonaws.com", "AddPermission20150331v2") in lambda_events
    assert ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2") in lambda_events


HOSTILE: list[Any] = [None, "", "*", 7, 1.5, True, [], [None, 1, "x", {"items": "all"}], {"items": None},
                      {"add": {"items": [{"groups": ["all", 3]}, {"userId": {"x": 1}}]}},
                      {"targets": [{"key": ["tag:x"], "values": None}], "layers": [None, 5]}]


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"groups": "all"}
    for _ in range(levels):
        value = {"add": value}
    return value


@pytest.mark.parametrize("detector", DETECTORS, ids=[d.id for d in DETECTORS])
def test_hostile_fields_never_raise(detector: Detector) -> None:
    events: list[dict[str, Any]] = []
    for n, (source, name) in enumerate(sorted(detector.events)):
        for value in [*HOSTILE, _DEEP_MARKER]:
            for field in ("requestParameters", "responseElements", "userIdentity"):
                event = api_call(iam_user("mallory"), source, name, n)
                event[field] = value
                events.append(event)
    engine = run_with_deep_values([detector], events)
    assert engine.stats.events_processed == len(events)
    assert dict(engine.stats.detector_errors) == {}


def secret_bearing_events() -> list[dict[str, Any]]:
    """Each detector's positive call with a secret where CloudTrail could carry one."""
    user = iam_user("mallory")
    return [
        api_call(user, "ec2.amazonaws.com", "ModifyInstanceAttribute", 1,
                 requestParameters={"instanceId": "i-0abc", "userData": {"value": SECRET}}),
        api_call(user, "ec2-instance-connect.amazonaws.com", "SendSSHPublicKey", 2,
                 requestParameters={"instanceId": "i-0abc", "instanceOSUser": "ec2-user", "sSHPublicKey": SECRET}),
        api_call(user, "rolesanywhere.amazonaws.com", "CreateTrustAnchor", 3,
                 requestParameters={"name": "ca", "source": {"sourceType": "CERTIFICATE_BUNDLE",
                                                             "sourceData": {"x509CertificateData": SECRET}}}),
        api_call(user, "sts.amazonaws.com", "GetFederationToken", 4,
                 requestParameters={"name": "bob", "policy": SECRET},
                 responseElements={"credentials": {"sessionToken": SECRET, "accessKeyId": "ASIAFED"}}),
        api_call(user, "ssm.amazonaws.com", "SendCommand", 5,
                 requestParameters={"instanceIds": ["i-0abc"], "documentName": "AWS-RunShellScript",
                                    "parameters": {"commands": [SECRET]}}),
        api_call(user, "lambda.amazonaws.com", "UpdateFunctionCode20150331v2", 6,
                 requestParameters={"functionName": "f", "zipFile": SECRET}),
    ]


def test_secrets_in_requests_never_reach_alerts() -> None:
    _, alerts = run(DETECTORS, secret_bearing_events())
    fired = {a.detector for a in alerts}
    assert fired == {"ec2-user-data-changed", "ec2-instance-connect-key-pushed", "roles-anywhere-trust-anchor-created",
                     "federation-token-issued", "ssm-remote-command", "lambda-backdoor"}
    for alert in alerts:
        assert SECRET.encode() not in alert.to_json(), alert.detector


def test_share_then_public_is_one_episode_escalated_to_critical() -> None:
    user = iam_user("mallory")
    share = {"snapshotId": "snap-1", "createVolumePermission": {"add": {"items": [{"userId": OTHER_ACCOUNT}]}}}
    public = {"snapshotId": "snap-1", "createVolumePermission": {"add": {"items": [{"groups": "all"}]}}}
    events = [api_call(user, "ec2.amazonaws.com", "ModifySnapshotAttribute", 10, requestParameters=share),
              api_call(user, "ec2.amazonaws.com", "ModifySnapshotAttribute", 70, requestParameters=public)]
    _, alerts = run(DETECTORS, events)
    final = latest(of(alerts, "snapshot-or-image-shared"))
    assert len(final) == 1
    alert = next(iter(final.values()))
    assert alert.severity == Severity.CRITICAL and alert.count == 2


def test_user_data_read_burst_fires_once_per_principal() -> None:
    reads = [api_call(role_session("recon"), "ec2.amazonaws.com", "DescribeInstanceAttribute", i * 5,
                      requestParameters={"instanceId": f"i-{i}", "attribute": "userData"}, readOnly=True)
             for i in range(30)]
    _, alerts = run(DETECTORS, reads)
    assert len(latest(of(alerts, "ec2-user-data-read"))) == 1


def test_helpers_tolerate_hostile_shapes() -> None:
    assert account_of(OTHER_ACCOUNT) == OTHER_ACCOUNT
    assert account_of(f"arn:aws:iam::{OTHER_ACCOUNT}:root") == OTHER_ACCOUNT
    assert account_of(f"arn:aws:lambda:us-east-1:{OTHER_ACCOUNT}:layer:x:1") == OTHER_ACCOUNT
    assert account_of("s3.amazonaws.com") == account_of("*") == account_of("12345") == ""
    assert as_list({"items": [1, 2]}) == [1, 2] and as_list("a") == ["a"] and as_list(None) == []
    assert len(list(walk(deep(5000)))) < 20  # bounded, no RecursionError
    assert matches_any("AWSReservedSSO_Admin_abc", ["AWSReservedSSO_*"])
    assert not matches_any("x", 5) and not matches_any("x", [None, 3])
    assert is_human(event_from_record({"userIdentity": {"type": "Root"}}), [])
    assert is_human(event_from_record({"userIdentity": role_session("AWSReservedSSO_Dev_1")}), ["AWSReservedSSO_*"])
    assert not is_human(event_from_record({"userIdentity": role_session("ci")}), ["AWSReservedSSO_*"])


@pytest.mark.parametrize("name", ["permiso_console_cartographer", "otrf_ec2_proxy_s3_exfil"])
def test_silent_on_real_benign_and_read_only_data(name: str) -> None:
    """Console browsing (no identities) and an S3 read-out: none of these attack paths is in them."""
    path = DATA / name / "events.jsonl"
    if not path.exists():
        pytest.skip(f"real data set {path} is absent (it lives outside the repository)")
    engine = Engine(DETECTORS)
    alerts = [*engine.process(decode_bytes(path.read_bytes(), str(path))).alerts, *engine.flush()]
    assert dict(engine.stats.detector_errors) == {}
    assert alerts == []


@pytest.mark.parametrize(("identity", "person"), [
    (iam_user("alice"), True),
    ({"type": "Root", "arn": f"arn:aws:iam::{ACCOUNT}:root"}, True),
    ({"type": "FederatedUser", "arn": f"arn:aws:sts::{ACCOUNT}:federated-user/ops"}, True),
    ({"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_Dev_0123/bob"}, True),
    ({"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/ADFS-Dev/carol@example.com",
      "sessionContext": {"webIdFederationData": {}}}, True),
    ({"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/gha/bot@example.com",
      "sessionContext": {"webIdFederationData": {"federatedProvider": "token.actions.githubusercontent.com"}}}, False),
    (role_session("github-actions"), False),
    ({"type": "AssumedRole", "arn": "@"}, False),
    ({"type": "AWSService", "invokedBy": "lambda.amazonaws.com"}, False),
])
def test_lambda_backdoor_tells_people_from_pipelines(identity: dict[str, Any], person: bool) -> None:
    from detectors.compute.lambda_backdoor import is_person
    assert is_person(event_from_record({"userIdentity": identity})) is person
