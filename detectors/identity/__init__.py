"""Identity and sign-in detectors: root, console sign-ins, access keys, MFA, IAM policies and trust, federation."""
