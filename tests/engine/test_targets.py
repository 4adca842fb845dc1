"""Every alert names what its events acted on: from the detector's own `targets`, else its context's plain names."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from monitor.decode import decode_bytes
from monitor.engine import Engine, EngineSettings
from monitor.engine.registry import apply_settings
from monitor.engine.settings import DetectorSettings
from monitor.engine.targets import context_targets, with_targets
from monitor.model import Detector
from monitor.model.alert import MAX_TARGETS
from monitor.offline.samples import load_cases, samples_path
from monitor.rules.builtin import builtin_detectors

# Detectors about who signs in, from where or with which tool, and bursts counted per actor: their subject is
# the actor (principal, source address, user agent), which the alert already names.
ABOUT_THE_ACTOR = {
    "access-denied-burst", "attack-sequence", "console-login-without-mfa", "console-password-spray",
    "console-session-from-keys",
    "expensive-instance-launched", "iam-user-shared", "model-access-requested", "new-region-for-principal",
    "new-source-ip-for-principal", "new-user-agent-for-principal", "password-policy-weakened", "root-activity",
    "root-console-login", "scanner-user-agent", "secrets-bulk-read", "secrets-read-by-filter",
    "source-ip-outside-allowlist", "unapproved-region", "workload-credentials-used-elsewhere",
}


def test_plain_context_names_become_targets_in_order_distinct_and_capped() -> None:
    context: dict[str, Any] = {"bucket": "prod-data", "function": "billing", "role_arn": "arn:aws:iam::1:role/x"}
    assert context_targets(context) == ["role:arn:aws:iam::1:role/x", "bucket:prod-data", "function:billing"]
    assert context_targets({"instances": [f"i-{n}" for n in range(50)]}) == [f"instance:i-{n}" for n in
                                                                              range(MAX_TARGETS)]
    assert context_targets({"user": "bob", "userName": "bob"}) == ["user:bob"]


@pytest.mark.parametrize(("hostile", "expected"), [
    (None, []), (7, []), ({"a": 1}, []), (["x", 5, None, {"b": 2}], ["bucket:x"]), ("", []), (True, []),
])
def test_values_that_are_not_text_are_never_targets(hostile: Any, expected: list[str]) -> None:
    assert context_targets({"bucket": hostile}) == expected


def test_a_detectors_own_targets_win_and_long_values_are_clipped() -> None:
    assert with_targets({"targets": ["trail:t"], "bucket": "b"}) == {"targets": ["trail:t"], "bucket": "b"}
    (entry,) = context_targets({"bucket": "b" * 10_000})
    assert entry.startswith("bucket:b") and len(entry) <= 256


def firing(detector: Detector) -> list[dict[str, Any]]:
    path = samples_path(detector)
    return [c for c in load_cases(path) if c["expect"].get("alerts", 0) > 0] if path.exists() else []


RESOURCE_DETECTORS = [d for d in builtin_detectors() if d.id not in ABOUT_THE_ACTOR and firing(d) and not d.signal]


@pytest.mark.parametrize("detector", RESOURCE_DETECTORS, ids=[d.id for d in RESOURCE_DETECTORS])
def test_alerts_about_a_resource_name_it(detector: Detector) -> None:
    """At least most of a resource detector's firing samples list a target (some samples are deliberately
    shapeless: a hostile or empty request still alerts on the call alone)."""
    named = total = 0
    for case in firing(detector):
        params = case.get("params") or {}
        configured = apply_settings(detector, DetectorSettings(params=params)) if params else detector
        engine = Engine([configured], EngineSettings())
        part = decode_bytes(orjson.dumps({"Records": case["events"]}), "sample")
        for alert in [*engine.process(part).alerts, *engine.flush()]:
            total += 1
            named += bool(alert.context.get("targets"))
    assert named * 2 > total, f"{named} of {total} alerts name a target"
