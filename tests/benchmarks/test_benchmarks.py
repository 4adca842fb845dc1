"""The benchmark corpus builder and the processes the throughput benchmark times (no timing asserted)."""

from __future__ import annotations

import gzip
import itertools
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from benchmarks.corpus import MANIFEST, Manifest, build_corpus, read_manifest
from benchmarks.corpus import main as corpus_main
from benchmarks.corpus_stats import measure as corpus_statistics
from benchmarks.corpus_stats import read_objects
from benchmarks.durability import load_objects, run_once
from benchmarks.replicas import alerts_compared
from benchmarks.replicas import check as check_replica_runs
from benchmarks.replicas import run_once as run_replicas
from benchmarks.throughput import VARIANTS, measure
from monitor.demo.scenarios import SCENARIOS, TRAPS
from tests.redis_server import free_port, require_redis_server

_KEY = re.compile(r"AWSLogs/o-[a-z0-9]{10}/(\d{12})/CloudTrail/([a-z0-9-]+)/\d{4}/\d{2}/\d{2}/"
                  r"\1_CloudTrail_\2_\d{8}T\d{4}Z_[A-Za-z0-9]{16}\.json\.gz$")


def test_corpus_has_exactly_the_events_asked_for_in_cloudtrail_layout(tmp_path: Path) -> None:
    manifest = build_corpus(tmp_path, 5000, object_bytes=300_000, log=False)
    files = sorted(tmp_path.rglob("*.json.gz"))
    assert len(files) == manifest.objects > 1
    assert all(_KEY.search(f.relative_to(tmp_path).as_posix()) for f in files)
    records = [orjson.loads(gzip.decompress(f.read_bytes()))["Records"] for f in files]
    assert sum(map(len, records)) == manifest.events == 5000
    assert len({e["eventID"] for batch in records for e in batch}) == 5000
    sizes = sorted(len(orjson.dumps({"Records": batch})) for batch in records)
    assert all(250_000 < size < 350_000 for size in sizes[1:])  # about object_bytes each, but the last one
    assert len({e["recipientAccountId"] for batch in records for e in batch}) > 1
    known = {s.name for s in (*SCENARIOS, *TRAPS)}
    assert manifest.scenarios and set(manifest.scenarios) <= known


def test_corpus_is_reused_when_parameters_match_and_rebuilt_otherwise(tmp_path: Path) -> None:
    build_corpus(tmp_path, 2000, object_bytes=300_000, log=False)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.json.gz")}
    again = build_corpus(tmp_path, 2000, object_bytes=300_000, log=False)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.json.gz")} == before
    assert again == read_manifest(tmp_path)
    bigger = build_corpus(tmp_path, 3000, object_bytes=300_000, log=False)
    assert bigger.events == 3000
    assert sum(len(orjson.loads(gzip.decompress(p.read_bytes()))["Records"])
               for p in tmp_path.rglob("*.json.gz")) == 3000
    (tmp_path / MANIFEST).write_text("not json")
    assert read_manifest(tmp_path) is None


def test_every_timed_process_sees_every_event(tmp_path: Path) -> None:
    build_corpus(tmp_path, 3000, object_bytes=300_000, log=False)
    for variant in VARIANTS:
        run = measure(variant, tmp_path)
        assert run.events == 3000, variant
        assert run.max_rss_bytes > 0 and run.seconds > 0


@pytest.mark.parametrize("split", [0, 200])
async def test_both_durability_variants_process_and_acknowledge_every_event(tmp_path: Path, split: int) -> None:
    build_corpus(tmp_path / "corpus", 3000, object_bytes=300_000, log=False)
    objects = load_objects(tmp_path / "corpus", split)
    assert len(objects) > 1 and (not split or len(objects) >= 3000 // split)
    for variant in ("durable", "volatile"):
        scratch = tmp_path / variant
        scratch.mkdir()
        run = await run_once(variant, objects, scratch)
        assert run.events == 3000 and run.batches == len(objects) and run.commits >= 1
        # Only the durable variant leaves its state on disk.
        assert (scratch / "trailsentry.sqlite").exists() == (variant == "durable")



def test_replica_benchmark_runs_share_the_backlog_and_record_the_alerts_of_one_process(tmp_path: Path) -> None:
    require_redis_server()
    build_corpus(tmp_path / "corpus", 3000, object_bytes=300_000, log=False)
    port = free_port()
    one = run_replicas(tmp_path / "corpus", 0, tmp_path / "one", port, split=200)
    two = run_replicas(tmp_path / "corpus", 2, tmp_path / "two", port, split=200)
    objects = len(load_objects(tmp_path / "corpus", 200))
    assert one.events == two.events == 3000 and one.batches == two.batches == objects
    assert one.alert_ids and two.alert_ids == one.alert_ids
    assert not one.round_trips and two.round_trips["fetch"] >= two.batches and two.round_trips["commit"] >= 1
    check_replica_runs({0: [one], 2: [two]})  # what the benchmark checks before it reports
    assert alerts_compared({0: [one], 2: [two]}).startswith("1 of 1 replica runs recorded exactly the")

# --- the corpus' statistics and record shapes (a 20k-event corpus, built once) ---------------------------------

_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_EVENT_TYPES = {"AwsApiCall", "AwsServiceEvent", "AwsConsoleSignIn"}


@pytest.fixture(scope="module")
def corpus_20k(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    directory = tmp_path_factory.mktemp("corpus-20k")
    return directory, build_corpus(directory, 20_000, log=False)


def test_the_corpus_has_the_statistics_of_real_cloudtrail(corpus_20k: tuple[Path, Manifest]) -> None:
    directory, manifest = corpus_20k
    stats = corpus_statistics(directory)
    assert stats == manifest.stats  # the manifest records what the files hold
    assert stats["events"] == 20_000
    size = stats["size_bytes"]
    assert 1100 <= size["mean"] <= 1400 and 1000 <= size["p50"] <= 1400
    assert 2000 <= size["p99"] <= 3000 and 4000 <= size["max"] <= 9000
    assert 2 <= stats["events_per_distinct_second"] <= 6
    distinct = stats["distinct"]
    assert distinct["principals"] >= 150 and distinct["user_agents"] >= 300 and distinct["event_names"] >= 400
    assert distinct["event_sources"] >= 40
    assert 0.02 <= stats["error_share"] <= 0.06
    types = stats["identity_types"]
    assert {"AssumedRole", "AWSService", "IAMUser", "AWSAccount", "WebIdentityUser", "FederatedUser"} <= set(types)
    assert types["AssumedRole"] > 0.4 and types["AWSService"] > 0.1


def test_a_few_calls_dominate_and_hundreds_form_a_long_tail(corpus_20k: tuple[Path, Manifest]) -> None:
    names = Counter(e["eventName"] for records in read_objects(corpus_20k[0]) for e in records)
    top = [name for name, _ in names.most_common(6)]
    assert {"AssumeRole", "Decrypt", "GetObject"} <= set(top)
    assert sum(count for _, count in names.most_common(10)) > 0.4 * 20_000
    assert sum(1 for count in names.values() if count <= 5) > 150


def test_every_record_has_cloudtrails_shape(corpus_20k: tuple[Path, Manifest]) -> None:
    directory, manifest = corpus_20k
    ids: set[str] = set()
    for records in read_objects(directory):
        inversions = sum(1 for a, b in itertools.pairwise(records) if a["eventTime"] > b["eventTime"])
        assert inversions < 0.05 * len(records)  # roughly in time order, as CloudTrail writes objects
        for event in records:
            for key in ("eventVersion", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress",
                        "userAgent", "eventID", "eventType", "recipientAccountId", "eventCategory"):
                assert isinstance(event[key], str) and event[key], (key, event)
            assert _TIME.match(event["eventTime"]) and _UUID.match(event["eventID"])
            assert event["eventSource"].endswith(".amazonaws.com")
            assert event["awsRegion"] in manifest.regions and event["recipientAccountId"] in manifest.accounts
            assert event["eventType"] in _EVENT_TYPES and event["eventCategory"] in ("Management", "Data")
            assert isinstance(event["managementEvent"], bool)
            assert event["managementEvent"] == (event["eventCategory"] == "Management")
            for key in ("requestParameters", "responseElements"):
                assert event[key] is None or isinstance(event[key], dict)
            if event["eventType"] != "AwsServiceEvent":
                assert isinstance(event["readOnly"], bool) and isinstance(event["requestID"], str)
            if "errorCode" in event:
                assert isinstance(event["errorCode"], str) and isinstance(event["errorMessage"], str)
            for resource in event.get("resources", []):
                assert isinstance(resource["ARN"], str) and isinstance(resource["type"], str)
            _check_identity(event["userIdentity"])
            ids.add(event["eventID"])
    assert len(ids) == 20_000


def _check_identity(identity: dict[str, Any]) -> None:
    kind = identity.get("type")
    if kind is None:  # an AWS service event: the account and the service
        assert isinstance(identity["invokedBy"], str)
        return
    if kind == "AWSService":
        assert identity["invokedBy"].endswith(".amazonaws.com")
        return
    assert isinstance(identity["principalId"], str)
    if kind in ("SAMLUser", "WebIdentityUser"):
        assert isinstance(identity["userName"], str) and isinstance(identity["identityProvider"], str)
        return
    assert re.fullmatch(r"\d{12}", identity["accountId"])
    if kind == "AWSAccount":
        return
    assert identity["arn"].startswith("arn:aws:")
    if kind == "AssumedRole":
        context = identity["sessionContext"]
        assert context["sessionIssuer"]["type"] == "Role"
        assert identity["arn"].split("/")[1] == context["sessionIssuer"]["userName"]
        assert _TIME.match(context["attributes"]["creationDate"])
        assert context["attributes"]["mfaAuthenticated"] in ("true", "false")


def test_the_same_seed_gives_the_same_bytes(tmp_path: Path) -> None:
    first = build_corpus(tmp_path / "a", 4000, object_bytes=400_000, log=False)
    second = build_corpus(tmp_path / "b", 4000, object_bytes=400_000, log=False)
    assert first.stats == second.stats and first.objects == second.objects > 1
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.json.gz"))
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.json.gz"))
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    other = build_corpus(tmp_path / "c", 4000, seed=2, object_bytes=400_000, log=False)
    assert other.stats != first.stats


def test_scan_reads_the_corpus_without_warnings_and_finds_the_incidents(corpus_20k: tuple[Path, Manifest]) -> None:
    directory, manifest = corpus_20k
    result = subprocess.run([sys.executable, "-m", "monitor", "scan", "--strict", "--format", "jsonl",
                             "--no-progress", str(directory)], capture_output=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert b"warning" not in result.stderr
    alerted = {orjson.loads(line)["detector"] for line in result.stdout.splitlines() if line.strip()}
    expected = {s.name: s.detectors for s in SCENARIOS}
    assert manifest.scenarios and set(manifest.scenarios) <= set(expected) | {t.name for t in TRAPS}
    for name in manifest.scenarios:
        assert expected.get(name, frozenset()) <= alerted, name


def test_stats_command_prints_the_statistics(corpus_20k: tuple[Path, Manifest],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert corpus_main(["--stats", str(corpus_20k[0])]) == 0
    out = capsys.readouterr().out
    assert "20,000 in" in out and "principals" in out and "events per distinct second" in out
