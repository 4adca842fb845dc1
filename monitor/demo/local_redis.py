"""The Redis that `trailsentry demo --replicas N` shares its state in.

One the user names (`--redis-url`, else the environment variable `TRAILSENTRY_REDIS_URL`), or else a
`redis-server` of the demo's own: a child process on a free loopback port, in a folder of the demo's
temporary directory, with the append-only file on and no RDB snapshots, in a session of its own (a
Ctrl-C on the terminal reaches the demo, which stops it once the replicas have stopped) and, on
Linux, stopped by the kernel if the demo itself is killed. A URL may hold a password: it is never
printed; it reaches the replicas through a file that only this user can read.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.alerts.secrets import Secret
from monitor.demo.emulator import DemoUnavailable

REDIS_URL_ENV = "TRAILSENTRY_REDIS_URL"
NEEDS_REDIS = (
    "`trailsentry demo --replicas {count}` runs {count} replicas of the service that share their detection "
    "state in Redis, and there is none to use: redis-server is not on the PATH and no Redis was named. Either "
    "install redis-server (Debian and Ubuntu: apt-get install redis-server), and the demo starts its own on a "
    "free loopback port and stops it at the end; or name a Redis or Valkey you run with --redis-url "
    "redis://[:PASSWORD@]HOST:PORT/DB (or the environment variable {env}), where the demo's keys get a prefix "
    "of their own and are removed at the end. Without either, run the demo with one replica (--replicas 1, the "
    "default), which keeps its state locally."
)
START_SECONDS = 15.0  # for redis-server to answer PING
STOP_SECONDS = 10.0
_PORT_ATTEMPTS = 3  # another process may take the free port first


@dataclass(frozen=True, slots=True)
class RedisChoice:
    """Where the replicas' Redis is: a URL (possibly with a password), or a server the demo starts."""

    url: Secret | None
    described: str  # printable: never the URL
    binary: str | None = None  # redis-server to start


def choose_redis(url_option: str | None, replicas: int) -> RedisChoice | None:
    """None when the state stays local (one replica, no --redis-url); raises DemoUnavailable without any Redis."""
    if url_option:
        return RedisChoice(Secret(url_option.strip()), "the Redis named by --redis-url")
    if replicas <= 1:
        return None
    from_env = os.environ.get(REDIS_URL_ENV, "").strip()
    if from_env:
        return RedisChoice(Secret(from_env), f"the Redis named by {REDIS_URL_ENV}")
    binary = shutil.which("redis-server")
    if binary is None:
        raise DemoUnavailable(NEEDS_REDIS.format(count=replicas, env=REDIS_URL_ENV))
    return RedisChoice(None, "a redis-server the demo started", binary)


class LocalRedis:
    """`redis-server` on 127.0.0.1 and a free port, its files in `folder`; `stop` leaves nothing running."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary = binary
        self.folder = folder
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> Secret:
        return Secret(f"redis://127.0.0.1:{self.port}/0")

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        problem = ""
        for _ in range(_PORT_ATTEMPTS):
            self.port = _free_port()
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--protected-mode", "yes",
                 "--dir", str(self.folder), "--appendonly", "yes", "--save", "", "--daemonize", "no",
                 "--logfile", str(self.folder / "redis.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True, preexec_fn=_stop_with_parent())
            problem = self._wait_ready()
            if not problem:
                return
            self.stop()
        raise DemoUnavailable(f"redis-server did not start: {problem}")

    def _wait_ready(self) -> str:
        """'' once it answers PING; else why not (it exited: its last log line)."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return f"it exited with status {self.process.returncode}: {self._last_log_line()}"
            if _answers_ping(self.port):
                return ""
            time.sleep(0.02)  # a poll interval while it starts
        return f"it did not answer within {START_SECONDS:g}s: {self._last_log_line()}"

    def _last_log_line(self) -> str:
        with contextlib.suppress(OSError):
            lines = (self.folder / "redis.log").read_text(errors="replace").strip().splitlines()
            if lines:
                return lines[-1][-300:]
        return "no log"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as connection:
        connection.sendall(b"PING\r\n")
        return connection.recv(64).startswith(b"+PONG")
    return False


def _stop_with_parent() -> Callable[[], None] | None:
    """On Linux: the child gets SIGTERM when the demo dies, even by SIGKILL (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def in_child() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the demo died before that: do not outlive it
            os._exit(1)

    return in_child


def write_url_file(url: Secret, folder: Path) -> Path:
    """The URL in a file only this user can read, for the config's `state.url_file`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "redis-url"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(url.reveal() + "\n")
    return path
