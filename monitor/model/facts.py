"""Facts about an event that group keys are made of, by name (`keys("account", "principal")`)."""

from __future__ import annotations

from collections.abc import Callable

from monitor.model.detector import Keys
from monitor.model.event import Event, account, principal, user_name

Fact = Callable[[Event], str]

FACTS: dict[str, Fact] = {
    "account": account,
    "principal": principal,
    "source_ip": lambda event: event.sourceIPAddress,
    "region": lambda event: event.awsRegion,
    "user": user_name,
    "user_agent": lambda event: event.userAgent,
    "event_source": lambda event: event.eventSource,
    "event_name": lambda event: event.eventName,
    "identity_type": lambda event: event.userIdentity.type,
    "access_key": lambda event: event.userIdentity.accessKeyId,
}


def key_function(declared: Keys) -> Callable[[Event], str]:
    """One function computing a declared key: the facts joined with "|"."""
    facts = tuple(FACTS[name] for name in declared.facts)
    if len(facts) == 1:
        return facts[0]

    def key(event: Event) -> str:
        return "|".join([fact(event) for fact in facts])

    return key
