"""Foundation-model invocations (Bedrock) by a principal for the first time, or far above its usual rate.

Stolen keys are used to run models at the victim's expense ("LLMjacking"). Per principal (a role's
sessions count as the role), invocations are counted per hour. Fires when a principal invokes a model
for the first time in 14 days, at once: no week of quiet learning, so a principal created minutes ago
(or stolen keys never seen before) is caught on its first call. The price: on a new install, one alert
for each principal already using Bedrock (`learning_seconds: 604800` in the detector's settings learns
them quietly for a week instead). Also fires when an hour reaches 10 times its usual (mean active-hour)
count and at least 100 calls (threshold) once the principal has a day of history. AWS acting for itself
is excluded. Requests for model access are `model-access-requested`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors.learners._normalise import principal_key
from monitor.model import Detector, Event, Hit, RateBaseline, Severity, keys
from monitor.model import event as f

_SOURCE = "bedrock.amazonaws.com"
_INVOKE = ("InvokeModel", "InvokeModelWithResponseStream", "Converse", "ConverseStream")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    """Key: the principal (a role session folded into its role); denied calls do not count."""
    if event.errorCode:
        return None
    principal = principal_key(event)
    if principal is None:
        return None
    model = f.nested_text(event.request(), "modelId")
    return Hit(key=principal, context={"model": model[:256]} if model else {})


DETECTOR = Detector(
    id="model-invocation-burst",
    title="Foundation-model invocations: first time or far above usual",
    severity=Severity.MEDIUM,
    mitre=("T1496",),
    runbook=(
        "A principal invoked Bedrock models for the first time in the history window, or far more than usual "
        "(reason, bucket_count, usual_per_bucket). Stolen credentials are sold for model access, billed to "
        "you. Check who owns the principal and whether a new application launched; look at the source IPs "
        "and user agents (event ids) and the models used. If unexpected, disable the keys or the role's "
        "sessions, and check model-invocation logging and Bedrock quotas in every region."
    ),
    match=match,
    events=frozenset((_SOURCE, name) for name in _INVOKE),
    group_by=keys(),
    state=RateBaseline(bucket_seconds=3600, factor=10.0, min_count=100, learning_seconds=0),
    episode_seconds=3600,
)
