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
  new-source-ip-for-principal:
    window_seconds: 1209600     # history: a network unseen for 14 days is new
    learning_seconds: 604800    # each person is learned quietly for 7 days
  unapproved-region:            # quiet until the allowlist is set
    params:
      allowed_regions: [us-east-1, eu-west-1]

# Allowlists: a detection matching an entry is counted, not alerted. Every entry needs a reason;
# an expired entry stops applying and is warned about at start.
suppressions:
  - name: quarterly-scanner
    detectors: [access-denied-burst]
    source_cidr: 203.0.113.0/24
    reason: approved external vulnerability scan (ticket SEC-1234)
    expires: 2027-01-01
# Your own rules (YAML) and Sigma rules, files or folders, relative to this file:
# rules:
#   custom: [rules/]
#   sigma: [sigma/]

# Where CloudTrail comes from (`trailsentry run`). Several sources may run at once; an event
# delivered by two of them alerts once. AWS credentials come from the standard chain only
# (environment, IRSA, instance profile); `aws.role_arn` assumes a role in another account.
sources:
  - kind: s3-sqs                # recommended: S3 object notifications on an SQS queue
    name: org-trail             # optional, defaults to the kind; labels metrics, keys checkpoints
    queue_url: https://sqs.us-east-1.amazonaws.com/111122223333/cloudtrail-events
    aws:
      region: us-east-1
      # role_arn: arn:aws:iam::111122223333:role/trailsentry-reader
    download_concurrency: 4     # objects downloaded at once
  # - kind: s3-poll             # buckets without notifications: list the bucket
  #   bucket: org-cloudtrail-logs-111122223333
  #   prefix: AWSLogs/          # the folder holding the accounts (or o-xxxx organization folders)
  #   interval_seconds: 60
  #   lookback_seconds: 900     # late deliveries named up to this much earlier are still read
  #   aws: {region: us-east-1}
  # - kind: cloudwatch-logs     # CloudTrail's CloudWatch Logs delivery
  #   log_groups: [aws-cloudtrail-logs-111122223333]
  #   aws: {region: us-east-1}
  # - kind: directory           # a local folder of CloudTrail files (no AWS account needed)
  #   path: ./cloudtrail-inbox

checkpoint:
  # Cursors, the recent-eventID memory and open detection windows; the alert outbox sits beside it.
  # The environment variable TRAILSENTRY_CHECKPOINT_PATH
  # overrides this (e.g. a volume in a container); the default is ./var/trailsentry.sqlite.
  path: ./var/trailsentry.sqlite

service:
  queue_batches: 16             # batches (objects, files, log pages) waiting for the detectors
  drain_seconds: 20             # on SIGTERM: finish queued work for up to this long (manifest: 40 s grace)
  checkpoint_seconds: 15        # close quiet episodes, save the eventID memory, commit cursors
  restart_seconds: 60           # longest backoff before a crashed source is restarted
"""
