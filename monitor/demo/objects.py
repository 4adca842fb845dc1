"""CloudTrail's delivery layout: object keys, gzipped `{"Records": [...]}` files, and the example corpus
(`write_example_corpus`) with the other formats `scan` reads (JSON Lines, arrays, CloudWatch exports,
digests and Insight files).
"""

from __future__ import annotations

import calendar
import gzip
import hashlib
import random
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from monitor.demo.background import (
    background_events,
)
from monitor.demo.builders import (
    ALNUM,
    EXAMPLE_ACCOUNTS,
    EXAMPLE_BUCKET,
    EXAMPLE_ORGANIZATION,
    EXAMPLE_REGIONS,
    EXAMPLE_SEED,
    EXAMPLE_START,
    EXAMPLE_TRAIL,
    GLOBAL_REGION,
    new_event_id,
    rfc3339,
)
from monitor.demo.scenarios import (
    example_day,
)
from monitor.model.event import Record


def cloudtrail_object_key(account: str, region: str, moment: float, rng: random.Random,
                          organization_id: str | None = None) -> str:
    """The S3 key CloudTrail uses for a log file delivered at `moment` (epoch seconds)."""
    stamp = time.gmtime(moment)
    unique = "".join(rng.choice(ALNUM) for _ in range(16))
    prefix = f"AWSLogs/{organization_id}/{account}" if organization_id else f"AWSLogs/{account}"
    return (f"{prefix}/CloudTrail/{region}/{time.strftime('%Y/%m/%d', stamp)}/"
            f"{account}_CloudTrail_{region}_{time.strftime('%Y%m%dT%H%MZ', stamp)}_{unique}.json.gz")


def encode_records(events: Iterable[Record]) -> bytes:
    """A CloudTrail log file: gzip of {"Records": [...]}. mtime 0 keeps the bytes deterministic."""
    return gzip.compress(orjson.dumps({"Records": list(events)}), compresslevel=6, mtime=0)


def _event_time(event: Record) -> float:
    return float(calendar.timegm(time.strptime(event["eventTime"], "%Y-%m-%dT%H:%M:%SZ")))


def write_s3_objects(directory: Path, events: Iterable[Record], rng: random.Random, *,
                     object_seconds: int = 300, organization_id: str | None = None) -> list[Path]:
    """Group events into one log file per account, region and delivery period; return the files written.

    CloudTrail delivers a file about every five minutes; much longer periods put a file's first events
    further behind the newest event of the files scanned before it than `engine.lateness_seconds` allows.
    """
    grouped: dict[tuple[int, str, str], list[Record]] = {}
    for event in events:
        slot = int(_event_time(event) // object_seconds)
        grouped.setdefault((slot, event["recipientAccountId"], event["awsRegion"]), []).append(event)
    written: list[Path] = []
    for (slot, account, region), batch in sorted(grouped.items()):
        batch.sort(key=lambda e: e["eventTime"])
        delivered = (slot + 1) * object_seconds + rng.randrange(60, 300)
        path = directory / cloudtrail_object_key(account, region, delivered, rng, organization_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_records(batch))
        written.append(path)
    return written


def _digest(directory: Path, account: str, region: str, start: float, logs: list[Path]) -> Path:
    """A CloudTrail-Digest file listing the log files of one hour (scan skips these)."""
    end = start + 3600
    files = []
    for log in logs:
        data = log.read_bytes()
        times = [e["eventTime"] for e in orjson.loads(gzip.decompress(data))["Records"]]
        files.append({"s3Bucket": EXAMPLE_BUCKET, "s3Object": log.relative_to(directory).as_posix(),
                      "hashValue": hashlib.sha256(data).hexdigest(), "hashAlgorithm": "SHA-256",
                      "newestEventTime": max(times), "oldestEventTime": min(times)})
    stamp = time.gmtime(end + 312)
    prefix = f"AWSLogs/{EXAMPLE_ORGANIZATION}/{account}/CloudTrail-Digest/{region}/{time.strftime('%Y/%m/%d', stamp)}"
    name = f"{account}_CloudTrail-Digest_{region}_{EXAMPLE_TRAIL}_{region}_{time.strftime('%Y%m%dT%H%M%SZ', stamp)}"
    path = directory / prefix / f"{name}.json.gz"
    digest = {
        "awsAccountId": account, "digestStartTime": rfc3339(start), "digestEndTime": rfc3339(end),
        "digestS3Bucket": EXAMPLE_BUCKET, "digestS3Object": f"{prefix}/{name}.json.gz",
        "digestPublicKeyFingerprint": hashlib.md5(b"trailsentry example key").hexdigest(),
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": max((f["newestEventTime"] for f in files), default=None),
        "oldestEventTime": min((f["oldestEventTime"] for f in files), default=None),
        "previousDigestS3Bucket": None, "previousDigestS3Object": None, "previousDigestHashValue": None,
        "previousDigestHashAlgorithm": None, "previousDigestSignature": None, "logFiles": files,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(orjson.dumps(digest), mtime=0))
    return path


def insight_events(rng: random.Random, at: float, account: str, region: str) -> list[Record]:
    """A CloudTrail Insight (unusual API call rate): a Start and an End event."""
    shared = new_event_id(rng)
    events: list[Record] = []
    for state, ts in (("Start", at), ("End", at + 1200)):
        details: dict[str, Any] = {"state": state, "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
                                   "insightType": "ApiCallRateInsight"}
        details["insightContext"] = {"statistics": {"baseline": {"average": 0.0417},
                                                    "insight": {"average": 2.6} if state == "Start" else {},
                                                    "insightDuration": 20, "baselineDuration": 10079}}
        events.append({"eventVersion": "1.08", "eventTime": rfc3339(ts), "awsRegion": region,
                       "eventID": new_event_id(rng), "eventType": "AwsCloudTrailInsight",
                       "recipientAccountId": account, "sharedEventID": shared, "insightDetails": details,
                       "eventCategory": "Insight"})
    return events


def write_example_corpus(directory: Path, *, seed: int = EXAMPLE_SEED, start: float = EXAMPLE_START) -> list[Path]:
    """The demo corpus: one day of two accounts and two regions in S3 layout with every scenario once,
    plus a JSON Lines file, a JSON array, a CloudWatch Logs export, a digest and an Insight file.

    Every file holds its own events (the engine de-duplicates by eventID across files), and the
    non-S3 formats cover the hour before the day so the scan still reads events in time order.
    """
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    written = write_s3_objects(directory, example_day(rng, start=start), rng, organization_id=EXAMPLE_ORGANIZATION)

    account = EXAMPLE_ACCOUNTS[0]
    first_hour = [p for p in written if f"/{account}/CloudTrail/{GLOBAL_REGION}/" in p.as_posix()
                  and _name_time(p) <= start + 3600 + 300]
    written.append(_digest(directory, account, GLOBAL_REGION, start, first_hour))

    insight_at = start + 12 * 3600
    insight_key = cloudtrail_object_key(account, GLOBAL_REGION, insight_at + 1500, rng, EXAMPLE_ORGANIZATION)
    insight_path = directory / insight_key.replace("/CloudTrail/", "/CloudTrail-Insight/").replace(
        "_CloudTrail_", "_CloudTrail-Insight_")
    insight_path.parent.mkdir(parents=True, exist_ok=True)
    insight_path.write_bytes(encode_records(insight_events(rng, insight_at, account, GLOBAL_REGION)))
    written.append(insight_path)

    exports = directory / "exports"
    exports.mkdir(exist_ok=True)
    before = start - 3600
    jsonl = background_events(rng, before, 120, EXAMPLE_ACCOUNTS, EXAMPLE_REGIONS, duration=1200)
    path = exports / "siem-export.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in jsonl))
    written.append(path)

    array = background_events(rng, before + 1200, 120, EXAMPLE_ACCOUNTS, EXAMPLE_REGIONS, duration=1200)
    path = exports / "athena-query-result.json"
    path.write_bytes(orjson.dumps(array, option=orjson.OPT_INDENT_2))
    written.append(path)

    logged = background_events(rng, before + 2400, 120, EXAMPLE_ACCOUNTS, [GLOBAL_REGION], duration=1200)
    lines = []
    for event in logged:
        ingested = _event_time(event) + rng.randrange(30, 300)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ingested)) + ".000Z"
        lines.append(stamp.encode() + b" " + orjson.dumps(event) + b"\n")
    lines.sort()
    path = exports / "cloudwatch" / f"{account}_CloudTrail_{GLOBAL_REGION}" / "000000.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b"".join(lines), mtime=0))
    written.append(path)
    return written


def _name_time(path: Path) -> float:
    stamp = path.name.split("_")[3]
    return float(calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%MZ")))
