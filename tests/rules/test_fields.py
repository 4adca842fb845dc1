"""Reading dotted field paths from typed events: what a rule sees of a record."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.model.event import event_from_record
from monitor.rules.fields import compile_path
from tests.helpers import api_call, cloudtrail_event, iam_user, typed


def read(path: str, record: dict[str, Any]) -> list[Any]:
    reader = compile_path(path)
    values = reader(typed(record))
    assert reader.any(lambda value: True)(typed(record)) == bool(values)  # the predicate agrees with the values
    return values


def test_typed_fields_nested_structs_and_free_form_fields() -> None:
    record = cloudtrail_event("CreateUser", "iam.amazonaws.com", requestParameters={"userName": "bob", "n": 0})
    assert read("eventName", record) == ["CreateUser"]
    assert read("userIdentity.arn", record) == ["arn:aws:iam::111122223333:user/alice"]
    assert read("readOnly", record) == [False]
    assert read("requestParameters.userName", record) == ["bob"]
    assert read("requestParameters.n", record) == [0]
    assert read("requestParameters", record) == [{"userName": "bob", "n": 0}]
    assert read("requestParameters.absent", record) == [] and read("eventName.deeper", record) == []


def test_a_path_ending_at_a_struct_reads_it_as_its_object() -> None:
    record = cloudtrail_event("CreateUser", "iam.amazonaws.com", identity=iam_user(mfa=True))
    (identity,) = read("userIdentity", record)
    assert identity["type"] == "IAMUser" and identity["userName"] == "alice"
    assert read("userIdentity.sessionContext.attributes", record) == [{"mfaAuthenticated": "true",
                                                                       "creationDate": "2026-03-01T12:00:00Z"}]


@pytest.mark.parametrize("identity", [None, {}], ids=["absent", "empty"])
def test_an_absent_or_empty_struct_reads_as_absent(identity: dict[str, Any] | None) -> None:
    # Typed, an absent userIdentity and an empty one are the same empty struct: neither is a caller.
    record = api_call(identity, "cloudtrail.amazonaws.com", "DeleteTrail")
    assert read("userIdentity", record) == []
    assert read("userIdentity.sessionContext", record) == []
    assert read("userIdentity.type", record) == []
    with_identity = api_call(iam_user(), "cloudtrail.amazonaws.com", "DeleteTrail")
    assert read("userIdentity.sessionContext", with_identity) == []  # an IAM user's call without a session


def test_empty_text_in_a_typed_field_reads_as_absent_but_not_in_a_free_form_field() -> None:
    record = cloudtrail_event("ListUsers", "iam.amazonaws.com", errorCode="", userAgent="",
                              requestParameters={"marker": ""})
    assert read("errorCode", record) == [] and read("userAgent", record) == []
    assert read("requestParameters.marker", record) == [""]


def test_fields_cloudtrail_does_not_document_read_as_absent() -> None:
    record = cloudtrail_event("ListUsers", "iam.amazonaws.com")
    record |= {"@timestamp": "2026-03-01T12:00:00.000Z", "customField": {"a": 1}}  # a logstash export's extras
    assert read("@timestamp", record) == [] and read("customField.a", record) == []
    assert read("userIdentity.customField", cloudtrail_event(
        "ListUsers", "iam.amazonaws.com", identity={**iam_user(), "customField": "x"})) == []


def test_lists_fan_out_and_are_bounded() -> None:
    record = cloudtrail_event("RunInstances", "ec2.amazonaws.com", resources=[{"ARN": "a"}, {"ARN": "b"}, {}],
                              requestParameters={"items": [{"v": [1, 2]}, {"v": 3}] + [{"v": 0}] * 5000})
    assert read("resources.ARN", record) == ["a", "b"]
    values = read("requestParameters.items.v", record)
    assert values[:3] == [1, 2, 3] and len(values) == 1000


def test_event_from_record_and_typed_agree_on_well_formed_records() -> None:
    record = cloudtrail_event("CreateUser", "iam.amazonaws.com", requestParameters={"userName": "bob"})
    for path in ("eventName", "userIdentity", "userIdentity.accountId", "requestParameters.userName"):
        assert compile_path(path)(event_from_record(record)) == compile_path(path)(typed(record))


def test_an_empty_part_is_refused() -> None:
    for path in ("", "a..b", ".a", "a."):
        with pytest.raises(ValueError, match="empty part"):
            compile_path(path)
