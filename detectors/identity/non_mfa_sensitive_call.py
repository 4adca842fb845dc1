"""A sensitive change made by an IAM user or root whose session was not MFA-authenticated."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from detectors._common import ACTOR, aws_own, call_name
from monitor.model import Detector, Event, Hit, Severity
from monitor.model import event as f
from monitor.model.alert import clip

# The default sensitive calls, by eventSource. The engine dispatches on this list, so `match` never
# re-checks the event name; config extends it per deployment with `extra_events`.
# Left out on purpose: CreateVirtualMFADevice, EnableMFADevice and ChangePassword, which every user runs
# without MFA while setting MFA up; other detectors report those changes on their own.
SENSITIVE_CALLS: Final[Mapping[str, tuple[str, ...]]] = {
    "iam.amazonaws.com": (
        # policies
        "CreatePolicy", "CreatePolicyVersion", "DeletePolicy", "DeletePolicyVersion", "SetDefaultPolicyVersion",
        "AttachUserPolicy", "DetachUserPolicy", "PutUserPolicy", "DeleteUserPolicy",
        "AttachGroupPolicy", "DetachGroupPolicy", "PutGroupPolicy", "DeleteGroupPolicy",
        "AttachRolePolicy", "DetachRolePolicy", "PutRolePolicy", "DeleteRolePolicy",
        "PutUserPermissionsBoundary", "DeleteUserPermissionsBoundary",
        "PutRolePermissionsBoundary", "DeleteRolePermissionsBoundary",
        # users, groups, roles
        "CreateUser", "DeleteUser", "UpdateUser", "AddUserToGroup", "RemoveUserFromGroup",
        "CreateGroup", "DeleteGroup", "UpdateGroup",
        "CreateRole", "DeleteRole", "UpdateRole", "UpdateAssumeRolePolicy",
        "AddRoleToInstanceProfile", "RemoveRoleFromInstanceProfile",
        # credentials
        "CreateAccessKey", "UpdateAccessKey", "DeleteAccessKey",
        "CreateLoginProfile", "UpdateLoginProfile", "DeleteLoginProfile",
        "DeactivateMFADevice", "DeleteVirtualMFADevice",
        "UploadSSHPublicKey", "UploadSigningCertificate",
        "CreateServiceSpecificCredential", "ResetServiceSpecificCredential",
        "UpdateAccountPasswordPolicy", "DeleteAccountPasswordPolicy",
        # identity providers
        "CreateSAMLProvider", "UpdateSAMLProvider", "DeleteSAMLProvider",
        "CreateOpenIDConnectProvider", "DeleteOpenIDConnectProvider",
        "UpdateOpenIDConnectProviderThumbprint", "AddClientIDToOpenIDConnectProvider",
    ),
    "sts.amazonaws.com": ("GetFederationToken",),
    "kms.amazonaws.com": ("DisableKey", "ScheduleKeyDeletion", "PutKeyPolicy"),
    "cloudtrail.amazonaws.com": ("StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"),
    "organizations.amazonaws.com": (
        "LeaveOrganization", "RemoveAccountFromOrganization", "DeleteOrganization",
        "DetachPolicy", "DeletePolicy", "DisablePolicyType",
    ),
    # Account-level public access block calls are recorded under more than one name; all are listed.
    "s3.amazonaws.com": (
        "PutBucketPolicy", "DeleteBucketPolicy", "PutBucketAcl",
        "PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock",
        "PutAccountPublicAccessBlock", "DeleteAccountPublicAccessBlock", "DeletePublicAccessBlock",
    ),
    "guardduty.amazonaws.com": (
        "DeleteDetector", "UpdateDetector", "DisassociateFromMasterAccount", "DisassociateFromAdministratorAccount",
    ),
    "config.amazonaws.com": ("StopConfigurationRecorder", "DeleteConfigurationRecorder", "DeleteDeliveryChannel"),
    "securityhub.amazonaws.com": ("DisableSecurityHub",),
    "access-analyzer.amazonaws.com": ("DeleteAnalyzer",),
}


def match(event: Event, params: Mapping[str, Any]) -> Hit | None:
    if event.errorCode:
        return None  # a refused change changed nothing
    # Roles (AssumedRole) are left out: their MFA condition is enforced when the role is assumed.
    if event.userIdentity.type not in ("IAMUser", "Root") or aws_own(event):
        return None
    if f.mfa_authenticated(event):
        return None
    key_id = event.userIdentity.accessKeyId
    return Hit(context={"first_call": call_name(event), "credential": _credential(key_id),
                        "access_key_id": clip(key_id, 32)})


def _credential(key_id: str) -> str:
    # Access key ids are not secret; their prefix says whether a long-term key or a session was used.
    if key_id.startswith("AKIA"):
        return "long-term access key"
    if key_id.startswith("ASIA"):
        return "temporary session credentials"
    return "unknown"


DETECTOR = Detector(
    id="non-mfa-sensitive-call",
    title="Sensitive change without MFA",
    severity=Severity.HIGH,
    mitre=("T1078.004", "T1098", "T1562.008"),
    runbook=(
        "An IAM user or root changed permissions, credentials, logging or security tooling without MFA: a "
        "stolen password or access key is enough to do this. Check the calls (event ids), the credential "
        "used (context: a long-term access key shows up as AKIA...) and the source IP. Confirm with the "
        "owner; if not theirs, deactivate the access key or reset the password, revert the changes (trail "
        "stopped, policy attached, key scheduled for deletion: cancel it), and review everything else the "
        "same credential did. Require MFA for these actions with an aws:MultiFactorAuthPresent policy."
    ),
    match=match,
    events=frozenset((source, name) for source, names in SENSITIVE_CALLS.items() for name in names),
    # One person's changes from one place within an hour are one alert.
    group_by=ACTOR,
    episode_seconds=3600,
)
