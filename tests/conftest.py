from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.aws_emulator import aws, aws_emulator_session
from tests.redis_server import RedisServer

__all__ = ["aws", "aws_emulator_session", "redis_server"]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, with its append-only file in this test's folder."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.kill()
