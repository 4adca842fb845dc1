"""Which CloudTrail changes blind a trail: the rules cloudtrail-logging-stopped and cloudtrail-config-changed share.

Not a detector: the registry skips modules whose name starts with `_`. Both detectors judge a trail
change with `trail_blinded`, so one call raises exactly one of the two. Pure functions of the decoded
request, which is attacker-controlled JSON: every reader tolerates wrong types and nulls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._changes import context, scalar
from monitor.model import Event
from monitor.model.alert import TARGETS, clip, target

CLOUDTRAIL = "cloudtrail.amazonaws.com"
# Calls that always stop or destroy recording (trails and CloudTrail Lake event data stores).
TRAIL_STOPS = frozenset({"StopLogging", "DeleteTrail", "StopEventDataStoreIngestion", "DeleteEventDataStore"})
# Calls that may or may not blind the trail, depending on their request.
TRAIL_UPDATES = frozenset({"UpdateTrail", "PutEventSelectors", "PutInsightSelectors"})
# UpdateTrail settings that, switched off, lose events or tamper evidence.
_UPDATE_FLAGS = ("isMultiRegionTrail", "includeGlobalServiceEvents", "enableLogFileValidation")
_CONTEXT_FIELDS = ("s3BucketName", "cloudWatchLogsLogGroupArn", "isMultiRegionTrail", "includeGlobalServiceEvents",
                   "enableLogFileValidation", "kmsKeyId", "eventDataStore")


def _false(value: Any) -> bool:
    return value is False or (type(value) is str and value.strip().lower() == "false")


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if type(item) is dict] if type(value) is list else []


def trail_name(params: Mapping[str, Any]) -> str:
    return scalar(params.get("trailName")) or scalar(params.get("name"))


def _basic_selectors_blind(selectors: list[dict[str, Any]], keep_data: bool) -> list[str]:
    reasons: list[str] = []
    writes = False
    data = False
    excluded: list[str] = []
    for selector in selectors:
        # API defaults: includeManagementEvents true, readWriteType All.
        include = selector.get("includeManagementEvents", True)
        kind = selector.get("readWriteType", "All")
        if not _false(include) and kind in ("All", "WriteOnly"):
            writes = True
            sources = selector.get("excludeManagementEventSources")
            if type(sources) is list:
                excluded += [clip(s, 64) for s in sources if type(s) is str]
        if _dicts(selector.get("dataResources")):
            data = True
    if not writes:
        reasons.append("management write events no longer recorded")
    if excluded:
        reasons.append("management events excluded from " + ", ".join(excluded[:5]))
    if keep_data and not data:
        reasons.append("data events no longer recorded")
    return reasons


def _field_values(selector: dict[str, Any], field: str) -> tuple[list[str], list[str]]:
    """(equals, notEquals) values of one field of an advanced selector."""
    for fs in _dicts(selector.get("fieldSelectors")):
        if fs.get("field") == field:
            eq = [v for v in fs.get("equals") or [] if type(v) is str] if type(fs.get("equals")) is list else []
            ne = [v for v in fs.get("notEquals") or [] if type(v) is str] if type(fs.get("notEquals")) is list else []
            return eq, ne
    return [], []


def _advanced_selectors_blind(selectors: list[dict[str, Any]], keep_data: bool) -> list[str]:
    reasons: list[str] = []
    writes = False
    data = False
    for selector in selectors:
        category, _ = _field_values(selector, "eventCategory")
        if "Management" in category:
            read_only, _ = _field_values(selector, "readOnly")
            if read_only != ["true"]:
                writes = True
        elif "Data" in category:
            data = True
    if not writes:
        reasons.append("management write events no longer recorded")
    if keep_data and not data:
        reasons.append("data events no longer recorded")
    return reasons


def trail_blinded(name: str, params: Mapping[str, Any], data_trails: frozenset[str]) -> list[str] | None:
    """Why a trail change blinds monitoring; [] when it does not; None when the request cannot be read.

    `data_trails` names trails (name or ARN) whose data events must stay recorded: without the earlier
    selectors, dropping data events can only be told for trails configured as carrying them.
    """
    if name in TRAIL_STOPS:
        return ["recording stopped" if name.startswith("Stop") else "recording deleted"]
    trail = trail_name(params)
    keep_data = bool(trail) and (trail in data_trails or trail.rsplit("/", 1)[-1] in data_trails)
    if name == "PutEventSelectors":
        if type(params.get("advancedEventSelectors")) is list:
            return _advanced_selectors_blind(_dicts(params.get("advancedEventSelectors")), keep_data)
        if type(params.get("eventSelectors")) is list:
            return _basic_selectors_blind(_dicts(params.get("eventSelectors")), keep_data)
        return None
    if name == "PutInsightSelectors":
        # Insights (anomaly summaries computed from the trail) on or off never changes what the trail
        # records; the console's create-trail wizard sends an empty list with every new trail.
        return [] if type(params.get("insightSelectors")) is list else None
    if name == "UpdateTrail":
        reasons = [f"{flag} set to false" for flag in _UPDATE_FLAGS if _false(params.get(flag))]
        if "cloudWatchLogsLogGroupArn" in params and not scalar(params.get("cloudWatchLogsLogGroupArn")):
            reasons.append("CloudWatch Logs delivery removed")
        if "s3BucketName" in params and not scalar(params.get("s3BucketName")):
            reasons.append("S3 bucket removed")
        return reasons
    return []


def lifecycle_expires(params: Mapping[str, Any]) -> bool:
    """A PutBucketLifecycle request with an enabled rule that expires objects (current or noncurrent versions)."""
    config = params.get("LifecycleConfiguration")
    rules = config.get("Rule") if type(config) is dict else None
    for rule in [rules] if type(rules) is dict else _dicts(rules):
        if scalar(rule.get("Status")) == "Enabled" and (
                "Expiration" in rule or "NoncurrentVersionExpiration" in rule):
            return True
    return False


def trail_context(event: Event, params: Mapping[str, Any]) -> dict[str, Any]:
    found = context(event, _CONTEXT_FIELDS, params)
    trail = trail_name(params)
    if trail:
        found["trail"] = trail
        found[TARGETS] = [target("trail", trail), *found.get(TARGETS, ())]
    return found


def data_trail_names(value: Any) -> frozenset[str]:
    """A configured list of trail or bucket names (anything that is not a string is ignored)."""
    if type(value) in (list, tuple, set, frozenset):
        return frozenset(v for v in value if type(v) is str)
    return frozenset()
