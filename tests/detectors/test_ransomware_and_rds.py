"""S3 ransomware preparation, S3 deletion bursts and RDS exposure beyond their samples: hostile and deeply
nested input, secrets kept out of alerts, and one alert (not two) for a lifecycle change."""

from __future__ import annotations

from typing import Any

import pytest

from detectors._common import ACTOR
from monitor.model import Detector
from monitor.model.event import event_from_record
from monitor.rules.builtin import builtin_detectors
from tests.detectors.test_attack_paths import _DEEP_MARKER as DEEP_MARKER
from tests.detectors.test_attack_paths import HOSTILE, run, run_with_deep_values
from tests.helpers import api_call, iam_user

IDS = ("s3-ransomware-preparation", "s3-mass-object-deletion", "rds-exposed-or-weakened")
BY_ID = {d.id: d for d in builtin_detectors()}
DETECTORS = [BY_ID[i] for i in IDS]
SECRET = "s3cr3t-Marker-7a6b5c4d"


@pytest.mark.parametrize("detector", DETECTORS, ids=IDS)
def test_indexed_by_calls_and_grouped_per_actor(detector: Detector) -> None:
    assert not detector.all_events and detector.events
    assert detector.group_by == ACTOR


@pytest.mark.parametrize("detector", DETECTORS, ids=IDS)
def test_hostile_and_deeply_nested_fields_never_raise(detector: Detector) -> None:
    events: list[dict[str, Any]] = []
    for n, (source, name) in enumerate(sorted(detector.events)):
        for value in [*HOSTILE, DEEP_MARKER]:
            for field in ("requestParameters", "responseElements", "additionalEventData", "resources"):
                event = api_call(iam_user("mallory"), source, name, n)
                event[field] = value
                events.append(event)
    engine = run_with_deep_values([detector], events)
    assert engine.stats.events_processed == len(events)
    assert dict(engine.stats.detector_errors) == {}


def test_passwords_and_customer_keys_never_reach_alerts() -> None:
    """A record carrying the real value (a hand-made export, a logging bug) still alerts without it."""
    user = iam_user("mallory")
    events = [
        api_call(user, "rds.amazonaws.com", "ModifyDBInstance", 1,
                 requestParameters={"dBInstanceIdentifier": "db1", "masterUserPassword": SECRET}),
        api_call(user, "s3.amazonaws.com", "CopyObject", 2,
                 requestParameters={"bucketName": "b", "key": "k", "x-amz-copy-source": "b/k",
                                    "x-amz-server-side-encryption-customer-algorithm": "AES256",
                                    "x-amz-server-side-encryption-customer-key": SECRET,
                                    "x-amz-server-side-encryption-customer-key-MD5": SECRET}),
    ]
    _, alerts = run(DETECTORS, events)
    assert {a.detector for a in alerts} == {"rds-exposed-or-weakened", "s3-ransomware-preparation"}
    for alert in alerts:
        assert SECRET.encode() not in alert.to_json(), alert.detector


# PutBucketLifecycle requests: exactly one of the two S3 detectors speaks for each one made by a person.
_LIFECYCLES: list[Any] = [
    None, "x", {}, {"LifecycleConfiguration": {"Rule": []}},
    *({"LifecycleConfiguration": {"Rule": rule}} for rule in (
        {"Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}},
        {"Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": "7"}},
        {"Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 8}},
        {"Status": "Enabled", "Filter": "", "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
        {"Status": "Enabled", "Prefix": "logs/", "Expiration": {"Days": 1}},
        {"Status": "Enabled", "Filter": {"And": {"Prefix": "", "Tags": [{"Key": "a", "Value": "b"}]}},
         "Expiration": {"Days": 1}},
        {"Status": "Disabled", "Expiration": {"Days": 1}},
        {"Status": "Enabled", "Expiration": {"Date": "2026-03-05T00:00:00Z"}},
        {"Status": "Enabled", "Expiration": {"Date": "2027-03-05T00:00:00Z"}},
        [{"Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}},
         {"Status": "Enabled", "Expiration": {"Days": 3}}],
    )),
]


@pytest.mark.parametrize("request_parameters", _LIFECYCLES)
def test_lifecycle_change_goes_to_exactly_one_s3_detector(request_parameters: Any) -> None:
    record = event_from_record(api_call(iam_user("alice"), "s3.amazonaws.com", "PutBucketLifecycle", 0,
                                        requestParameters=request_parameters))
    both = [BY_ID["s3-ransomware-preparation"], BY_ID["s3-bucket-policy-changed"]]
    verdicts = [d.id for d in both if d.match(record, d.params) is not None]
    assert len(verdicts) == 1, verdicts
