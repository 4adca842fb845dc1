"""AWS plumbing shared by the sources, the SNS sink and the app.

- `clients.py`: one aiobotocore session, each client created once, role assumption;
- `settings.py`: the `aws:` block (region, endpoint_url, role_arn, external_id);
- `backoff.py`: exponential backoff with jitter and AWS throttle classification.

Nothing is imported here, so reading the config does not load the AWS SDK.
"""
