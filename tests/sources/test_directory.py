"""The directory source on a real temporary folder; time is driven through an injected clock."""

from __future__ import annotations

import asyncio
import gzip
import os
from pathlib import Path

import orjson
import pytest

from monitor.aws.clients import AwsClients
from monitor.checkpoint import CheckpointStore
from monitor.configreader import Section
from monitor.decode import decode_bytes
from monitor.sources import directory
from monitor.sources.base import Batch, SourceContext
from monitor.sources.directory import DirectorySource, read_settled
from monitor.sources.settings import DirectorySettings, parse_directory


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Collector:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    async def __call__(self, batch: Batch) -> None:
        self.batches.append(batch)

    def origins(self) -> list[str]:
        return [Path(b.origin).name for b in self.batches]

    async def ack_all(self) -> None:
        for batch in self.batches:
            await batch.ack()


def records(*ids: str) -> bytes:
    return orjson.dumps({"Records": [{"eventID": i, "eventName": "ConsoleLogin",
                                      "eventSource": "signin.amazonaws.com"} for i in ids]})


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "trail"
    path.mkdir()
    return path


def make_source(folder: Path, checkpoints: CheckpointStore, clock: Clock, **options: object) -> DirectorySource:
    settings = DirectorySettings(path=folder, interval_seconds=0.01, **options)  # type: ignore[arg-type]
    return DirectorySource("dir", settings, SourceContext(AwsClients(), checkpoints), clock=clock)


async def settle(source: DirectorySource, clock: Clock, emit: Collector) -> None:
    """Two looks, one settle period apart."""
    await source.scan_once(emit)
    clock.now += 1.0
    await source.scan_once(emit)


async def test_new_files_are_emitted_once(folder: Path, checkpoints: CheckpointStore) -> None:
    (folder / "AWSLogs" / "111122223333").mkdir(parents=True)
    (folder / "a.json").write_bytes(records("a1", "a2"))
    (folder / "AWSLogs" / "111122223333" / "b.json.gz").write_bytes(gzip.compress(records("b1")))
    (folder / ".partial.json").write_bytes(records("hidden"))
    clock = Clock()
    source = make_source(folder, checkpoints, clock)
    collect = Collector()

    await source.scan_once(collect)
    assert collect.batches == []  # seen once: not settled yet
    clock.now += 1.0
    await source.scan_once(collect)
    assert sorted(collect.origins()) == ["a.json", "b.json.gz"]
    events = [e.eventID for b in collect.batches for e in decode_bytes(b.data, b.origin).events]
    assert sorted(events) == ["a1", "a2", "b1"]
    mtime = (folder / "a.json").stat().st_mtime
    first = next(b for b in collect.batches if b.origin.endswith("a.json"))
    assert first.origin == str(folder / "a.json") and first.landed_at == pytest.approx(mtime)
    assert source.ready()

    # Not acknowledged yet: in flight, not offered again.
    clock.now += 5.0
    await source.scan_once(collect)
    assert len(collect.batches) == 2
    await collect.ack_all()
    clock.now += 5.0
    await settle(source, clock, collect)
    assert len(collect.batches) == 2
    assert source.stats.counts["files_read"] == 2


async def test_a_file_being_written_waits_until_it_settles(folder: Path, checkpoints: CheckpointStore) -> None:
    clock = Clock()
    source = make_source(folder, checkpoints, clock)
    collect = Collector()
    whole = b"\n".join(orjson.dumps({"eventID": f"e{i}", "eventName": "GetObject"}) for i in range(4))
    target = folder / "stream.jsonl"
    target.write_bytes(whole[:30])
    await source.scan_once(collect)
    clock.now += 1.0
    with target.open("ab") as handle:
        handle.write(whole[30:60])
    await source.scan_once(collect)  # changed since the last look
    assert collect.batches == []
    clock.now += 1.0
    with target.open("ab") as handle:
        handle.write(whole[60:])
    await source.scan_once(collect)
    assert collect.batches == []
    clock.now += 0.5
    await source.scan_once(collect)  # unchanged, but not for settle_seconds yet
    assert collect.batches == []
    clock.now += 0.5
    await source.scan_once(collect)
    assert len(collect.batches) == 1 and collect.batches[0].data == whole
    assert [e.eventID for e in decode_bytes(whole, "x").events] == ["e0", "e1", "e2", "e3"]


def written_at(path: Path, moment: float) -> None:
    """Set the file's modification time in the test clock's frame (what a write at `moment` leaves)."""
    os.utime(path, (moment, moment))


async def test_a_file_moved_in_whole_is_taken_at_the_first_look(
        folder: Path, tmp_path: Path, checkpoints: CheckpointStore) -> None:
    clock = Clock()
    source = make_source(folder, checkpoints, clock)
    collect = Collector()
    staged = tmp_path / "staged.json"
    staged.write_bytes(records("m1"))
    written_at(staged, clock.now - 60)  # written a minute ago elsewhere, then renamed in
    os.replace(staged, folder / "moved.json")
    await source.scan_once(collect)
    assert collect.origins() == ["moved.json"]


async def test_a_half_written_last_line_is_never_read(folder: Path, checkpoints: CheckpointStore) -> None:
    clock = Clock()
    source = make_source(folder, checkpoints, clock, settle_seconds=1.0)
    collect = Collector()
    lines = [orjson.dumps({"eventID": f"e{i}", "eventName": "GetObject"}) + b"\n" for i in range(3)]
    target = folder / "stream.jsonl"
    target.write_bytes(lines[0] + lines[1][:10])  # a copy under way: half of the second line
    written_at(target, clock.now)
    await source.scan_once(collect)  # just written: not settled
    clock.now += 0.5
    with target.open("ab") as handle:
        handle.write(lines[1][10:] + lines[2])
    written_at(target, clock.now)
    await source.scan_once(collect)  # changed since the last look
    assert collect.batches == []
    clock.now += 1.0
    await source.scan_once(collect)  # unchanged for settle_seconds: taken, whole
    assert len(collect.batches) == 1
    decoded = decode_bytes(collect.batches[0].data, collect.batches[0].origin)
    assert [e.eventID for e in decoded.events] == ["e0", "e1", "e2"] and decoded.issues == []
    await collect.ack_all()
    clock.now += 5.0
    await settle(source, clock, collect)
    assert source.stats.counts["files_read"] == 1  # read once, not again


def test_a_file_that_grew_since_it_was_listed_is_not_read(folder: Path) -> None:
    target = folder / "growing.jsonl"
    target.write_bytes(b'{"eventID": "e0"}\n{"eventID": "e1", "even')
    info = target.stat()
    listed = (info.st_size, info.st_mtime_ns)
    with target.open("ab") as handle:
        handle.write(b'tName": "GetObject"}\n')
    assert read_settled(target, listed, 1 << 20) is None  # still being written: looked at again later
    info = target.stat()
    assert read_settled(target, (info.st_size, info.st_mtime_ns), 1 << 20) == target.read_bytes()


async def test_restart_does_not_re_emit_and_state_is_pruned(folder: Path, checkpoints: CheckpointStore) -> None:
    for name in ("one.json", "two.json"):
        (folder / name).write_bytes(records(name))
    clock = Clock()
    first = make_source(folder, checkpoints, clock)
    collect = Collector()
    await settle(first, clock, collect)
    await collect.ack_all()
    await first.close()
    assert set(checkpoints.items("dir")) == {"one.json", "two.json"}

    second = make_source(folder, checkpoints, clock)
    again = Collector()
    await settle(second, clock, again)
    assert again.batches == []

    # A changed file is new content; a removed file leaves the checkpoint store.
    (folder / "one.json").write_bytes(records("one.json", "more"))
    (folder / "two.json").unlink()
    await settle(second, clock, again)
    assert again.origins() == ["one.json"]
    assert set(checkpoints.items("dir")) == {"one.json"}
    await again.ack_all()


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"),
                    reason="needs Linux /proc: /proc/self/mem is a regular file whose first page cannot be read")
async def test_an_unreadable_file_is_reported_and_skipped(
        folder: Path, checkpoints: CheckpointStore, caplog: pytest.LogCaptureFixture) -> None:
    # File permissions do not stop root (the test may run as root); reading this link's target fails with EIO.
    (folder / "bad.json").symlink_to("/proc/self/mem")
    (folder / "good.json").write_bytes(records("g1"))
    clock = Clock()
    source = make_source(folder, checkpoints, clock)
    collect = Collector()
    await settle(source, clock, collect)

    assert collect.origins() == ["good.json"]
    assert source.stats.counts["files_failed"] == 1
    assert any("bad.json" in r.getMessage() and "skipping" in r.getMessage() for r in caplog.records)
    clock.now += 5
    await settle(source, clock, collect)
    assert source.stats.counts["files_failed"] == 1  # not retried until it changes


async def test_too_large_file_is_skipped(folder: Path, checkpoints: CheckpointStore) -> None:
    (folder / "big.json").write_bytes(records(*[f"e{i}" for i in range(50)]))
    (folder / "small.json").write_bytes(b"{}")
    clock = Clock()
    source = make_source(folder, checkpoints, clock, max_file_bytes=100)
    collect = Collector()
    await settle(source, clock, collect)
    assert collect.origins() == ["small.json"]
    assert source.stats.counts["files_failed"] == 1


async def test_pattern_delete_after_and_release(folder: Path, checkpoints: CheckpointStore) -> None:
    (folder / "x.json.gz").write_bytes(gzip.compress(records("x")))
    (folder / "notes.txt").write_text("not a trail file")
    clock = Clock()
    source = make_source(folder, checkpoints, clock, pattern="*.json.gz", delete_after=True)
    collect = Collector()
    await settle(source, clock, collect)
    assert collect.origins() == ["x.json.gz"]

    await collect.batches[0].release("shutting down")
    assert (folder / "x.json.gz").exists()
    await source.scan_once(collect)  # released: offered again
    assert collect.origins() == ["x.json.gz", "x.json.gz"]
    await collect.batches[1].ack()
    assert not (folder / "x.json.gz").exists()
    assert (folder / "notes.txt").exists()
    assert source.stats.counts["files_deleted"] == 1


async def test_a_missing_folder_is_reported_not_fatal(tmp_path: Path, checkpoints: CheckpointStore) -> None:
    clock = Clock()
    source = make_source(tmp_path / "absent", checkpoints, clock)
    collect = Collector()
    await source.scan_once(collect)
    assert not source.ready() and source.stats.counts["scan_errors"] == 1
    (tmp_path / "absent").mkdir()
    (tmp_path / "absent" / "late.json").write_bytes(records("l"))
    await settle(source, clock, collect)
    assert source.ready() and collect.origins() == ["late.json"]


async def test_cancellation_is_re_raised(folder: Path, checkpoints: CheckpointStore) -> None:
    (folder / "a.json").write_bytes(records("a"))
    os.utime(folder / "a.json", (1, 1))
    source = DirectorySource("dir", DirectorySettings(path=folder, interval_seconds=0.01, settle_seconds=0.0),
                             SourceContext(AwsClients(), checkpoints))
    handed: asyncio.Queue[Batch] = asyncio.Queue()
    never = asyncio.Event()

    async def blocked_emit(batch: Batch) -> None:
        await handed.put(batch)
        await never.wait()

    task = asyncio.create_task(source.run(blocked_emit))
    batch = await asyncio.wait_for(handed.get(), timeout=10)
    assert batch.landed_at == 1.0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await source.close()
    assert checkpoints.items("dir") == {}


def test_settings() -> None:
    errors: list[str] = []
    settings = parse_directory(Section({"path": "/var/trail"}, "sources[0]", errors))
    assert errors == []
    assert settings == DirectorySettings(path=Path("/var/trail"))
    assert (settings.pattern, settings.interval_seconds, settings.settle_seconds, settings.delete_after) == (
        "*", 2.0, 1.0, False)
    errors = []
    parse_directory(Section({"pattern": "../*", "delete": True}, "sources[1]", errors))
    assert errors == ["sources[1].path: required", "sources[1].pattern: must be relative to path and stay inside it",
                      "sources[1].delete: unknown key"]
    source = directory.create("dir", settings, SourceContext(AwsClients(), CheckpointStore(":memory:")))
    assert source.kind == "directory" and source.name == "dir"
