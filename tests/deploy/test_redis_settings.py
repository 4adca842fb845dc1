"""The Redis settings deploy/kubernetes-overlays/replicas/README.md asks for, on a real redis-server.

The README's block is what an operator copies into redis.conf: these tests run a Redis with exactly those
lines (on a free loopback port, its files in a temporary directory) and show what the README claims of
them: a restart keeps what was written (the append-only file, with snapshots off), and a full Redis
refuses writes instead of evicting keys, even keys with a time to live.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.tools import DEPLOY, free_port, require_tool

README = DEPLOY / "kubernetes-overlays" / "replicas" / "README.md"


def documented_settings() -> dict[str, str]:
    """The `name value` lines of the README's fenced block that sets appendonly."""
    blocks = README.read_text(encoding="utf-8").split("```")[1::2]
    [block] = [b for b in blocks if "appendonly yes" in b]
    settings: dict[str, str] = {}
    for line in block.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, value = line.split(None, 1)
            settings[name] = value
    return settings


class Redis:
    """A redis-server of the test's own, spoken to in RESP over a socket."""

    def __init__(self, directory: Path, settings: dict[str, str]) -> None:
        self.port = free_port()
        config = directory / "redis.conf"
        lines = [f"{name} {value}" for name, value in settings.items()]
        lines += [f"port {self.port}", "bind 127.0.0.1", f"dir {directory}", 'save ""', "daemonize no",
                  f"logfile {directory / 'redis.log'}"]
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.process = subprocess.Popen([require_tool("redis-server", "redis-server"), str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.sock = self._connect()
        self.buffer = b""

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                error = self.process.stderr.read() if self.process.stderr else b""
                raise AssertionError(f"redis-server exited: {error!r}")
            try:
                return socket.create_connection(("127.0.0.1", self.port), timeout=10)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __call__(self, *args: str | bytes) -> Any:
        parts = [a if isinstance(a, bytes) else a.encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        return self._reply()

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _reply(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            if int(rest) < 0:
                return None
            while len(self.buffer) < int(rest) + 2:
                self.buffer += self.sock.recv(65536)
            data, self.buffer = self.buffer[:int(rest)], self.buffer[int(rest) + 2:]
            return data.decode()
        if kind == b"*":
            return [self._reply() for _ in range(int(rest))]
        raise AssertionError(f"unexpected reply {line!r}")

    def stop(self) -> None:
        self.sock.close()
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis flushes the append-only file and exits
            self.process.wait(timeout=20)
        if self.process.stderr:
            self.process.stderr.close()


class RedisError(str):
    pass


@pytest.fixture
def start_redis(tmp_path: Path) -> Iterator[Any]:
    started: list[Redis] = []

    def start(settings: dict[str, str]) -> Redis:
        redis = Redis(tmp_path, settings)
        started.append(redis)
        return redis

    yield start
    for redis in started:
        redis.stop()


def test_the_readme_asks_for_the_append_only_file_and_no_eviction() -> None:
    settings = documented_settings()
    assert settings == {"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction"}


def test_a_restarted_redis_keeps_what_was_written(start_redis: Any) -> None:
    settings = documented_settings()
    redis = start_redis(settings)
    for name, value in settings.items():
        assert redis("CONFIG", "GET", name) == [name, value]
    assert redis("CONFIG", "GET", "save") == ["save", ""], "no snapshots: only the append-only file persists"
    assert redis("SET", "trailsentry:window", "3", "EX", "3600") == "OK"
    assert redis("HSET", "trailsentry:seen", "event-1", "1") == 1
    redis.stop()  # a clean stop fsyncs; `appendfsync everysec` bounds a crash's loss to about a second
    restarted = start_redis(settings)
    assert restarted("GET", "trailsentry:window") == "3"
    assert restarted("HGET", "trailsentry:seen", "event-1") == "1"
    assert 0 < restarted("TTL", "trailsentry:window") <= 3600


def test_a_full_redis_refuses_writes_instead_of_evicting_state(start_redis: Any) -> None:
    redis = start_redis(documented_settings())
    used = int(next(line.split(":")[1] for line in redis("INFO", "memory").splitlines()
                    if line.startswith("used_memory:")))
    assert redis("CONFIG", "SET", "maxmemory", str(used + 256 * 1024)) == "OK"
    value = "x" * 4096
    refused = None
    for index in range(1000):  # 4 MB at most: far beyond the 256 kB left
        reply = redis("SET", f"trailsentry:key:{index}", value, "EX", "3600")
        if isinstance(reply, RedisError):
            refused = (index, reply)
            break
    assert refused is not None, "writes past maxmemory were accepted"
    written, error = refused
    assert error.startswith("OOM"), error
    assert written > 0
    # Everything written before the refusal is still there: nothing was evicted to make room.
    assert redis("DBSIZE") == written
    assert redis("GET", "trailsentry:key:0") == value
