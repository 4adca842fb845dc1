"""Who made a call themselves, and whether it came from the console: shared by the signal detectors.

Not a detector: the registry skips modules whose name starts with `_`.
"""

from __future__ import annotations

from detectors._common import aws_made, identified
from monitor.model import Event
from monitor.model import event as f
from monitor.model.alert import clip
from monitor.model.detector import IDENTITY_CENTER_MARK


def direct_caller(event: Event) -> str | None:
    """The principal that made the call from its own network and tool; None for AWS's own calls, calls a
    service made for someone, console-internal paths and records without an identity."""
    if not identified(event) or aws_made(event):
        return None
    who = f.principal(event)
    return None if who == "unknown" else clip(who)


def actor_key(event: Event, who: str) -> str:
    """"account|principal" with a workload's role session folded into its role: a Lambda function or task
    runs under a new session name and address per instance, and its calls are one actor's. People's role
    sessions (IAM Identity Center, whose session name names the person) stay apart."""
    ident = event.userIdentity
    if ident.type == "AssumedRole" and IDENTITY_CENTER_MARK not in who:
        role = ident.sessionContext.sessionIssuer.arn
        if role:
            who = clip(role)
    return f"{clip(f.account(event), 64)}|{who}"


def from_console(event: Event) -> bool:
    """A call the console made while someone browsed: a page lists and describes whatever it shows."""
    if event.sessionCredentialFromConsole.lower() == "true":
        return True
    agent = event.userAgent
    return agent.startswith(("console.", "signin.amazonaws.com", "AWS Internal")) or ".console." in agent


def short_call(event: Event) -> str:
    """"iam:ListUsers": the call as a value to count (event names are short; hostile ones are clipped)."""
    return clip(f"{event.eventSource.removesuffix('.amazonaws.com')}:{event.eventName}", 128)
