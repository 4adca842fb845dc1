"""`trailsentry demo --replicas N` as a user runs it: N replicas sharing state in a real redis-server give
the alerts of one, print who delivered them, and leave nothing running; without Redis it says what it needs."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from monitor.demo.scenarios import MISSION_DETECTORS
from tests.demo.test_run import MISSION, WAIT, _env, _start
from tests.helpers import alerts_of, wait_until
from tests.redis_server import RedisServer, require_redis_server

SEED = "20260301"
RUN = ("--duration", "6", "--speed", "12", "--format", "jsonl", "--seed", SEED)


def final_alerts(stdout: bytes) -> list[tuple[Any, ...]]:
    """Every alert in its last version, without what depends on the wall clock (times, hence ids).

    Which events a burst's first emission lists depends on the order in which the objects holding them
    arrive (a burst split over two regions' objects reaches its count with the first object's events),
    and the demo's queue hands objects to one process and to two replicas in different orders; the
    alerts themselves, their counts and how many events they list do not change."""
    newest: dict[str, dict[str, Any]] = {}
    for alert in alerts_of(stdout):
        if alert["id"] not in newest or alert["count"] >= newest[alert["id"]]["count"]:
            newest[alert["id"]] = alert
    return sorted((a["detector"], a["account"], a["principal"], a["source_ip"], a["severity"], a["count"],
                   len(a["event_ids"])) for a in newest.values())


def redis_port(stderr: str) -> int:
    found = re.search(r"redis-server the demo started on 127\.0\.0\.1:(\d+)", stderr)
    assert found, stderr
    return int(found.group(1))


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
    except OSError:
        return True
    return False


async def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, bytes, str]:
    process = await _start(*args, env=env)
    stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode is not None
    return process.returncode, stdout, stderr.decode()


@pytest.mark.slow
async def test_two_replicas_give_the_alerts_of_one_and_say_who_delivered_them() -> None:
    require_redis_server()
    (one, one_out, one_err), (two, two_out, two_err) = await asyncio.gather(
        _run(*RUN), _run(*RUN, "--replicas", "2"))
    assert one == 0, one_err
    assert two == 0, two_err
    assert "Traceback" not in one_err + two_err
    reference = final_alerts(one_out)
    assert {alert[0] for alert in reference} >= MISSION_DETECTORS | MISSION
    assert final_alerts(two_out) == reference, (one_err[-2000:], two_err[-2000:])
    assert "replica" not in one_err  # one replica: the demo as it was, state kept locally
    # A line per replica at the start, one of them holding the delivery lease; at the end what each did.
    started = re.findall(r"replica (\d) of 2, id (\S+): (holds the delivery lease|holds no lease)", two_err)
    assert sorted(number for number, _, _ in started) == ["1", "2"], two_err
    assert [lease for _, _, lease in started].count("holds the delivery lease") == 1, two_err
    done = re.findall(r"replica (\d), id (\S+): applied (\d+) log files.*; (held|did not hold) the delivery lease",
                      two_err)
    assert [held for _, _, _, held in done].count("held") == 1, two_err
    assert {(number, name) for number, name, _, _ in done} == {(number, name) for number, name, _ in started}
    written = int(re.search(r"wrote (\d+) log files", two_err).group(1))  # type: ignore[union-attr]
    assert sum(int(applied) for _, _, applied, _ in done) >= written
    assert refuses(redis_port(two_err))  # its redis-server stopped with it


@pytest.mark.slow
async def test_ctrl_c_stops_every_replica_and_their_redis_server() -> None:
    require_redis_server()
    process = await _start("--speed", "12", "--format", "text", "--replicas", "3")
    assert process.stdout is not None and process.stderr is not None
    first = await asyncio.wait_for(process.stdout.readline(), WAIT)
    assert first.startswith(b"[replica "), first  # the line names the replica that printed it
    process.send_signal(signal.SIGINT)
    rest, stderr = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
    assert all(line.startswith(b"[replica ") for line in rest.splitlines()), rest
    assert len(re.findall(r"replica \d, id \S+: applied", stderr.decode())) == 3
    assert refuses(redis_port(stderr.decode()))


@pytest.mark.slow
async def test_a_killed_demo_takes_its_redis_server_with_it() -> None:
    require_redis_server()
    process = await _start("--speed", "12", "--format", "jsonl", "--replicas", "2")
    assert process.stderr is not None
    line = ""
    while "redis-server the demo started" not in line:
        line = (await asyncio.wait_for(process.stderr.readline(), WAIT)).decode()
        assert line, "the demo ended without naming its redis-server"
    port = redis_port(line)
    process.kill()
    await asyncio.wait_for(process.wait(), WAIT)
    await wait_until(lambda: refuses(port), "the redis-server to stop with the demo", within=WAIT)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", password="demo-secret-pw")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.mark.slow
async def test_an_existing_redis_is_used_without_showing_its_url_and_left_clean(own_redis: RedisServer) -> None:
    code, stdout, stderr = await _run(*RUN, "--replicas", "2", env=_env(TRAILSENTRY_REDIS_URL=own_redis.url))
    assert code == 0, stderr
    assert {alert["detector"] for alert in alerts_of(stdout)} >= MISSION
    assert "the Redis named by TRAILSENTRY_REDIS_URL" in stderr
    assert "demo-secret-pw" not in stderr and not re.search(rf"\b{own_redis.port}\b", stderr)
    client = aioredis.Redis.from_url(own_redis.url)
    try:
        assert await client.dbsize() == 0  # the demo's keys were removed
    finally:
        await client.aclose()


async def test_replicas_without_redis_say_what_they_need(tmp_path: Path) -> None:
    # A PATH without redis-server, and no Redis named: a paragraph saying what to do, usage exit code.
    env = _env(PATH=str(tmp_path))
    env.pop("TRAILSENTRY_REDIS_URL", None)
    code, stdout, stderr = await _run("--duration", "1", "--replicas", "2", env=env)
    assert code == 2
    assert stdout == b""
    assert "Traceback" not in stderr
    assert "apt-get install redis-server" in stderr and "--redis-url" in stderr
    assert stderr.count("\n") == 1, stderr  # one paragraph
