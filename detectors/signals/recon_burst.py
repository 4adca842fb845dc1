"""A burst of enumeration: one principal making many different listing and describing calls in minutes.

Enumeration tools walk the account service by service; an application repeats the few calls it needs.
The signal counts distinct calls among the account-wide listings those tools make (`_recon_calls.RECON_CALLS`,
121 calls across 38 services) per account and principal (a workload's role sessions folded into the role),
and fires at `threshold` (20) distinct calls within 10 minutes.
Refused calls count: a tool with few permissions is refused most of the time. Console pages (which
describe everything they show), AWS's own calls and calls a service made for someone are left out.

Indexed by those calls rather than run on every event, so every other event costs nothing. The count is a
first-seen history of 10 minutes with `min_distinct`: a call seen for the principal within the last 10 minutes
is not new, and a new one alerts once the principal holds `threshold` calls within them. This is a distinct
count over 10 minutes (`threshold` and `window_seconds` in config set both), but detection folds a slice's
repeats of one call into one finding and a known call costs one lookup, which keeps busy workloads cheap. One
signal per principal per hour; its context lists the calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors.signals._caller import actor_key, direct_caller, from_console, short_call
from detectors.signals._recon_calls import RECON_EVENTS
from monitor.model import Detector, Event, FirstSeen, Hit, Severity, keys

THRESHOLD = 20
WINDOW_SECONDS = 600


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    who = direct_caller(event)
    if who is None or from_console(event):
        return None
    return Hit(key=actor_key(event, who), value=short_call(event))


DETECTOR = Detector(
    id="recon-burst",
    title="Burst of enumeration calls",
    severity=Severity.LOW,
    mitre=("T1526", "T1580", "T1087.004"),
    runbook=(
        "A signal, not sent anywhere on its own: one principal made many different listing and describing "
        "calls across services within 10 minutes (context: recon_calls). Enumeration tools and stolen "
        "credentials do this; so do inventory and audit tools, and Terraform plans of large stacks. It matters "
        "with what follows: see the attack-sequence alert it belongs to, if any, and whether the principal "
        "normally runs such tools from that address."
    ),
    match=match,
    events=RECON_EVENTS,
    group_by=keys(),
    # threshold and window_seconds set min_distinct and history_seconds (detectors.<id> in config).
    state=FirstSeen(label="recon_calls", history_seconds=WINDOW_SECONDS, learning_seconds=0, learn_per_key=False,
                    min_distinct=THRESHOLD, max_values=256),
    episode_seconds=3600,
    signal=True,
)
