"""`trailsentry scan s3://...` against moto's S3 over real HTTP: the alerts of a scan of the same files,
read by listing only the day folders asked for, with filters, concurrency, throttling and dry runs."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.aws.settings import AwsSettings
from monitor.cli import main
from monitor.offline.hunt import report
from monitor.offline.hunt.fetch import Fetched, Fetcher, HuntQuery, Listing
from monitor.offline.hunt.layout import S3Location, Selection, Shard, time_range
from monitor.offline.hunt.run import HuntProgress
from tests.aws_emulator import Emulator
from tests.helpers import alerts_of
from tests.offline.hunt.conftest import BUCKET, PREFIX, History, ThrottlingProxy, corpus_files, upload

DAY = "--since", "2026-03-01", "--until", "2026-03-03"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        code = main(["scan", "--format", "jsonl", "--no-progress", *args])
    finally:
        # main() logs to the stderr of its test (captured, then closed): not to the next test's.
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def without_mode(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for alert in alerts:
        assert alert["context"].pop("mode") == "hunt", alert["id"]
    return alerts


def local_scan(capsys: pytest.CaptureFixture[str], *paths: Path, args: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    code, out, _ = run(capsys, "--workers", "1", *args, *map(str, paths))
    assert code == 0
    return alerts_of(out.encode())


def test_a_hunt_gives_the_alerts_of_a_scan_of_the_same_files(history: History,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    expected = local_scan(capsys, history.logs)
    assert len(expected) > 5
    code, out, err = run(capsys, history.url(), "--org", *DAY, "--workers", "1")
    assert code == 0, err
    assert without_mode(alerts_of(out.encode())) == expected
    assert "hunt: s3://org-trail-history/trails/main" in err
    assert "4 account/region folder(s)" in err


def test_an_organization_trail_is_read_only_with_org(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, history.url(), *DAY)
    assert code == 0
    assert alerts_of(out.encode()) == []
    assert "o-a1b2c3d4e5 (add --org to read them)" in err


def test_an_account_trail_is_read_without_org(history: History, aws: Emulator,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # The same objects in an account trail's layout (AWSLogs/ACCOUNT/...), in a bucket without a prefix.
    files = {key.removeprefix(f"{PREFIX}/").replace("AWSLogs/o-a1b2c3d4e5/", "AWSLogs/"): body
             for key, body in corpus_files(history.root).items()}
    asyncio.run(upload(aws, files, "account-trail"))
    expected = local_scan(capsys, history.logs)
    code, out, err = run(capsys, "s3://account-trail", *DAY, "--workers", "1")
    assert code == 0, err
    assert without_mode(alerts_of(out.encode())) == expected


def listed(query: HuntQuery, **options: Any) -> Fetcher:
    fetcher = Fetcher(query, AwsSettings(region="us-east-1"), concurrency=4, list_only=True, **options)
    fetcher.start()
    try:
        list(fetcher.items())
    finally:
        fetcher.stop()
    return fetcher


def test_only_the_day_folders_asked_for_are_listed(history: History) -> None:
    logs = f"{PREFIX}/AWSLogs/"
    org = f"{logs}o-a1b2c3d4e5/"
    window = time_range("2026-03-01T06:00", "2026-03-02T00:00", datetime.now(UTC))
    query = HuntQuery(S3Location.parse(history.url()), window, Selection(("1111*",), ("eu-*",)), organizations=True)
    fetcher = listed(query)
    trail = f"{org}111122223333/CloudTrail/"
    # Discovery by delimiter listings (the organization, then regions of the selected account only), then one
    # day folder: nothing else of the bucket, never the digests or Insight folders beside CloudTrail/.
    assert fetcher.counters.listed_prefixes == [logs, org, trail, f"{trail}eu-west-1/2026/03/01/"]
    keys = [key for key in history.keys if key.startswith(f"{trail}eu-west-1/2026/03/01/")]
    in_range = [key for key in keys if key.rsplit("_CloudTrail_eu-west-1", 1)[1] >= "_20260301T06"]
    assert fetcher.listing.objects == len(in_range) > 0


def test_listing_calls_grow_with_the_days_asked_not_with_the_bucket(aws: Emulator,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # A year of one trail (one object a day): 30 days cost 30 day listings besides discovery.
    start = datetime(2025, 1, 1, tzinfo=UTC)
    files = {}
    for offset in range(365):
        day = start + timedelta(days=offset)
        folder = f"AWSLogs/111122223333/CloudTrail/us-east-1/{day:%Y/%m/%d}"
        files[f"{folder}/111122223333_CloudTrail_us-east-1_{day:%Y%m%d}T1205Z_x.json.gz"] = b""
    asyncio.run(upload(aws, files, "year"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint_url)
    window = time_range("2025-06-01", "2025-07-01", datetime.now(UTC))
    fetcher = listed(HuntQuery(S3Location.parse("s3://year"), window))
    assert fetcher.counters.calls["ListObjectsV2"] == 2 + 30  # AWSLogs/, its regions, 30 days
    assert fetcher.listing.objects == 30


def test_the_objects_of_the_shards_are_every_object_exactly_once(history: History, tmp_path: Path) -> None:
    window = time_range(*DAY[1::2], datetime.now(UTC))
    everything = listed(HuntQuery(S3Location.parse(history.url()), window, organizations=True)).listing.objects
    assert everything > 1000
    keys: list[str] = []
    shards: list[list[str]] = []
    for index in range(3):
        query = HuntQuery(S3Location.parse(history.url()), window, organizations=True, shard=Shard(index, 3))
        fetcher = Fetcher(query, AwsSettings(region="us-east-1"), concurrency=8, spool=tmp_path)
        fetcher.start()
        try:
            shard_keys = [item.ref.key for item in fetcher.items() if isinstance(item, Fetched)]
        finally:
            fetcher.stop()
        shards.append(shard_keys)
        keys.extend(shard_keys)
    assert len(keys) == len(set(keys)) == everything
    assert sum(1 for shard in shards if shard) >= 2  # the units (2 accounts x 2 days) are spread


@pytest.mark.parametrize(("concurrency", "lookahead_bytes", "most"), [(8, 256 * 1024 * 1024, 8), (8, 1, 1)])
def test_downloads_run_at_once_within_the_concurrency_and_the_look_ahead(
        history: History, tmp_path: Path, concurrency: int, lookahead_bytes: int, most: int) -> None:
    window = time_range(*DAY[1::2], datetime.now(UTC))
    query = HuntQuery(S3Location.parse(history.url()), window, organizations=True)
    fetcher = Fetcher(query, AwsSettings(region="us-east-1"), concurrency=concurrency, spool=tmp_path,
                      lookahead_bytes=lookahead_bytes)
    fetcher.start()
    order = []
    try:
        for item in fetcher.items():
            if isinstance(item, Fetched):
                assert item.path is not None
                order.append(item.ref.order)
                Path(item.path).unlink()  # as the hunt does once an object is applied
    finally:
        fetcher.stop()
    # Handed on in reading order, whatever order the downloads finished in.
    assert order == sorted(order) and len(order) > 1000
    assert 1 <= fetcher.counters.most_downloading <= most
    if most > 1:
        assert fetcher.counters.most_downloading > 1  # they did overlap
    assert list(tmp_path.iterdir()) == []


def test_the_progress_line_estimates_what_is_not_listed_yet() -> None:
    listing = Listing(folders=8, folders_listed=2, objects=100, bytes=50 * 1024 * 1024)
    shown = HuntProgress(listing, objects=50, bytes=25 * 1024 * 1024, events=60_000, started=0.0)
    line = report.progress_line(shown, now=10.0)
    # 2 of 8 folders listed: 400 objects and 200 MB expected; 25 MB in 10 s leaves 175 MB for 70 s.
    assert "50/~400 objects, 25.0 MB/~200.0 MB, 60,000 events, 6,000 events/s, ETA 1m10s" in line
    listing.folders_listed = 8
    assert "50/100 objects" in report.progress_line(shown, now=10.0)


def test_with_role_arn_the_bucket_is_read_as_the_role(history: History, watching: ThrottlingProxy, aws: Emulator,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # STS goes to the emulator directly; S3 through the proxy, which sees who signed.
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", aws.endpoint_url)
    code, out, _ = run(capsys, history.url(), "--org", *DAY, "--dry-run", "--role-arn",
                       "arn:aws:iam::111122223333:role/hunt-reader")
    assert code == 0 and "would read" in out
    assert watching.signed_by and os.environ["AWS_ACCESS_KEY_ID"] not in watching.signed_by
    code, out, _ = run(capsys, history.url(), "--org", *DAY, "--dry-run")
    assert os.environ["AWS_ACCESS_KEY_ID"] in watching.signed_by


def test_a_sharded_hunt_says_what_sharding_cuts(history: History, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, history.url(), "--org", *DAY, "--shard", "1/2", "--workers", "1")
    assert code == 0
    assert "shard 1/2: this run read the (account, day) units of its shard only" in err
    assert "detectors that count across accounts saw only this shard's accounts: console-password-spray" in err


def test_downloads_at_any_concurrency_give_the_same_alerts(history: History,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    one = run(capsys, history.url(), "--org", *DAY, "--workers", "1", "--concurrency", "1")
    many = run(capsys, history.url(), "--org", *DAY, "--workers", "2", "--concurrency", "48")
    assert one[0] == many[0] == 0
    assert alerts_of(one[1].encode()) == alerts_of(many[1].encode()) != []


def test_throttling_backs_off_and_is_counted_never_failing_the_hunt(history: History, throttling: ThrottlingProxy,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, history.url(), "--org", *DAY, "--workers", "1")
    assert code == 0, err
    assert throttling.throttled > 300  # every third request
    found = re.search(r"throttled ([\d,]+) time", err)
    assert found and int(found[1].replace(",", "")) == throttling.throttled
    expected = local_scan(capsys, history.logs)
    assert without_mode(alerts_of(out.encode())) == expected


def test_a_dry_run_lists_what_would_be_read_and_downloads_nothing(history: History, watching: ThrottlingProxy,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, history.url(), "--org", *DAY, "--dry-run")
    assert code == 0
    assert watching.downloads == 0 and watching.signed_by  # it did talk to S3, only to list
    logs = [key for key in history.keys if "/CloudTrail/" in key]
    size = sum(len(body) for key, body in corpus_files(history.root).items() if "/CloudTrail/" in key)
    assert f"would read {len(logs):,} object(s), {report.size(size)}" in out
    assert "estimated scan time" in out


def test_a_bad_object_is_reported_with_its_location_and_the_rest_flows(history: History, aws: Emulator,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    folder = f"{PREFIX}/AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/us-east-1/2026/03/01"
    bad = f"{folder}/111122223333_CloudTrail_us-east-1_20260301T1200Z_broken.json.gz"
    asyncio.run(upload(aws, {bad: b"\x1f\x8b not gzip at all"}, BUCKET))
    expected = local_scan(capsys, history.logs)
    code, out, err = run(capsys, history.url(), "--org", *DAY, "--workers", "1", "--strict")
    assert code == 1
    assert f"warning: s3://{BUCKET}/{bad}" in err
    assert "Traceback" not in err
    assert without_mode(alerts_of(out.encode())) == expected


@pytest.mark.parametrize(("arguments", "message"), [
    (("s3://UPPER/x",), "is not an S3 location"),
    (("s3://bucket-a", "s3://bucket-b"), "one s3://BUCKET"),
    (("s3://bucket-a", "--since", "2026-03-02", "--until", "2026-03-01"), "--since must be before --until"),
    (("s3://bucket-a", "--since", "last tuesday"), "expected a UTC date or time"),
    (("s3://bucket-a", "--shard", "3/3"), "expected I/N with 0 <= I < N"),
    (("s3://bucket-a", "--sink", "nowhere"), "--sink nowhere: no such sink"),
    ((".", "--since", "2026-03-01"), "--since: only for a hunt in S3"),
])
def test_a_hunt_asked_wrongly_says_why(arguments: tuple[str, ...], message: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *arguments)
    assert code == 2
    assert message in err


def test_a_missing_bucket_is_a_clear_error(aws: Emulator, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint_url)
    code, _, err = run(capsys, "s3://no-such-bucket", "--since", "2026-03-01", "--until", "2026-03-02")
    assert code == 2
    assert "error: reading s3://no-such-bucket/: NoSuchBucket" in err
    assert "Traceback" not in err
