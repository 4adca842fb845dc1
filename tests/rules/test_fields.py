"""Reading dotted field paths from typed events: what a rule sees of a record."""

from __future__ import annotations

from typing import Any

import pytest
from msgspec import Raw, Struct

from monitor.decode import decode_bytes
from monitor.model.event import Event, event_from_record, raw_value, to_record
from monitor.rules.fields import compile_path
from tests.helpers import DATA, api_call, cloudtrail_event, iam_user, typed


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


def _typed_paths(kind: type[Struct] = Event, prefix: str = "") -> list[str]:
    """Every path through the typed structs: `eventName`, `userIdentity`, `userIdentity.sessionContext.attributes`..."""
    paths: list[str] = []
    for name in kind.__struct_fields__:
        paths.append(prefix + name)
        default = getattr(kind(), name)
        if isinstance(default, Struct):
            paths.extend(_typed_paths(type(default), f"{prefix}{name}."))
    return paths


PATHS = [*_typed_paths(), "requestParameters.bucketName", "requestParameters.instancesSet.items.instanceId",
         "resources.ARN", "additionalEventData.MFAUsed", "responseElements.ConsoleLogin", "@timestamp",
         "userIdentity.nothing", "eventName.deeper", "requestParameters.bucketName.deeper"]


def _step_by_step(event: Event, path: str) -> list[Any]:
    """The reference the compiled readers must agree with: the path walked one part at a time (struct fields by
    name, free-form JSON decoded and read by key, lists fanned out), a struct at the end read as its object."""
    current: list[Any] = [event]
    for part in path.split("."):
        found: list[Any] = []
        for node in current:
            if isinstance(node, Struct):
                value = getattr(node, part) if part in node.__struct_fields__ else None
                if isinstance(value, Raw):
                    value = raw_value(value)
                elif value == "":
                    value = None
            else:
                value = node.get(part) if type(node) is dict else None
            if type(value) is list:
                found.extend(value)
            elif value is not None:
                found.append(value)
        current = found
    if current and isinstance(current[0], Struct):  # a path that ends at a struct: one value, its object
        plain = to_record(current[0])
        return [plain] if plain else []
    return current


def _sample_events() -> list[Event]:
    records = [
        cloudtrail_event("RunInstances", "ec2.amazonaws.com", identity=iam_user(mfa=True), resources=[{"ARN": "a"}],
                         requestParameters={"instancesSet": {"items": [{"instanceId": "i-1"}, {"instanceId": "i-2"}]},
                                            "bucketName": ""}, errorCode="", readOnly=True),
        api_call(None, "signin.amazonaws.com", "ConsoleLogin", responseElements={"ConsoleLogin": "Success"},
                 additionalEventData={"MFAUsed": "No"}),
        api_call({"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "app"},
                                                             "attributes": {"mfaAuthenticated": "false"}}},
                 "s3.amazonaws.com", "GetObject", requestParameters={}, responseElements=None),
    ]
    events = [typed(record) for record in records]
    real = DATA / "otrf_ec2_proxy_s3_exfil" / "events.jsonl"
    if real.exists():
        events.extend(decode_bytes(real.read_bytes(), str(real)).events)
    return events


def test_compiled_paths_read_what_the_plain_record_holds() -> None:
    events = _sample_events()
    for path in PATHS:
        reader = compile_path(path)
        for event in events:
            expected = _step_by_step(event, path)
            assert reader(event) == expected, (path, event.eventID)
            assert reader.any(lambda value: True)(event) == bool(expected), (path, event.eventID)
