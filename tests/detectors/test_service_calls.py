"""Changes made through an AWS service are still changes; what AWS does for itself stays quiet.

Every built-in detector's firing samples are replayed with only their caller fields rewritten: once as
calls CloudFormation made on the caller's behalf (each must still alert, naming the service and the
caller), once as AWS's own housekeeping (none may alert).
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from monitor.decode import decode_bytes
from monitor.engine import Engine, EngineSettings
from monitor.engine.registry import apply_settings
from monitor.engine.settings import DetectorSettings
from monitor.model import Alert, Detector
from monitor.offline.samples import load_cases, samples_path
from monitor.rules.builtin import builtin_detectors
from tests.helpers import DATA

CLOUDFORMATION = "cloudformation.amazonaws.com"

# Detectors about the caller's own sign-in, network, tool or refusals: a call a service made for the caller
# carries the service's address and user agent, not the caller's, so these leave it out by design.
ABOUT_THE_CALLER = {
    "access-denied-burst": "refusals of a service acting for someone are the service's configuration",
    "console-login-after-failures": "console sign-ins are never made through a service",
    "console-login-failure-burst": "console sign-ins are never made through a service",
    "console-login-without-mfa": "console sign-ins are never made through a service",
    "console-password-spray": "console sign-ins are never made through a service",
    "root-console-login": "console sign-ins are never made through a service",
    "cross-account-assume-role-unknown": "services assume roles for their callers all day",
    "scanner-user-agent": "the user agent is the service's",
    "source-ip-outside-allowlist": "the source address is the service's",
    "secrets-bulk-read": "stacks resolve their secrets through the service at every deployment",
    "instance-credentials-used-elsewhere": "the source address is the service's",
    "workload-credentials-used-elsewhere": "the source address is the service's",
    "iam-user-shared": "the source address and user agent are the service's",
    "new-source-ip-for-principal": "the source address is the service's",
    "new-user-agent-for-principal": "the user agent is the service's",
    "new-region-for-principal": "learners learn a principal's own habits; a stack deploys where its template says",
    "model-invocation-burst": "a service invoking models for its caller (Bedrock agents) is the service's usage",
    # The weak signals are about the caller's own discovery: a service reading or refused for its caller is not it.
    "refused-call": "refusals of a service acting for someone are the service's configuration",
    "recon-burst": "a service describing resources for its caller is not the caller's enumeration",
    "credential-discovery": "a service checking credentials for its caller is not the caller's discovery",
    "secrets-enumeration": "a service listing parameters for its caller (a stack, AWS Config) is not the caller's",
    "buckets-enumeration": "a service reading bucket settings for its caller is not the caller's sweep",
}

DETECTORS = builtin_detectors()


def firing_cases(detector: Detector) -> list[dict[str, Any]]:
    path = samples_path(detector)
    cases = load_cases(path) if path.exists() else []
    return [case for case in cases if case["expect"].get("alerts", 0) > 0 and "made_through" not in case["name"]]


def run(detector: Detector, case: dict[str, Any], events: list[dict[str, Any]]) -> list[Alert]:
    params = case.get("params") or {}
    configured = apply_settings(detector, DetectorSettings(params=params)) if params else detector
    engine = Engine([configured], EngineSettings())
    found = {}
    for alert in [*engine.process(decode_bytes(orjson.dumps({"Records": events}), "sample")).alerts, *engine.flush()]:
        found[alert.id] = alert
    return list(found.values())


def through_cloudformation(event: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(event)
    identity = event.setdefault("userIdentity", {})
    if isinstance(identity, dict):
        identity["invokedBy"] = CLOUDFORMATION
    event["sourceIPAddress"] = CLOUDFORMATION
    event["userAgent"] = CLOUDFORMATION
    return event


def as_aws_housekeeping(event: dict[str, Any], how: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    account = str((event.get("userIdentity") or {}).get("accountId") or event.get("recipientAccountId") or "")
    if how == "service-event":
        event["eventType"] = "AwsServiceEvent"
    elif how == "service-principal":
        event["userIdentity"] = {"type": "AWSService", "invokedBy": "config.amazonaws.com"}
        event["sourceIPAddress"] = "config.amazonaws.com"
        event["userAgent"] = "config.amazonaws.com"
    else:  # a service-linked role's own session
        role = "AWSServiceRoleForConfig"
        event["userIdentity"] = {
            "type": "AssumedRole", "principalId": f"AROAEXAMPLESLR000001:{role}",
            "arn": f"arn:aws:sts::{account}:assumed-role/{role}/config-session",
            "accountId": account, "accessKeyId": "ASIAEXAMPLESLR000001",
            "sessionContext": {"sessionIssuer": {
                "type": "Role", "principalId": "AROAEXAMPLESLR000001",
                "arn": f"arn:aws:iam::{account}:role/aws-service-role/config.amazonaws.com/{role}",
                "accountId": account, "userName": role}}}
    return event


# Correlations (their samples run other detectors `with` them) report sequences of alerts, not a change.
CHANGE_DETECTORS = [d for d in DETECTORS if d.id not in ABOUT_THE_CALLER and firing_cases(d)
                    and not any(case.get("with") for case in firing_cases(d))]


@pytest.mark.parametrize("detector", CHANGE_DETECTORS, ids=[d.id for d in CHANGE_DETECTORS])
def test_a_change_made_through_cloudformation_still_alerts_and_names_the_service(detector: Detector) -> None:
    for case in firing_cases(detector):
        if all(e.get("readOnly") is True for e in case["events"]):
            continue  # reads a service makes for its caller are not the caller's changes
        alerts = run(detector, case, [through_cloudformation(e) for e in case["events"]])
        # At least one: episodes keyed by source address may merge once every call comes from the service.
        assert alerts, case["name"]
        for alert in alerts:
            assert alert.context["made_through"] == CLOUDFORMATION, case["name"]
            assert alert.context["on_behalf_of"] == alert.principal, case["name"]


def test_the_exemptions_name_real_detectors() -> None:
    assert set(ABOUT_THE_CALLER) <= {d.id for d in DETECTORS}


@pytest.mark.parametrize("how", ["service-event", "service-principal", "service-linked-role"])
def test_what_aws_does_for_itself_stays_quiet(how: str) -> None:
    loud = []
    for detector in DETECTORS:
        for case in firing_cases(detector):
            if any(e.get("eventName") == "ConsoleLogin" for e in case["events"]):
                continue  # AWS never signs in to the console for itself
            alerts = run(detector, case, [as_aws_housekeeping(e, how) for e in case["events"]])
            if alerts:
                loud.append(f"{detector.id}: {case['name']}")
    assert loud == []


def test_real_trail_teardown_rewritten_as_a_stack_deletion_alerts() -> None:
    """Real StopLogging and DeleteTrail records (third-party data, no caller recorded) given the caller fields
    of a CloudFormation stack deletion run by a deploy role: the trail detector reports both and says which
    service made the calls for whom."""
    path = DATA / "permiso_console_cartographer" / "events.jsonl"
    if not path.exists():
        pytest.skip(f"real data set {path} is absent (it lives outside the repository)")
    wanted = ("StopLogging", "DeleteTrail")
    real = [e for e in map(orjson.loads, path.read_bytes().splitlines()) if e.get("eventName") in wanted]
    assert {e["eventName"] for e in real} == set(wanted)
    session = "arn:aws:sts::200802171337:assumed-role/deploy/pipeline"
    rewritten = [{**e, "userIdentity": {"type": "AssumedRole", "arn": session, "accountId": "200802171337",
                                         "principalId": "AROAEXAMPLEDEPLOY001:pipeline",
                                         "invokedBy": CLOUDFORMATION},
                  "sourceIPAddress": CLOUDFORMATION, "userAgent": CLOUDFORMATION} for e in real]
    engine = Engine(DETECTORS)
    result = engine.process(decode_bytes(orjson.dumps({"Records": rewritten}), "rewritten"))
    alerts = [a for a in [*result.alerts, *engine.flush()] if a.detector == "cloudtrail-logging-stopped"]
    assert alerts
    assert {a.context["made_through"] for a in alerts} == {CLOUDFORMATION}
    assert {a.context["on_behalf_of"] for a in alerts} == {session}
    assert {name for a in alerts for name in [a.event_name]} <= set(wanted)
    # The untouched records name no caller and stay quiet, as before.
    quiet = Engine(DETECTORS)
    assert [*quiet.process(decode_bytes(orjson.dumps({"Records": real}), "real")).alerts, *quiet.flush()] == []
