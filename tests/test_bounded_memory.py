"""Memory has a bound that does not depend on the input: hostile input never pushes `scan` or `run` past it.

Each input is built on the fly (small on disk, large once inflated) and scanned by a real `trailsentry scan`
process, or read by a real `trailsentry run`; the peak resident set is the kernel's own figure for that
process (rusage maxrss, /proc VmHWM). The bound is the Kubernetes manifest's limit (1 GiB); the flatness
check compares the same input at two sizes, so memory that grows with the input fails it whatever the
machine.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import yaml

from tests.helpers import REPO, wait_until

pytestmark = pytest.mark.slow

LIMIT = 1024 * 2**20  # deploy/kubernetes/deployment.yaml: memory limit
CHUNK = 4 * 2**20


def _records_chunk(seed: int) -> bytes:
    """About 4 MiB of small valid records (no eventID: none is remembered), gzipped once."""
    lines = []
    for index in range(CHUNK // 200):
        lines.append(orjson.dumps({"eventVersion": "1.09", "eventTime": f"2026-03-01T10:{index % 60:02d}:00Z",
                                   "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
                                   "userIdentity": {"type": "AssumedRole",
                                                    "arn": f"arn:aws:sts::1:assumed-role/r/{seed}"},
                                   "awsRegion": "us-east-1"}))
    return gzip.compress(b"\n".join(lines) + b"\n", 9)


def expanding_jsonl(path: Path, megabytes: int) -> Path:
    """A .jsonl.gz of gzip members repeated: a few MB on disk, `megabytes` of records once inflated."""
    member = _records_chunk(1)
    with open(path, "wb") as out:
        for _ in range(megabytes // (CHUNK // 2**20)):
            out.write(member)
    return path


def gzip_bomb(path: Path, gigabytes: int) -> Path:
    """Zeros, gzipped: about 2 MB per GiB on disk."""
    member = gzip.compress(bytes(64 * 2**20), 9)
    with open(path, "wb") as out:
        for _ in range(gigabytes * 16):
            out.write(member)
    return path


def one_long_line(path: Path, megabytes: int) -> Path:
    """One JSON Lines record of `megabytes`, between two ordinary ones."""
    head = orjson.dumps({"eventTime": "2026-03-01T10:00:00Z", "eventName": "A", "eventSource": "s"})
    member = gzip.compress(b"x" * (8 * 2**20), 9)
    with open(path, "wb") as out:
        out.write(gzip.compress(head + b'\n{"eventName": "'))
        for _ in range(megabytes // 8):
            out.write(member)
        out.write(gzip.compress(b'"}\n' + head + b"\n"))
    return path


def scan_peak(*paths: Path) -> tuple[int, bytes]:
    """Peak RSS (bytes) of a `trailsentry scan --workers 1` process over `paths`, and its stderr."""
    child = subprocess.Popen([sys.executable, "-m", "monitor", "scan", "--workers", "1", "--format", "jsonl",
                              "--no-progress", *map(str, paths)], cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    assert child.stderr is not None
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, stderr.decode(errors="replace")[-2000:]
    return usage.ru_maxrss * 1024, stderr


def test_memory_stays_flat_as_a_json_lines_input_grows(tmp_path: Path) -> None:
    small, _ = scan_peak(expanding_jsonl(tmp_path / "small.jsonl.gz", 48))
    large, stderr = scan_peak(expanding_jsonl(tmp_path / "large.jsonl.gz", 384))
    assert b"warning" not in stderr
    assert large < small + 48 * 2**20, (small, large)  # eight times the input, about the same memory
    assert large < LIMIT


def test_a_gzip_bomb_a_huge_line_and_a_huge_plain_file_stay_under_the_limit(tmp_path: Path) -> None:
    huge_plain = tmp_path / "huge.json"
    with open(huge_plain, "wb") as out:
        out.write(b'{"Records": [')
        out.truncate(600 * 2**20)  # sparse: 600 MB that nothing may read whole
    peak, stderr = scan_peak(gzip_bomb(tmp_path / "bomb.json.gz", 2), one_long_line(tmp_path / "long.jsonl.gz", 200),
                             huge_plain)
    assert peak < LIMIT, peak
    text = stderr.decode()
    assert "bomb.json.gz" in text and "long.jsonl.gz:2" in text and "huge.json" in text
    assert "scanned 3 file(s)" in text and "2 events" in text  # the long line's neighbours got through


async def test_the_service_reads_a_large_expansion_within_the_limit(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    state = tmp_path / "state" / "trailsentry.sqlite"
    config = tmp_path / "trailsentry.yaml"
    config.write_text(yaml.safe_dump({
        "sources": [{"kind": "directory", "name": "inbox", "path": str(inbox), "interval_seconds": 0.05,
                     "settle_seconds": 0}],
        "checkpoint": {"path": str(state)}, "metrics": {"enabled": False}}))
    expanding_jsonl(tmp_path / "big.jsonl.gz", 384).rename(inbox / "big.jsonl.gz")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAILSENTRY_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "--config", str(config), cwd=REPO, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        def done() -> bool:
            import sqlite3

            if not state.exists():
                return False
            with sqlite3.connect(state, timeout=10) as db:
                try:
                    return bool(db.execute("SELECT 1 FROM cursors WHERE key = 'big.jsonl.gz'").fetchall())
                except sqlite3.OperationalError:
                    return False

        await wait_until(done, "the service to acknowledge the file", within=300)
        status = await asyncio.to_thread(Path(f"/proc/{process.pid}/status").read_text)
        peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024
    finally:
        process.terminate()
        await process.wait()
    assert peak < LIMIT, peak
