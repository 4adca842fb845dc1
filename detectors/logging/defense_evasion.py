"""Defenses weakened without turning a service off: findings hidden, detection narrowed, traffic copied.

- GuardDuty: a filter created or updated with action ARCHIVE (new findings are archived unseen), a trusted
  IP list created or updated (no findings for those addresses), a detector's protection features or data
  sources turned off, findings published every six hours instead of 15 minutes (medium), the findings
  export destination deleted. UpdateDetector with enable=false is `security-service-disabled`'s.
- Security Hub: findings suppressed (BatchUpdateFindings to SUPPRESSED, medium: triage does this too, so
  repeats by one person fold into one alert an hour) or archived (UpdateFindings), automation rules whose
  actions suppress findings (CreateAutomationRule, BatchUpdateAutomationRules, and the V2 calls).
- WAF: a web ACL disassociated from its resource (wafv2, waf-regional).
- EC2: traffic mirror sessions (high), targets and filters (medium: the setup before a session); EBS
  default encryption disabled; the default EBS key set to another account's key.
- Bedrock: model-invocation logging set with every destination or every data type off; a guardrail
  deleted. DeleteModelInvocationLoggingConfiguration is `logging-deleted`'s.
- Account: EnableRegion (a region nobody monitors yet) and DisableRegion: medium.

Params: none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from detectors._changes import changed_by_someone, context, flat
from detectors._common import ACTOR, call_name
from detectors._fields import account_of, member, short_list, walk
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

GUARDDUTY = "guardduty.amazonaws.com"
SECURITYHUB = "securityhub.amazonaws.com"
WAFV2 = "wafv2.amazonaws.com"
WAF_REGIONAL = "waf-regional.amazonaws.com"
EC2 = "ec2.amazonaws.com"
BEDROCK = "bedrock.amazonaws.com"
ACCOUNT = "account.amazonaws.com"


def _lower(value: object) -> str:
    return value.strip().lower() if type(value) is str else ""


def _str(value: object, key: str) -> str:
    found = member(value, key)
    return found if type(found) is str else ""


def _false(value: object) -> bool:
    return value is False or _lower(value) == "false"


def _base(event: Event, **fields: object) -> dict[str, Any]:
    found: dict[str, Any] = {"call": call_name(event), "region": clip(event.awsRegion, 64)}
    for key, value in fields.items():
        if type(value) is str and value:
            found[key] = clip(value, 256)
        elif type(value) is list and value:
            found[key] = short_list([item for item in value if type(item) is str])
    return found


def _gd_filter(event: Event, req: dict[str, Any]) -> Hit | None:
    if _lower(member(req, "action")) != "archive":
        return None  # NOOP filters only narrow what the console shows
    return Hit(title="GuardDuty findings auto-archived by a filter",
               context=_base(event, detector=_str(req, "detectorId"),
                             filter=_str(req, "name") or _str(req, "filterName")))


def _gd_ipset(event: Event, req: dict[str, Any]) -> Hit | None:
    if _false(member(req, "activate")):
        return None  # an inactive list suppresses nothing
    return Hit(title="GuardDuty trusted IP list set",
               context=_base(event, detector=_str(req, "detectorId"),
                             ip_set=_str(req, "name") or _str(req, "ipSetId"),
                             location=_str(req, "location")))


def _turned_off(value: object, name: str, depth: int = 0) -> list[str]:
    """Names of the features or data sources a GuardDuty request turns off: features [{name, status:
    DISABLED, additionalConfiguration: [...]}], dataSources {s3Logs: {enable: false}, kubernetes: {auditLogs:
    {enable: false}}, ...}. Bounded: the request is attacker-controlled."""
    if depth > 6:
        return []
    if type(value) is list:
        return [off for item in value[:50] for off in _turned_off(item, name, depth + 1)]
    if type(value) is not dict:
        return []
    label = _str(value, "name") or name
    off = [label] if _lower(member(value, "status")) == "disabled" or _false(member(value, "enable")) else []
    for key, item in list(value.items())[:50]:
        if type(key) is str and key not in ("name", "status", "enable"):
            off.extend(_turned_off(item, key, depth + 1))
    return off


def _gd_detector(event: Event, req: dict[str, Any]) -> Hit | None:
    if _false(member(req, "enable")):
        return None  # GuardDuty turned off: security-service-disabled reports it
    off = _turned_off(member(req, "features"), "features") + _turned_off(member(req, "dataSources"), "dataSources")
    detector = _str(req, "detectorId")
    if off:
        return Hit(title="GuardDuty protection features turned off",
                   context=_base(event, detector=detector, features_off=short_list(sorted(set(off)))))
    if _lower(member(req, "findingPublishingFrequency")) == "six_hours":
        return Hit(severity=Severity.MEDIUM, title="GuardDuty findings published less often",
                   context=_base(event, detector=detector, finding_publishing_frequency="SIX_HOURS"))
    return None


def _gd_destination(event: Event, req: dict[str, Any]) -> Hit:
    return Hit(title="GuardDuty findings export removed",
               context=_base(event, detector=_str(req, "detectorId"),
                             destination=_str(req, "destinationId")))


def _hides_findings(value: object) -> bool:
    """Somewhere inside, a workflow status SUPPRESSED, a record state ARCHIVED, or an OCSF status id
    Suppressed (3) or Archived (5) in a V2 rule."""
    for key, item in walk(value):
        low = key.lower()
        if low == "status" and _lower(item) == "suppressed":
            return True
        if low == "recordstate" and _lower(item) == "archived":
            return True
        if low == "statusid" and item in (3, 5, "3", "5"):
            return True
    return False


def _finding_count(req: dict[str, Any]) -> int:
    ids = member(req, "findingIdentifiers") or member(req, "metadataUids") or member(req, "findingIdentifiersV2")
    return len(ids) if type(ids) is list else 0


def _sh_findings(event: Event, req: dict[str, Any]) -> Hit | None:
    if event.eventName == "UpdateFindings":
        if _lower(member(req, "recordState")) != "archived":
            return None
    elif not _hides_findings({k: v for k, v in req.items() if k.lower() in ("workflow", "statusid")}):
        return None
    count = _finding_count(req)
    return Hit(severity=Severity.MEDIUM, title="Security Hub findings suppressed",
               context={**_base(event), **({"findings": count} if count else {})})


def _sh_rule(event: Event, req: dict[str, Any]) -> Hit | None:
    actions = [value for key, value in walk(req) if key.lower() == "actions"]
    if not _hides_findings(actions):
        return None  # rules that only add notes, raise severity or tag findings
    names = [v for k, v in walk(req) if k.lower() in ("rulename", "rulearn", "identifier") and type(v) is str]
    return Hit(title="Security Hub automation rule suppresses findings",
               context=_base(event, rules=short_list(names, keep=5)))


def _waf(event: Event, req: dict[str, Any]) -> Hit:
    return Hit(title="WAF web ACL disassociated", context=_base(event, resource=_str(req, "resourceArn")))


_MIRROR_FIELDS = ("networkInterfaceId", "trafficMirrorTargetId", "trafficMirrorFilterId", "networkLoadBalancerArn",
                  "gatewayLoadBalancerEndpointId", "description")


def _ec2(event: Event, req: dict[str, Any]) -> Hit | None:
    name = event.eventName
    values = flat(req)  # newer EC2 calls wrap their fields in a PascalCase XxxRequest
    if name == "DisableEbsEncryptionByDefault":
        return Hit(title="EBS default encryption disabled", context=context(event, ()))
    if name == "ModifyEbsDefaultKmsKeyId":
        key = member(values, "kmsKeyId")
        other = account_of(key) if type(key) is str else ""
        if not other or other == f.account(event):
            return None  # a key of this account (key ids and aliases name no account)
        return Hit(title="EBS default key set to another account's key", context=context(event, ("kmsKeyId",), values))
    found = context(event, _MIRROR_FIELDS, values)
    if name == "CreateTrafficMirrorSession":
        return Hit(title="Traffic mirror session created", context=found)
    return Hit(severity=Severity.MEDIUM, title="Traffic mirroring set up", context=found)


def _bedrock(event: Event, req: dict[str, Any]) -> Hit | None:
    if event.eventName == "DeleteGuardrail":
        return Hit(title="Bedrock guardrail deleted",
                   context=_base(event, guardrail=_str(req, "guardrailIdentifier"),
                                 version=_str(req, "guardrailVersion")))
    config = member(req, "loggingConfig")
    if type(config) is not dict:
        return None  # nothing readable: do not guess
    destinations = [key for key in ("cloudWatchConfig", "s3Config") if member(config, key)]
    delivered = [key for key, value in config.items()
                 if type(key) is str and key.lower().endswith("datadeliveryenabled") and value is True]
    if destinations and delivered:
        return None
    return Hit(title="Bedrock model-invocation logging turned off",
               context=_base(event, destinations=destinations, data_delivered=delivered))


def _region(event: Event, req: dict[str, Any]) -> Hit:
    enabling = event.eventName == "EnableRegion"
    return Hit(severity=Severity.MEDIUM, title="AWS Region enabled" if enabling else "AWS Region disabled",
               context=_base(event, region_name=_str(req, "regionName"),
                             account_id=_str(req, "accountId")))


_Check = Callable[[Event, dict[str, Any]], Hit | None]
_CALLS: Final[Mapping[tuple[str, str], _Check]] = {
    (GUARDDUTY, "CreateFilter"): _gd_filter,
    (GUARDDUTY, "UpdateFilter"): _gd_filter,
    (GUARDDUTY, "CreateIPSet"): _gd_ipset,
    (GUARDDUTY, "UpdateIPSet"): _gd_ipset,
    (GUARDDUTY, "UpdateDetector"): _gd_detector,
    (GUARDDUTY, "DeletePublishingDestination"): _gd_destination,
    (SECURITYHUB, "BatchUpdateFindings"): _sh_findings,
    (SECURITYHUB, "BatchUpdateFindingsV2"): _sh_findings,
    (SECURITYHUB, "UpdateFindings"): _sh_findings,
    (SECURITYHUB, "CreateAutomationRule"): _sh_rule,
    (SECURITYHUB, "BatchUpdateAutomationRules"): _sh_rule,
    (SECURITYHUB, "CreateAutomationRuleV2"): _sh_rule,
    (SECURITYHUB, "UpdateAutomationRuleV2"): _sh_rule,
    (WAFV2, "DisassociateWebACL"): _waf,
    (WAF_REGIONAL, "DisassociateWebACL"): _waf,
    (EC2, "CreateTrafficMirrorSession"): _ec2,
    (EC2, "CreateTrafficMirrorTarget"): _ec2,
    (EC2, "CreateTrafficMirrorFilter"): _ec2,
    (EC2, "DisableEbsEncryptionByDefault"): _ec2,
    (EC2, "ModifyEbsDefaultKmsKeyId"): _ec2,
    (BEDROCK, "PutModelInvocationLoggingConfiguration"): _bedrock,
    (BEDROCK, "DeleteGuardrail"): _bedrock,
    (ACCOUNT, "EnableRegion"): _region,
    (ACCOUNT, "DisableRegion"): _region,
}


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if not changed_by_someone(event):
        return None
    return _CALLS[(event.eventSource, event.eventName)](event, event.request())


DETECTOR = Detector(
    id="defense-evasion",
    title="Defenses weakened",
    severity=Severity.HIGH,
    mitre=("T1562.001", "T1562.007", "T1562.008", "T1040", "T1535"),
    runbook=(
        "Something that would have seen an intruder was narrowed rather than switched off: GuardDuty findings "
        "archived by a filter or a trusted IP list, protection features off, Security Hub findings or rules "
        "suppressing them, a WAF web ACL detached, traffic mirrored to another interface, EBS default "
        "encryption off, Bedrock invocation logging or a guardrail removed, a Region enabled outside "
        "monitoring. Check the change (context) and who made it. If not planned: revert it (delete the filter "
        "or IP list, re-enable the feature, unsuppress the findings and read them, reattach the web ACL, "
        "delete the mirror session, re-enable default encryption, restore logging or the guardrail), then "
        "review the caller's other calls in every Region. Refused calls and AWS's own calls are not reported."
    ),
    match=match,
    events=frozenset(_CALLS),
    group_by=ACTOR,
)
