"""Tools that name themselves in the user agent: the data scanner-user-agent matches against.

Not a detector: the registry skips modules whose name starts with `_`. Kept outside the subject folders
so any detector can read the same table without depending on another detector's module.

Each entry is (pattern, tool, kind): `pattern` a lower-case substring of the user agent, `tool` the name
an alert and `allowed_tools` use, `kind` "offensive" (attack and post-exploitation tools, penetration
testing distributions) or "audit" (configuration scanners security teams run on purpose).

Where the markers come from (each tool's own source):
- Prowler 3+ adds `APN_1826889` (its AWS Partner Network id) to every boto3 call as `user_agent_extra`;
  its name appears only in older versions and wrappers.
- ScoutSuite sets its botocore user agent to `Scout-Suite/<v> ... Scout Suite/<v> (https://github.com/
  nccgroup/ScoutSuite)`; older releases wrote `Scout Suite/<v> Python/...`.
- Stratus Red Team adds `stratus-red-team_<uuid>` to its aws-sdk-go-v2 user agent.
- TruffleHog verifies AWS keys with its own HTTP client, user agent `TruffleHog`.
- Kali and Parrot show in the platform part of SDK user agents (`Linux/6.5.0-kali3-amd64`,
  `os/linux#6.0.0-2parrot1-amd64`); bare "kali" would also match words like "alkaline".
"""

from __future__ import annotations

from typing import Final, NamedTuple

OFFENSIVE: Final = "offensive"
AUDIT: Final = "audit"


class Tool(NamedTuple):
    pattern: str
    tool: str
    kind: str


TOOLS: Final[tuple[Tool, ...]] = (
    # Attack and post-exploitation tools.
    Tool("pacu", "pacu", OFFENSIVE),
    Tool("trufflehog", "trufflehog", OFFENSIVE),
    Tool("cloudfox", "cloudfox", OFFENSIVE),
    Tool("endgame", "endgame", OFFENSIVE),
    Tool("enumerate-iam", "enumerate-iam", OFFENSIVE),
    Tool("enumerate_iam", "enumerate-iam", OFFENSIVE),
    Tool("weirdaal", "weirdaal", OFFENSIVE),
    Tool("stratus-red-team", "stratus-red-team", OFFENSIVE),
    Tool("stratus red team", "stratus-red-team", OFFENSIVE),
    Tool("sqlmap", "sqlmap", OFFENSIVE),
    # Penetration-testing distributions, as SDKs report the platform.
    Tool("-kali", "kali-linux", OFFENSIVE),
    Tool("#kali", "kali-linux", OFFENSIVE),
    Tool("kali linux", "kali-linux", OFFENSIVE),
    Tool("parrot", "parrot-os", OFFENSIVE),
    # Configuration scanners security teams also run.
    Tool("prowler", "prowler", AUDIT),
    Tool("apn_1826889", "prowler", AUDIT),
    Tool("scoutsuite", "scoutsuite", AUDIT),
    Tool("scout suite", "scoutsuite", AUDIT),
    Tool("scout-suite", "scoutsuite", AUDIT),
    Tool("cloudsplaining", "cloudsplaining", AUDIT),
    Tool("cloudmapper", "cloudmapper", AUDIT),
)

BY_PATTERN: Final[dict[str, Tool]] = {entry.pattern: entry for entry in TOOLS}
PATTERNS: Final[tuple[str, ...]] = tuple(entry.pattern for entry in TOOLS)
