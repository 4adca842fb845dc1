"""Logging and security services: CloudTrail, AWS Config, security tooling, and the logs they keep."""
