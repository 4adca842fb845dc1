"""Refused calls: which error codes mean AWS said no to the caller, and how to title an attempt.

Not a detector: the registry skips modules whose name starts with `_`. A refused sensitive call changed
nothing, but it says what the caller tried: `sensitive-action-refused` reports the attempts, and the
high-value read bursts (`ec2-user-data-read`, `secrets-bulk-read`) count refused reads with the rest.
Other errors (a missing resource, a bad parameter, throttling, a dry run) are not refusals.
"""

from __future__ import annotations

from typing import Final

PERMISSION: Final = "permission"
QUOTA: Final = "quota"
CAPACITY: Final = "capacity"

# RunInstances refusals past authorisation: the caller was allowed to launch, only a limit stopped it.
_QUOTA_CODES: Final = frozenset({"VcpuLimitExceeded", "InstanceLimitExceeded", "MaxSpotInstanceCountExceeded"})
_CAPACITY_CODES: Final = frozenset({"InsufficientInstanceCapacity"})


def permission_refused(code: str | None) -> bool:
    """AccessDenied, AccessDeniedException, Client.UnauthorizedOperation, UnauthorizedAccess...: an IAM,
    SCP, resource-policy or permission-boundary refusal."""
    if not code:
        return False
    return (code.startswith("AccessDenied") or code.endswith("UnauthorizedOperation")
            or code.removeprefix("Client.").startswith("UnauthorizedAccess"))


def refusal(code: str | None, *, launch: bool = False) -> str | None:
    """PERMISSION, QUOTA or CAPACITY (the last two only for an instance launch, `launch`), else None.

    EC2 writes its codes with a "Client." or "Server." prefix; both spellings count.
    """
    if not code:
        return None
    if permission_refused(code):
        return PERMISSION
    if launch:
        bare = code.removeprefix("Client.").removeprefix("Server.")
        if bare in _QUOTA_CODES:
            return QUOTA
        if bare in _CAPACITY_CODES:
            return CAPACITY
    return None


def attempted(title: str, kind: str = PERMISSION) -> str:
    """The title of a refused attempt: "Attempted: <what> (refused)"."""
    why = {QUOTA: "refused for quota", CAPACITY: "no capacity"}.get(kind, "refused")
    return f"Attempted: {title} ({why})"
