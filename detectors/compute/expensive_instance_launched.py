"""EC2 instances launched from GPU/accelerator, very large or bare-metal types (cryptomining, cost abuse).

Params:
- `families` (list of globs on the family, the part before the dot): default p*, g*, trn*, inf*, dl*,
  x*, u-*.
- `min_xlarge` (int, default 24): sizes of Nxlarge with N at least this count (24xlarge, 32xlarge, 48xlarge).
- `metal` (bool, default true): *.metal* sizes count.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from detectors._common import ACTOR, aws_own, call_name
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

DEFAULT_FAMILIES = ("p*", "g*", "trn*", "inf*", "dl*", "x*", "u-*")


def _section(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    return value if type(value) is dict else {}


def instance_types(event: Event, request: dict[str, Any]) -> list[str]:
    """The requested type, else the launched ones (a launch template leaves the request without one)."""
    request_type = f.nested_text(request, "instanceType")
    if request_type:
        return [request_type]
    found: list[str] = []
    items = _section(event.response(), "instancesSet").get("items")
    if isinstance(items, list):
        for item in items[:100]:
            if isinstance(item, dict) and isinstance(item.get("instanceType"), str):
                found.append(item["instanceType"])
    return found


def is_expensive(instance_type: str, params: Mapping[str, Any]) -> bool:
    family, _, size = instance_type.strip().lower().partition(".")
    families = params.get("families", DEFAULT_FAMILIES)
    patterns = [p for p in families if isinstance(p, str)] if isinstance(families, (list, tuple)) else []
    if family and any(fnmatchcase(family, pattern.lower()) for pattern in patterns):
        return True
    if params.get("metal", True) is True and size.startswith("metal"):
        return True
    minimum = params.get("min_xlarge", 24)
    count = size.removesuffix("xlarge")
    return (isinstance(minimum, int) and size.endswith("xlarge") and count.isdigit() and len(count) < 5
            and int(count) >= minimum)


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode or aws_own(event):
        return None
    request = event.request()
    expensive = sorted({t for t in instance_types(event, request) if is_expensive(t, params)})
    if not expensive:
        return None
    items = _section(request, "instancesSet").get("items")
    first = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
    count = first.get("maxCount")
    return Hit(context={
        "call": call_name(event), "instance_types": clip(", ".join(expensive), 200),
        "region": clip(event.awsRegion, 32),
        "max_count": count if isinstance(count, int) and not isinstance(count, bool) else "unknown",
    })


DETECTOR = Detector(
    id="expensive-instance-launched",
    title="Expensive EC2 instance launched",
    severity=Severity.MEDIUM,
    mitre=("T1496", "T1578.002"),
    runbook=(
        "Instances of a GPU, accelerator, memory-optimised, very large or bare-metal type were launched "
        "(context: types, region, count). Stolen credentials are often used to mine cryptocurrency on such "
        "instances, frequently in regions the account does not use. Check the launching principal and whether "
        "the team runs this workload there. If not: stop or terminate the instances, revoke the credentials "
        "used, and check other regions for the same launches. Launches by AWS services (Auto Scaling, Batch, "
        "SageMaker through their service roles) are excluded; tune the families and sizes in params."
    ),
    match=match,
    events=frozenset({("ec2.amazonaws.com", "RunInstances")}),
    group_by=ACTOR,
    episode_seconds=3600,
    params={"families": list(DEFAULT_FAMILIES), "min_xlarge": 24, "metal": True},
)
