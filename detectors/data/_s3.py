"""Reading S3 requests: lifecycle rules that expire a whole bucket, and the encryption an object write asks for.

Not a detector: the registry skips modules whose name starts with `_`. s3-ransomware-preparation reports a
lifecycle rule that expires every object; s3-bucket-policy-changed leaves exactly those requests to it, so
one PutBucketLifecycle raises one alert. Pure functions of the decoded request, which is attacker-controlled
JSON: every reader tolerates wrong types and nulls.
"""

from __future__ import annotations

import re
from typing import Any

from detectors._fields import as_list

# A rule expiring every object within this many days is data destruction on a timer (ransomware crews have
# used 7 days); longer retention rules on whole buckets are ordinary cost control.
EXPIRE_ALL_MAX_DAYS = 7

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")

# Filter members that narrow a rule to part of the bucket.
_NARROWING = ("Tag", "And", "ObjectSizeGreaterThan", "ObjectSizeLessThan")


def _text(value: Any) -> str:
    return value.strip() if type(value) is str else ""


def _days(value: Any) -> int | None:
    """A day count written as a number or a numeric string; None otherwise."""
    if type(value) is int:
        return value
    if type(value) is str and value.strip().isdigit():
        return int(value.strip()[:9])
    return None


def _whole_bucket(rule: dict[str, Any]) -> bool:
    """The rule applies to every object: no prefix, tag, size or combined filter."""
    if _text(rule.get("Prefix")):
        return False
    found = rule.get("Filter")
    if found is None or found == "":
        return True
    if type(found) is not dict:
        return False  # a shape we cannot read narrows nothing we can prove
    if _text(found.get("Prefix")):
        return False
    return not any(found.get(key) not in (None, "", {}) for key in _NARROWING)


def _day_number(text: str) -> int | None:
    """Days since 1970-01-01 of an ISO date or timestamp's date part (no clock, no datetime: detectors are pure)."""
    found = _DATE.match(text.strip())
    if not found:
        return None
    year, month, day = (int(part) for part in found.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    # Howard Hinnant's days_from_civil.
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _soon(expiration: Any, event_time: str) -> bool:
    """An Expiration block that deletes current objects within EXPIRE_ALL_MAX_DAYS of the call."""
    if type(expiration) is not dict:
        return False
    days = _days(expiration.get("Days"))
    if days is not None:
        return days <= EXPIRE_ALL_MAX_DAYS
    when = _day_number(_text(expiration.get("Date")))
    now = _day_number(event_time)
    return when is not None and now is not None and when <= now + EXPIRE_ALL_MAX_DAYS


def _versions_soon(expiration: Any) -> bool:
    """A NoncurrentVersionExpiration block that deletes old versions (the backups) within the limit."""
    if type(expiration) is not dict:
        return False
    days = _days(expiration.get("NoncurrentDays"))
    return days is not None and days <= EXPIRE_ALL_MAX_DAYS


def lifecycle_rules(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The rules of a PutBucketLifecycle request (one rule or a list, as CloudTrail writes either)."""
    config = request.get("LifecycleConfiguration")
    if type(config) is not dict:
        return []
    rules = config.get("Rule", config.get("Rules"))
    return [rule for rule in as_list(rules) if type(rule) is dict]


def expiring_everything(request: dict[str, Any], event_time: str) -> list[str]:
    """What the enabled whole-bucket rules expire soon: "objects", "noncurrent versions"; [] when nothing."""
    found: list[str] = []
    for rule in lifecycle_rules(request):
        if _text(rule.get("Status")) != "Enabled" or not _whole_bucket(rule):
            continue
        if _soon(rule.get("Expiration"), event_time) and "objects" not in found:
            found.append("objects")
        if _versions_soon(rule.get("NoncurrentVersionExpiration")) and "noncurrent versions" not in found:
            found.append("noncurrent versions")
    return found
