"""Data and storage: S3 buckets, secrets, snapshots and images, KMS keys."""
