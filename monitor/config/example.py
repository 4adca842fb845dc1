"""The annotated example printed by `trailsentry config example`: every section, valid as printed."""

EXAMPLE_CONFIG = """\
# trailsentry configuration: every section, with its defaults or an example value.
# Check it with: trailsentry config validate FILE   (every error with its path, exit 2)
# Unknown keys are errors. Secrets are never written here: name an environment variable (*_env)
# or a file (*_file) that holds them.

# --- where CloudTrail comes from (`trailsentry run`) -----------------------------------------------
# Several sources may run at once; an event delivered by two of them alerts once. AWS credentials come
# from the standard chain only (environment, IRSA, instance profile); `aws.role_arn` assumes a role in
# another account.
sources:
  - kind: s3-sqs                # recommended: S3 object notifications on an SQS queue
    name: org-trail             # optional, defaults to the kind; labels metrics, keys checkpoints
    queue_url: https://sqs.us-east-1.amazonaws.com/111122223333/cloudtrail-events
    aws:
      region: us-east-1
      # role_arn: arn:aws:iam::111122223333:role/trailsentry-reader
    download_concurrency: 4     # objects downloaded at once
    max_receives: 5             # then the message is left to the queue's redrive policy (dead-letter queue)
  # - kind: s3-poll             # buckets without notifications: list the bucket
  #   bucket: org-cloudtrail-logs-111122223333
  #   prefix: AWSLogs/          # the folder holding the accounts (or o-xxxx organization folders)
  #   interval_seconds: 60
  #   lookback_seconds: 900     # late deliveries named up to this much earlier are still read
  #   aws: {region: us-east-1}
  # - kind: cloudwatch-logs     # CloudTrail's CloudWatch Logs delivery, polled with FilterLogEvents
  #   log_groups: [aws-cloudtrail-logs-111122223333]
  #   aws: {region: us-east-1}
  # - kind: cloudwatch-live-tail  # the same log groups streamed (StartLiveTail), gaps back-filled
  #   log_groups: [aws-cloudtrail-logs-111122223333]
  #   aws: {region: us-east-1}
  # - kind: directory           # a local folder of CloudTrail files (no AWS account needed)
  #   path: ./cloudtrail-inbox
  #   settle_seconds: 1         # a file is read once unchanged this long, or when moved in whole

checkpoint:
  # Cursors and the engine's state (eventID memory, windows, episodes, histories); the outbox sits beside it.
  # The environment variable TRAILSENTRY_CHECKPOINT_PATH overrides this (e.g. a volume in a container).
  path: ./var/trailsentry.sqlite

service:
  queue_batches: 16             # batches (objects, files, log pages) waiting for the detectors...
  queue_bytes: 134217728        # ...and at most this many bytes of them
  drain_seconds: 20             # on SIGTERM: finish queued work for up to this long (manifest: 40 s grace)
  checkpoint_seconds: 15        # close quiet episodes by the clock, commit what is open
  commit_seconds: 0.2           # group commit: alerts to the outbox, state made durable, sources acknowledged,
  commit_batches: 32            #   at most this late and this many batches at a time (a quiet stream: at once)
  max_attempts: 5               # a batch that fails to apply is retried with a growing delay, then quarantined
  workers: 1                    # processes that decode and detect (more cores for a busy organization)
  restart_seconds: 60           # longest backoff before a crashed source is restarted

state:
  # Where the engine keeps its state. "embedded", in the checkpoint file, serves one replica; with "redis",
  # several replicas on one queue share it in Redis or Valkey 7+ (append-only file on; see
  # deploy/kubernetes-overlays/replicas/README.md).
  backend: embedded
  # backend: redis
  # url_env: TRAILSENTRY_REDIS_URL  # or url_file; redis:// or rediss:// (TLS), the password in the URL
  # key_prefix: "trailsentry:"      # several deployments can share one Redis
  # lease_seconds: 10               # a source run by one replica at a time, and alert delivery, pass on
  #                                 #   this long after their holder stops renewing
  # timeout_seconds: 2              # one round trip may take this long (at most a third of lease_seconds)
  # event_id_seconds: 21600         # eventIDs remembered this long (a redelivered object within it is known)
  # unavailable_alert_seconds: 30   # Redis out of reach this long: an alert on the monitor itself

# --- detection --------------------------------------------------------------------------------------
engine:
  lateness_seconds: 1200        # events may arrive this late (event time) and still count
  dedupe_capacity: 500000       # recent eventIDs remembered to drop duplicates

decode:
  max_decompressed_bytes: 134217728   # one JSON document (a delivery object) larger than this is refused
  max_record_bytes: 1048576           # one record or line larger than this is refused (the rest is read)
  slice_events: 20000                 # line-based input is read this many events at a time

accounts:                       # aliases shown in alerts (quote the 12-digit ids)
  "111122223333": prod
  "444455556666": staging

detectors:                      # per-detector settings: `trailsentry detectors list` names them
  console-login-failure-burst:
    threshold: 5
    window_seconds: 600
  root-activity:
    episode_seconds: 3600       # repeats of one actor fold into one alert for this long
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
  attack-sequence:              # one incident per actor across its keys and sessions (README: Attack sequences)
    threshold: 3                # tactics the actor's steps must span (one of them high-impact)
    window_seconds: 86400       # the sliding window of event time
    params:
      extra_sequences: []       # your own named sequences; `sequences:` replaces the shipped ones

# Allowlists: a detection matching an entry is counted, never alerted. Every entry needs a reason;
# an expired entry stops applying and is warned about at start.
suppressions:
  - name: quarterly-scanner
    detectors: [access-denied-burst]
    source_cidr: 203.0.113.0/24
    reason: approved external vulnerability scan (ticket SEC-1234)
    expires: 2027-01-01

rules:                          # your own rules: files or folders, relative to this file
  custom: []                    # YAML rules, e.g. [rules/]   (README: Custom rules)
  sigma: []                     # Sigma rules, e.g. [sigma/]  (README: Sigma rules)
  # AWS's published address ranges (https://ip-ranges.amazonaws.com/ip-ranges.json, refreshed by the
  # deploy files): with them, a workload's credentials used from outside AWS alert from the first call.
  # aws_ip_ranges_file: /var/lib/trailsentry-aws/ip-ranges.json

# --- delivery ---------------------------------------------------------------------------------------
# No sinks: alerts go to stdout as JSON Lines. Every sink also takes rate_per_second, timeout_seconds,
# max_age_seconds (then dead-lettered), backoff_base_seconds, backoff_cap_seconds and dedup (true:
# the sink applies alerting.repeat_window).
sinks:
  - name: oncall
    type: slack
    webhook_url_env: SLACK_ONCALL_WEBHOOK   # or webhook_url_file: /run/secrets/slack
    # or, to thread each alert's updates under its first message, a bot token (scope chat:write) instead:
    # bot_token_env: SLACK_BOT_TOKEN        # or bot_token_file
    # channel: C0123ONCALL                  # the bot must be a member of the channel
    min_severity: high
  - name: pager
    type: sns
    topic_arn: arn:aws:sns:us-east-1:111122223333:pager
  - name: siem
    type: webhook
    url_env: SIEM_URL
    secret_env: SIEM_HMAC_KEY               # X-Trailsentry-Signature: sha256=HMAC(timestamp.body)
    headers: {Authorization: "Bearer ${SIEM_TOKEN}"}
  - name: archive
    type: file
    path: ./var/alerts.jsonl

routes:                         # to the sinks of every rule an alert matches; absent: every alert to every sink
  - {min_severity: critical, sinks: [pager, oncall]}
  - {detectors: ["iam-*"], accounts: [prod], sinks: [oncall]}
  - {sinks: [archive, siem]}

alerting:
  repeat_window:                # same key at one sink within the window: one message, then one "+N more"
    window_seconds: 600
    key: [account, principal]
    detectors:
      root-console-login: {window_seconds: 0}   # every root sign-in is its own message
  sink_failing: {consecutive_failures: 5, pending_seconds: 300}   # then a trailsentry-sink-failing alert
  retention_seconds: 604800     # delivered alerts kept in the outbox this long

metrics:                        # /metrics, /healthz and /readyz
  enabled: true
  host: 0.0.0.0
  port: 9108
"""
