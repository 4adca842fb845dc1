"""Hunting in history: `trailsentry scan s3://BUCKET[/PREFIX]` reads CloudTrail straight from S3.

`layout` (which folders and objects a hunt reads) → `s3` (listing and downloads that survive
throttling) → `fetch` (the S3 side in a thread, in reading order) → `run` (the engine, resumable with
`ledger`) → `report` (progress and summary); `deliver` sends alerts to sinks only when asked.
"""
