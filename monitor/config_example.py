"""The annotated example printed by `trailsentry config example`."""

EXAMPLE_CONFIG = """\
# trailsentry configuration. Validate with: trailsentry config validate FILE

engine:
  lateness_seconds: 1200        # events may arrive this late (event time) and still count
  dedupe_capacity: 500000       # recent eventIDs remembered to drop duplicates

decode:
  max_decompressed_bytes: 536870912   # refuse gzip input that expands past this

accounts:                       # optional aliases shown in alerts
  "111122223333": prod

detectors:
  console-login-failure-burst:
    threshold: 5
    window_seconds: 600
  non-mfa-sensitive-call:
    extra_events:
      - ec2.amazonaws.com:DeleteVpc
  access-denied-burst:
    severity: medium
"""
