"""A principal listing the account's secrets or parameters: looking for what to read next.

Secrets Manager ListSecrets and Systems Manager DescribeParameters list names, not values: discovery, the step
before `secrets-bulk-read`. Applications read the secrets they know by name; listing them is for people,
tooling and attackers, so this is a signal, folded per actor (account and principal, a workload's role
sessions folded into the role) per hour. Refused listings count (context `denied`). Console pages, AWS's own
calls and calls a service made for someone (AWS Config recording parameters) are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors.signals._caller import actor_key, direct_caller, from_console, short_call
from monitor.model import Detector, Event, Hit, Severity, keys


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    who = direct_caller(event)
    if who is None or from_console(event):
        return None
    return Hit(key=actor_key(event, who), context={"call": short_call(event), "denied": bool(event.errorCode)})


DETECTOR = Detector(
    id="secrets-enumeration",
    title="Secrets or parameters listed",
    severity=Severity.LOW,
    mitre=("T1580",),
    runbook=(
        "A signal, not sent anywhere on its own: a principal listed the account's Secrets Manager secrets or "
        "SSM parameters (names, not values). It matters with what follows: secret reads by the same actor "
        "(secrets-bulk-read) or an attack-sequence alert it belongs to."
    ),
    match=match,
    events=frozenset({("secretsmanager.amazonaws.com", "ListSecrets"), ("ssm.amazonaws.com", "DescribeParameters")}),
    group_by=keys(),
    episode_seconds=3600,
    signal=True,
)
