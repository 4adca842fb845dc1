"""ATT&CK tactics of technique ids: what an alert's `mitre` techniques say it is a step of.

Enterprise ATT&CK (cloud and IaaS matrices first): each technique maps to the tactics it is listed
under; a sub-technique (T1098.001) takes its parent's (T1098) unless listed itself. An id not in the
table gives no tactic. Kept here, as data, so attack sequences and every alert share one answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

RECONNAISSANCE = "reconnaissance"
RESOURCE_DEVELOPMENT = "resource-development"
INITIAL_ACCESS = "initial-access"
EXECUTION = "execution"
PERSISTENCE = "persistence"
PRIVILEGE_ESCALATION = "privilege-escalation"
DEFENSE_EVASION = "defense-evasion"
CREDENTIAL_ACCESS = "credential-access"
DISCOVERY = "discovery"
LATERAL_MOVEMENT = "lateral-movement"
COLLECTION = "collection"
COMMAND_AND_CONTROL = "command-and-control"
EXFILTRATION = "exfiltration"
IMPACT = "impact"

# The kill-chain order ATT&CK lists them in (narratives and tables sort by it).
TACTIC_ORDER = (RECONNAISSANCE, RESOURCE_DEVELOPMENT, INITIAL_ACCESS, EXECUTION, PERSISTENCE, PRIVILEGE_ESCALATION,
                DEFENSE_EVASION, CREDENTIAL_ACCESS, DISCOVERY, LATERAL_MOVEMENT, COLLECTION, COMMAND_AND_CONTROL,
                EXFILTRATION, IMPACT)
TACTICS = frozenset(TACTIC_ORDER)

_P, _PE, _DE, _CA = PERSISTENCE, PRIVILEGE_ESCALATION, DEFENSE_EVASION, CREDENTIAL_ACCESS
_IA, _D, _EX, _I = INITIAL_ACCESS, DISCOVERY, EXECUTION, IMPACT

TECHNIQUE_TACTICS: dict[str, tuple[str, ...]] = {
    "T1021": (LATERAL_MOVEMENT,),          # Remote Services (.004 SSH, .007 cloud services)
    "T1040": (_CA, _D),                    # Network Sniffing (traffic mirroring)
    "T1059": (_EX,),                       # Command and Scripting Interpreter (.009 cloud API)
    "T1069": (_D,),                        # Permission Groups Discovery
    "T1070": (_DE,),                       # Indicator Removal
    "T1078": (_DE, _P, _PE, _IA),          # Valid Accounts (.004 cloud accounts)
    "T1087": (_D,),                        # Account Discovery
    "T1098": (_P, _PE),                    # Account Manipulation (.001 keys, .003 roles, .004 SSH keys)
    "T1110": (_CA,),                       # Brute Force
    "T1119": (COLLECTION,),                # Automated Collection
    "T1136": (_P,),                        # Create Account (.003 cloud account)
    "T1190": (_IA,),                       # Exploit Public-Facing Application
    "T1199": (_IA,),                       # Trusted Relationship
    "T1201": (_D,),                        # Password Policy Discovery
    "T1485": (_I,),                        # Data Destruction
    "T1486": (_I,),                        # Data Encrypted for Impact
    "T1484": (_DE, _PE),                   # Domain or Tenant Policy Modification (.002 trust)
    "T1489": (_I,),                        # Service Stop
    "T1490": (_I,),                        # Inhibit System Recovery
    "T1496": (_I,),                        # Resource Hijacking
    "T1498": (_I,),                        # Network Denial of Service
    "T1525": (_P,),                        # Implant Internal Image
    "T1526": (_D,),                        # Cloud Service Discovery
    "T1528": (_CA,),                       # Steal Application Access Token
    "T1530": (COLLECTION,),                # Data from Cloud Storage
    "T1531": (_I,),                        # Account Access Removal
    "T1535": (_DE,),                       # Unused/Unsupported Cloud Regions
    "T1537": (EXFILTRATION,),              # Transfer Data to Cloud Account
    "T1538": (_D,),                        # Cloud Service Dashboard
    "T1546": (_P, _PE),                    # Event Triggered Execution
    "T1548": (_PE, _DE),                   # Abuse Elevation Control Mechanism (.005 temporary cloud access)
    "T1550": (_DE, LATERAL_MOVEMENT),      # Use Alternate Authentication Material (.001 tokens)
    "T1552": (_CA,),                       # Unsecured Credentials (.005 cloud instance metadata)
    "T1555": (_CA,),                       # Credentials from Password Stores (.006 cloud secrets)
    "T1556": (_CA, _DE, _P),               # Modify Authentication Process (.006 MFA)
    "T1562": (_DE,),                       # Impair Defenses (.001 tools, .007 firewall, .008 cloud logs)
    "T1578": (_DE,),                       # Modify Cloud Compute Infrastructure (.002 create instance)
    "T1580": (_D,),                        # Cloud Infrastructure Discovery
    "T1595": (RECONNAISSANCE,),            # Active Scanning
    "T1599": (_DE,),                       # Network Boundary Bridging
    "T1606": (_CA,),                       # Forge Web Credentials
    "T1619": (_D,),                        # Cloud Storage Object Discovery
    "T1621": (_CA,),                       # Multi-Factor Authentication Request Generation
    "T1648": (_EX,),                       # Serverless Execution
    "T1651": (_EX,),                       # Cloud Administration Command
    "T1654": (_D,),                        # Log Enumeration
    "T1666": (_DE, _PE),                   # Modify Cloud Resource Hierarchy
    "T1567": (EXFILTRATION,),              # Exfiltration Over Web Service
    "T1020": (EXFILTRATION,),              # Automated Exfiltration
    "T1133": (_P, _IA),                    # External Remote Services
    "T1204": (_EX,),                       # User Execution (.003 malicious image)
    "T1212": (_CA,),                       # Exploitation for Credential Access
}


# The one tactic a technique stands for in a sequence's timeline: the first ATT&CK lists it under is not always
# the telling one (Valid Accounts is listed under four; used in the cloud it is how the attacker got in).
PRIMARY: dict[str, str] = {
    "T1078": INITIAL_ACCESS, "T1098": PRIVILEGE_ESCALATION, "T1484": PRIVILEGE_ESCALATION,
    "T1548": PRIVILEGE_ESCALATION,
    "T1550": DEFENSE_EVASION, "T1556": CREDENTIAL_ACCESS, "T1040": CREDENTIAL_ACCESS, "T1546": PERSISTENCE,
    "T1666": DEFENSE_EVASION, "T1133": INITIAL_ACCESS, "T1021": LATERAL_MOVEMENT,
    # Sub-techniques that say more than their parent.
    "T1098.003": PRIVILEGE_ESCALATION, "T1484.002": PRIVILEGE_ESCALATION, "T1548.005": PRIVILEGE_ESCALATION,
    "T1098.001": PERSISTENCE, "T1136.003": PERSISTENCE, "T1562.008": DEFENSE_EVASION,
}


@lru_cache(maxsize=1024)
def primary_tactic(techniques: tuple[str, ...]) -> str:
    """The tactic a detection with these techniques stands for: its first technique's (PRIMARY, else the first
    tactic ATT&CK lists it under; a sub-technique not listed takes its parent's); "" when none is known."""
    for technique in techniques:
        parent = technique.split(".", 1)[0]
        tactic = PRIMARY.get(technique) or PRIMARY.get(parent)
        if tactic:
            return tactic
        tactics = TECHNIQUE_TACTICS.get(technique) or TECHNIQUE_TACTICS.get(parent)
        if tactics:
            return tactics[0]
    return ""


@lru_cache(maxsize=1024)
def tactics_of(techniques: tuple[str, ...]) -> tuple[str, ...]:
    """The tactics of these technique ids, in ATT&CK's order, each once (unknown ids give none)."""
    found: set[str] = set()
    for technique in techniques:
        tactics = TECHNIQUE_TACTICS.get(technique)
        if tactics is None:
            tactics = TECHNIQUE_TACTICS.get(technique.split(".", 1)[0], ())
        found.update(tactics)
    return tuple(tactic for tactic in TACTIC_ORDER if tactic in found)


def ordered(tactics: Iterable[str]) -> list[str]:
    """Tactic names in ATT&CK's order, each once; names outside ATT&CK are left out."""
    wanted = set(tactics)
    return [tactic for tactic in TACTIC_ORDER if tactic in wanted]
