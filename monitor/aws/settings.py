"""The `aws:` block of a source or the SNS sink: region, endpoint, and the role to assume.

    aws: {region: us-east-1, endpoint_url: http://127.0.0.1:5000, role_arn: arn:aws:iam::...:role/reader}

Only where to reach AWS and as whom; credentials come from the standard chain, never the config.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.configreader import Section


@dataclass(frozen=True, slots=True)
class AwsSettings:
    region: str | None = None
    endpoint_url: str | None = None
    role_arn: str | None = None
    external_id: str | None = None

    @classmethod
    def parse(cls, section: Section) -> AwsSettings:
        role = section.string("role_arn") or None
        if role is not None and not role.startswith("arn:"):
            section.error("role_arn", "must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        endpoint = section.string("endpoint_url") or None
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            section.error("endpoint_url", "must start with http:// or https://")
        settings = cls(
            region=section.string("region") or None,
            endpoint_url=endpoint,
            role_arn=role,
            external_id=section.string("external_id") or None,
        )
        section.reject_unknown()  # `aws: {regoin: ...}` must not silently fall back to the default region
        return settings
