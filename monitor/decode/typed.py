"""JSON to typed events: one fast decode for well-formed input, a record-by-record path for the rest.

The fast path decodes a whole document (`{"Records": [...]}` or an array) straight into `Event`
structs. When that fails (one record with a field of the wrong type, a record that is not an object,
nesting deeper than the decoder's recursion allows), the same bytes are read again record by record,
so one odd record never fails its file:

1. split the records without parsing them, and decode each on the fast path;
2. a record that still fails is parsed into plain JSON and converted field by field: a field of the
   wrong type is left out and reported, the rest of the event is kept (an attacker cannot hide a
   `DeleteTrail` by adding one odd field);
3. when even splitting fails, the whole document is parsed into plain JSON (orjson reads nesting that
   msgspec's recursive decoder refuses) and each record converted as in 2.

A problem is a `(position, reason, detail)` naming the record by its index in the document.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import orjson
from msgspec import Raw, Struct

from monitor.model.event import (
    Event,
    SessionAttributes,
    SessionContext,
    SessionIssuer,
    UserIdentity,
)

Problem = tuple[int, str, str]

# What can go wrong inside msgspec for hostile input (RecursionError: nesting beyond its limit).
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)


class _RecordsDocument(Struct, gc=False):
    Records: list[Event]


class _RawRecordsDocument(Struct, gc=False):
    Records: list[Raw]


RECORDS_DOCUMENT = msgspec.json.Decoder(_RecordsDocument)
EVENT_ARRAY = msgspec.json.Decoder(list[Event])
_RAW_RECORDS = msgspec.json.Decoder(_RawRecordsDocument)
_RAW_ARRAY = msgspec.json.Decoder(list[Raw])
ONE_EVENT = msgspec.json.Decoder(Event)


Decoded = tuple[list[Event], list[int], list[Problem]]  # events, the index of each among the records, problems


def decode_records(data: bytes, *, wrapped: bool) -> Decoded:
    """The events of a `{"Records": [...]}` document (`wrapped`) or of a JSON array of records.

    Raises ValueError when the records cannot be found at all (not JSON, or no list where they belong).
    """
    try:
        events = RECORDS_DOCUMENT.decode(data).Records if wrapped else EVENT_ARRAY.decode(data)
    except _DECODE_ERRORS:
        pass
    else:
        return events, list(range(len(events))), []
    try:
        raws: list[Raw] | list[bytes] = _RAW_RECORDS.decode(data).Records if wrapped else _RAW_ARRAY.decode(data)
    except _DECODE_ERRORS:
        raws = split_records(data, wrapped=wrapped)
    return decode_each(raws)


def decode_each(raws: list[Raw] | list[bytes]) -> Decoded:
    """Records one by one: the fast path, else field by field (see the module doc)."""
    events: list[Event] = []
    positions: list[int] = []
    problems: list[Problem] = []
    for position, raw in enumerate(raws):
        try:
            events.append(ONE_EVENT.decode(raw))
            positions.append(position)
            continue
        except _DECODE_ERRORS:
            pass
        try:
            value = plain_json(memoryview(raw) if isinstance(raw, Raw) else raw)
        except orjson.JSONDecodeError as exc:
            reason = "too_deep" if "depth" in str(exc) or "recursion" in str(exc) else "invalid_json"
            problems.append((position, reason, "record is nested too deep to read" if reason == "too_deep"
                             else f"invalid JSON: {exc}"))
            continue
        event = from_plain(value, position, problems)
        if event is not None:
            events.append(event)
            positions.append(position)
    return events, positions, problems


def decode_line(line: bytes) -> Event | Any:
    """One JSON Lines record: an Event, else the plain JSON value (the caller decides what a non-object
    or a `Records` line means). Raises ValueError when the line is not JSON."""
    try:
        return ONE_EVENT.decode(line)
    except _DECODE_ERRORS:
        pass
    try:
        return plain_json(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc}") from None


def plain_json(data: bytes | memoryview) -> Any:
    """Plain JSON data: orjson, else the standard library for the one thing JSON allows and orjson refuses,
    a lone surrogate written as an escape ("\\ud800"; a Python string holds it, alerts replace it).

    Raises orjson.JSONDecodeError (a ValueError) when the data is not JSON.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "surrogate" not in str(exc):
            raise
        try:
            return json.loads(bytes(data))
        except (ValueError, RecursionError):
            raise exc from None


# Strings (with escapes) and the structural characters: enough to find where records start and end.
# Possessive: a group repeated once per character keeps state per character (about 120 bytes each, so a
# 48 MB string took gigabytes); `++`/`*+` keep none, whatever the string.
_TOKENS = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{},]')


def split_records(data: bytes, *, wrapped: bool) -> list[bytes]:
    """The records' bytes (see `iter_records`), all at once."""
    return list(iter_records(data, wrapped=wrapped))


def iter_records(data: bytes, *, wrapped: bool) -> Iterator[bytes]:
    """The records' bytes one by one, found by scanning strings and brackets, nothing parsed.

    For what the parsers refuse (nesting past their limits) and for documents too large to parse whole.
    A Python loop over every string and bracket: slow, so only there. Raises ValueError (possibly after
    some records) when no records list is where it belongs.
    """
    depth = 0
    records_depth = 0  # the depth inside the records list, once found
    last_key = b""
    start = 0
    for token in _TOKENS.finditer(data):
        text = token.group()
        kind = text[:1]
        if kind == b'"':
            if depth == 1:
                last_key = text
        elif kind in b"[{":
            depth += 1
            if not records_depth and kind == b"[" and (depth == 2 and last_key == b'"Records"' if wrapped
                                                       else depth == 1):
                records_depth = depth
                start = token.end()
        elif kind in b"]}":
            if records_depth and depth == records_depth:
                last = data[start:token.start()].strip()
                if last:
                    yield last
                return
            depth -= 1
        elif records_depth and depth == records_depth:  # a comma between records
            yield data[start:token.start()].strip()
            start = token.end()
    raise ValueError("no list of records found")


def from_plain(value: Any, position: int, problems: list[Problem]) -> Event | None:
    """An Event from one plain JSON record, leaving out (and reporting) fields of the wrong type."""
    if type(value) is not dict:
        problems.append((position, "not_an_object", f"record is {_a(value)}, not an object"))
        return None
    wrong: list[str] = []
    fields = _convert(value, _EVENT_FIELDS, wrong)
    if "eventTime" in value and "eventTime" not in fields and value["eventTime"] is not None:
        # Said once, as the time problem it is (decoding does not report a missing time again).
        problems.append((position, "bad_event_time", f"eventTime is {_a(value['eventTime'])}, not a timestamp"))
        wrong = [problem for problem in wrong if not problem.startswith("eventTime ")]
    # Names that are not strings are left out, and the engine's prologue reports every event without its
    # names ("eventName/eventSource missing or not strings"): said once, there.
    wrong = [problem for problem in wrong if not problem.startswith(("eventName ", "eventSource "))]
    if wrong:
        problems.append((position, "wrong_type", "; ".join(wrong)[:300] + " (left out)"))
    return Event(**fields)


def _a(value: Any) -> str:
    """What a JSON value is, with its article: "an array", "a string"."""
    name = "null" if value is None else {dict: "object", list: "array", str: "string", bool: "boolean",
                                         int: "number", float: "number"}.get(type(value), type(value).__name__)
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


Converter = Callable[[Any, str, list[str]], Any]


def _text(value: Any, name: str, wrong: list[str]) -> Any:
    if type(value) is str:
        return value
    if type(value) is bool:  # "true"/"false" written as a JSON boolean (mfaAuthenticated, ...): same meaning
        return "true" if value else "false"
    if value is not None:  # null is absence
        wrong.append(f"{name} is {_a(value)}, not a string")
    return _LEAVE_OUT


def _optional_text(value: Any, name: str, wrong: list[str]) -> Any:
    return None if value is None else _text(value, name, wrong)


def _boolean(value: Any, name: str, wrong: list[str]) -> Any:
    if value is None or type(value) is bool:
        return value
    wrong.append(f"{name} is {_a(value)}, not a boolean")
    return _LEAVE_OUT


def _raw(value: Any, name: str, wrong: list[str]) -> Any:
    try:
        return Raw(orjson.dumps(value))
    except orjson.JSONEncodeError:  # nesting past orjson's encoder limit, or a number it cannot write
        wrong.append(f"{name} is nested too deep or holds an unwritable value")
        return _LEAVE_OUT


def _struct(kind: type[Struct], table: dict[str, Converter]) -> Converter:
    def convert(value: Any, name: str, wrong: list[str]) -> Any:
        if type(value) is not dict:
            if value is not None:
                wrong.append(f"{name} is {_a(value)}, not an object")
            return _LEAVE_OUT
        return kind(**_convert(value, table, wrong, f"{name}."))

    return convert


def _convert(value: dict[str, Any], table: dict[str, Converter], wrong: list[str], prefix: str = "") -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, convert in table.items():
        if name in value:
            converted = convert(value[name], prefix + name, wrong)
            if converted is not _LEAVE_OUT:
                fields[name] = converted
    return fields


_LEAVE_OUT = object()


def _table(kind: type[Struct], nested: dict[str, Converter] | None = None) -> dict[str, Converter]:
    """How to convert each field of a struct, read from its type annotations' defaults."""
    sample = kind()
    table: dict[str, Converter] = {}
    for name in kind.__struct_fields__:
        default = getattr(sample, name)
        if nested and name in nested:
            table[name] = nested[name]
        elif isinstance(default, Raw):
            table[name] = _raw
        elif default is None and name in _BOOLEANS:
            table[name] = _boolean
        elif default is None:
            table[name] = _optional_text
        else:
            table[name] = _text
    return table


_BOOLEANS = frozenset({"readOnly", "managementEvent"})
_SESSION_FIELDS = _table(SessionContext, {
    "sessionIssuer": _struct(SessionIssuer, _table(SessionIssuer)),
    "attributes": _struct(SessionAttributes, _table(SessionAttributes)),
})
_IDENTITY_FIELDS = _table(UserIdentity, {"sessionContext": _struct(SessionContext, _SESSION_FIELDS)})
_EVENT_FIELDS = _table(Event, {"userIdentity": _struct(UserIdentity, _IDENTITY_FIELDS)})
