"""Access to Bedrock foundation models requested: a use case submitted, a model agreement accepted, an entitlement.

Before stolen credentials can run a third-party model at the victim's expense ("LLMjacking"), someone
must enable access to it in the account: submit the use-case form (`PutUseCaseForModelAccess`), accept
the model's offer (`CreateFoundationModelAgreement`) and take the entitlement
(`PutFoundationModelEntitlement`). Teams do this rarely and on purpose, so every request alerts, medium,
at once (no learning), refused ones too: a refusal is someone trying. Calls by one actor from one place
within the hour fold into one alert. AWS acting for itself is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import ACTOR, aws_own, call_name, identified
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

SOURCE = "bedrock.amazonaws.com"
REQUESTS = ("PutUseCaseForModelAccess", "CreateFoundationModelAgreement", "PutFoundationModelEntitlement")


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not identified(event) or aws_own(event):
        return None
    context: dict[str, Any] = {"call": call_name(event)}
    model = f.nested_text(event.request(), "modelId")
    if model:
        context["model"] = clip(model, 256)
    if event.errorCode:
        context["error"] = clip(event.errorCode, 128)
        return Hit(title="Foundation-model access requested (refused)", context=context)
    return Hit(context=context)


DETECTOR = Detector(
    id="model-access-requested",
    title="Foundation-model access requested",
    severity=Severity.MEDIUM,
    mitre=("T1496", "T1098"),
    runbook=(
        "Someone asked for access to Bedrock foundation models (call, model): submitted the use-case form, "
        "accepted a model's agreement or took its entitlement. Attackers with stolen credentials do this "
        "before running models at your expense (LLMjacking); a refused request is someone trying. Ask the "
        "principal's owner whether a team is adopting the model. If not: disable the credentials or the "
        "role's sessions, look at what else the principal did (event ids), check Bedrock invocations "
        "(model-invocation-burst) in every region, and deny bedrock:PutUseCaseForModelAccess, "
        "CreateFoundationModelAgreement and PutFoundationModelEntitlement with an SCP outside an approved role."
    ),
    match=match,
    events=frozenset((SOURCE, name) for name in REQUESTS),
    group_by=ACTOR,
)
