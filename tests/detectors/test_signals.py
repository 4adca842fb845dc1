"""The weak-signal detectors (detectors/signals/) through the whole catalog: a stolen key's first hour
raises each signal once, a busy workload's day raises almost none, and every signal is discovery."""

from __future__ import annotations

from typing import Any

from monitor.engine import Engine
from monitor.model import Alert
from monitor.rules.builtin import builtin_detectors
from tests.helpers import ATTACKER_IP, api_call, iam_user, latest

SIGNALS = {"buckets-enumeration", "credential-discovery", "recon-burst", "refused-call", "secrets-enumeration"}
# ATT&CK discovery techniques: a signal adds the discovery tactic to an actor's story and nothing stronger.
DISCOVERY = {"T1033", "T1069.003", "T1087.004", "T1526", "T1580", "T1619"}
PACU = "aws-cli/1.16.0 Python/3.7.3 Linux/5.10.0-kali7-amd64 botocore/1.12.0 Pacu"
LISTINGS = [("iam.amazonaws.com", name) for name in (
    "ListUsers", "ListRoles", "ListGroups", "ListPolicies", "GetAccountSummary", "GetAccountPasswordPolicy",
    "ListAccountAliases", "ListSAMLProviders")] + [
    ("organizations.amazonaws.com", "ListAccounts"), ("ec2.amazonaws.com", "DescribeRegions"),
    ("ec2.amazonaws.com", "DescribeSnapshots"), ("ec2.amazonaws.com", "DescribeKeyPairs"),
    ("lambda.amazonaws.com", "ListFunctions20150331"), ("kms.amazonaws.com", "ListKeys"),
    ("dynamodb.amazonaws.com", "ListTables"), ("cloudtrail.amazonaws.com", "DescribeTrails"),
    ("guardduty.amazonaws.com", "ListDetectors"), ("sns.amazonaws.com", "ListTopics"),
    ("sqs.amazonaws.com", "ListQueues"), ("ecs.amazonaws.com", "ListClusters")]


def run(records: list[dict[str, Any]]) -> list[Alert]:
    engine = Engine(builtin_detectors())
    result = engine.process_records(records, "test")
    return list(latest([*result.alerts, *engine.flush()]).values())


def test_the_signal_folder_holds_the_signals_and_only_they_are_signals() -> None:
    catalog = builtin_detectors()
    signals = {d.id for d in catalog if d.signal}
    assert signals == SIGNALS
    assert {d.id for d in catalog if d.match.__module__.startswith("detectors.signals.")} == SIGNALS


def test_every_signal_is_discovery() -> None:
    for detector in builtin_detectors():
        if detector.signal:
            assert set(detector.mitre) <= DISCOVERY, detector.id


def test_a_stolen_keys_first_minutes_raise_each_signal_once() -> None:
    key = iam_user("dana", key="AKIAEXAMPLEDANAKEY01")

    def call(source: str, name: str, seconds: float, **fields: Any) -> dict[str, Any]:
        return api_call(key, source, name, seconds, ip=ATTACKER_IP, **{"userAgent": PACU, "readOnly": True, **fields})

    records = [call("sts.amazonaws.com", "GetCallerIdentity", 0),
               call("iam.amazonaws.com", "ListAccessKeys", 5, requestParameters={"userName": "ops-backup"})]
    records += [call(source, name, 10 + i * 10) for i, (source, name) in enumerate(LISTINGS)]
    records += [call("iam.amazonaws.com", "CreateUser", 230, readOnly=False, errorCode="AccessDenied",
                     errorMessage="User: dana is not authorized to perform: iam:CreateUser")]
    records += [call("secretsmanager.amazonaws.com", "ListSecrets", 240), call("s3.amazonaws.com", "ListBuckets", 250)]
    alerts = run(records)
    found = sorted(a.detector for a in alerts if a.detector in SIGNALS)
    assert found == sorted(SIGNALS)
    assert all(a.principal == "arn:aws:iam::111122223333:user/dana" for a in alerts if a.detector in SIGNALS)


def test_a_workloads_steady_day_raises_at_most_one_refusal_signal() -> None:
    """A task's sessions (a new name and address each) reading its bucket, listing its queue and refused one
    call all day: one actor, one refused-call signal, no sweep, no listing burst."""
    records = []
    for i in range(96):  # every 15 minutes for a day
        session = f"{i:032x}"
        task = {"type": "AssumedRole", "principalId": f"AROAEXAMPLETASK:{session}",
                "arn": f"arn:aws:sts::111122223333:assumed-role/orders-api-task/{session}",
                "accountId": "111122223333", "accessKeyId": f"ASIAEXAMPLE{i:09d}",
                "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLETASK",
                                                     "arn": "arn:aws:iam::111122223333:role/orders-api-task",
                                                     "accountId": "111122223333", "userName": "orders-api-task"}}}
        ip = f"10.0.{i % 8}.{10 + i % 50}"
        records += [api_call(task, "sqs.amazonaws.com", "ListQueues", i * 900, ip=ip, readOnly=True),
                    api_call(task, "s3.amazonaws.com", "GetBucketPolicy", i * 900 + 1, ip=ip, readOnly=True,
                             requestParameters={"bucketName": "orders"}),
                    api_call(task, "kms.amazonaws.com", "Decrypt", i * 900 + 2, ip=ip, readOnly=True,
                             errorCode="AccessDeniedException", errorMessage="not authorized")]
    alerts = run(records)
    assert [a.detector for a in alerts if a.detector in SIGNALS] == ["refused-call"]
