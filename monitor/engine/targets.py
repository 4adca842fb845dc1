"""Targets named by a detection's context when the detector lists none itself.

Detectors that act on something name it in `context["targets"]` (`detectors._common.targets`). Many
detectors already put the changed resource in their context under a plain name (`bucket`, `function`,
`instance`, `role_arn`...); this reads those names, so every alert lists what its events acted on and an
episode can show every distinct target, without each detector repeating itself. Values are
attacker-controlled: only strings (or lists of strings) are taken, clipped, at most MAX_TARGETS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from monitor.model.alert import MAX_TARGETS, TARGETS, target

# Context key -> target kind, in the order an alert lists them.
TARGET_KEYS: Final[tuple[tuple[str, str], ...]] = (
    ("target_user", "user"), ("user", "user"), ("userName", "user"), ("user_names", "user"),
    ("role", "role"), ("role_arn", "role"), ("roleName", "role"), ("groupName", "group"),
    ("policyArn", "policy"), ("policyName", "policy"), ("policyId", "policy"),
    ("access_key_id", "access-key"), ("serial_number", "mfa-device"),
    ("bucket", "bucket"), ("s3_bucket", "bucket"), ("object", "object"),
    ("instance", "instance"), ("instance_id", "instance"), ("instances", "instance"),
    ("function", "function"), ("layers", "layer"), ("log_group", "log-group"), ("flow_logs", "flow-log"),
    ("query_log_config", "query-log-config"), ("vpc", "vpc"), ("kms_key", "kms-key"), ("kmsKeyId", "kms-key"),
    ("resource", "resource"), ("target", "resource"), ("targetId", "organization-target"),
    ("accountName", "account"), ("parentId", "organization-unit"),
    ("trust_anchor", "trust-anchor"), ("provider", "identity-provider"), ("detector", "detector"),
    ("guardrail", "guardrail"), ("filter", "filter"), ("rules", "rule"), ("secrets_read", "secret"),
    ("model", "model"), ("networkInterfaceId", "network-interface"),
    ("trafficMirrorTargetId", "traffic-mirror-target"), ("trafficMirrorFilterId", "traffic-mirror-filter"),
    ("region_name", "region"), ("subnetId", "subnet"),
)


_ORDER: Final[dict[str, int]] = {key: order for order, (key, _) in enumerate(TARGET_KEYS)}
_KIND: Final[dict[str, str]] = dict(TARGET_KEYS)


def context_targets(context: Mapping[str, Any]) -> list[str]:
    """The "kind:value" targets the context names under TARGET_KEYS, distinct, at most MAX_TARGETS.

    Runs for every detection: it walks the context's few keys, not the table."""
    named = [key for key in context if key in _KIND]
    if not named:
        return []
    if len(named) > 1:
        named.sort(key=_ORDER.__getitem__)
    found: list[str] = []
    for key in named:
        value = context[key]
        values = [value] if type(value) is str else value if type(value) is list else ()
        for item in values:
            if type(item) is str and item and item != "(account-wide)":
                entry = target(_KIND[key], item)
                if entry not in found:
                    found.append(entry)
                    if len(found) >= MAX_TARGETS:
                        return found
    return found


def with_targets(context: dict[str, Any]) -> dict[str, Any]:
    """The context, with `targets` read from its plain names when the detector listed none."""
    if TARGETS not in context:
        found = context_targets(context)
        if found:
            context[TARGETS] = found
    return context
