"""The benchmark corpus builder and the processes the throughput benchmark times (no timing asserted)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import orjson
import pytest

from benchmarks.corpus import MANIFEST, build_corpus, read_manifest
from benchmarks.throughput import BASELINE, VARIANTS, extract_revision, measure
from monitor.demo.scenarios import SCENARIOS, TRAPS

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


def test_the_baseline_scan_runs_the_extracted_commit(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    build_corpus(corpus, 3000, object_bytes=300_000, log=False)
    checkout = extract_revision("HEAD", tmp_path / "baseline")
    assert (checkout / "monitor" / "cli.py").is_file() and (checkout / "detectors").is_dir()
    assert measure(BASELINE, corpus, checkout).events == 3000
    # It is the extracted code that runs, not the installed package: break it and the run fails.
    (checkout / "monitor" / "__main__.py").write_text("raise SystemExit(7)\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"scan-baseline failed \(7\)"):
        measure(BASELINE, corpus, checkout)
