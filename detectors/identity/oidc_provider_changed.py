"""An OpenID Connect or SAML identity provider created, deleted or changed (thumbprints, client ids, metadata).

Params: none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._common import ACTOR, aws_own, call_name
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

_CALLS = (
    "CreateOpenIDConnectProvider", "DeleteOpenIDConnectProvider", "UpdateOpenIDConnectProviderThumbprint",
    "AddClientIDToOpenIDConnectProvider", "RemoveClientIDFromOpenIDConnectProvider",
    "CreateSAMLProvider", "UpdateSAMLProvider", "DeleteSAMLProvider",
)


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode or aws_own(event):
        return None
    request = event.request()
    response = event.response()
    provider = (
        f.nested_text(request, "openIDConnectProviderArn") or f.nested_text(request, "sAMLProviderArn")
        or f.nested_text(request, "sAMLProviderARN") or f.nested_text(response, "openIDConnectProviderArn")
        or f.nested_text(response, "sAMLProviderArn") or f.nested_text(request, "url")
        or f.nested_text(request, "name")
    )
    context: dict[str, Any] = {"call": call_name(event), "provider": clip(provider, 256)}
    client = f.nested_text(request, "clientID")
    if client:
        context["client_id"] = clip(client, 256)
    # SAML metadata documents are large and say little in an alert: they are not copied.
    return Hit(context=context)


DETECTOR = Detector(
    id="oidc-provider-changed",
    title="Identity provider changed",
    severity=Severity.HIGH,
    mitre=("T1484.002", "T1098"),
    runbook=(
        "An OIDC or SAML identity provider was created, deleted or changed. A new provider, thumbprint or "
        "client id lets tokens from that issuer assume the roles that trust it; a forged SAML provider is a "
        "known way to sign in as anyone. Check the provider (context), who changed it and whether the identity "
        "team planned it. If not expected: delete or restore the provider, review the trust policies of roles "
        "that name it and the AssumeRoleWithWebIdentity / AssumeRoleWithSAML calls since. AWS's own activity is "
        "excluded; a change a service such as CloudFormation made for someone names the service (made_through)."
    ),
    match=match,
    events=frozenset(("iam.amazonaws.com", name) for name in _CALLS),
    group_by=ACTOR,
    episode_seconds=3600,
)
