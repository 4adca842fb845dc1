"""Any call refused for permission, by a principal acting itself: a credential trying what it may do.

AccessDenied*, *UnauthorizedOperation and UnauthorizedAccess* (`detectors._refusals`). Misconfigured jobs are
refused too, so this is a signal, one per actor (account and principal; a workload's role sessions are folded
into the role, as a function or task has a new session and address per instance) per hour, listing the calls
refused (`refused_calls`; the count is how many different calls). A call the actor was already refused within
the last hour is not news: a job refused the same call all day raises one signal, not one an hour. With other
steps by the same actor it tells of probing; many at once are `access-denied-burst`'s alert. AWS's own calls,
calls a service made for someone and console pages (which probe what the viewer may see) are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from detectors._refusals import permission_refused
from detectors.signals._caller import actor_key, direct_caller, from_console, short_call
from monitor.model import Detector, Event, FirstSeen, Hit, Severity, keys
from monitor.model.alert import clip


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    # The engine hands over failed calls only (errors_only).
    code = event.errorCode
    if not permission_refused(code):
        return None
    who = direct_caller(event)
    if who is None or from_console(event):
        return None
    return Hit(key=actor_key(event, who), value=short_call(event),
               context={"error_code": clip(code or "", 128), "error_message": clip(event.errorMessage or "", 300)})


DETECTOR = Detector(
    id="refused-call",
    title="Call refused for permission",
    severity=Severity.LOW,
    mitre=("T1580",),
    runbook=(
        "A signal, not sent anywhere on its own: a principal's call was refused for permission (context: "
        "refused_calls, and the first refusal's error code and message; count is how many different calls). "
        "Deployments missing a permission do this; so do stolen credentials finding out what they can do. See "
        "the attack-sequence alert it belongs to, if any; many refusals in minutes raise access-denied-burst."
    ),
    match=match,
    all_events=True,
    errors_only=True,  # only records with an errorCode reach match
    group_by=keys(),
    # Every refused call is news unless the actor was refused the same call within the hour: a job refused the
    # same call all day is one signal, not one an hour. A repeat costs one lookup (no episode update), and
    # detection folds a slice's repeats of one actor and call into one finding, so a failing job costs little.
    state=FirstSeen(label="refused_calls", history_seconds=3600, learning_seconds=0, learn_per_key=False),
    episode_seconds=3600,
    signal=True,
)
