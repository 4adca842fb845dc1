"""Fixtures shared by the source tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from monitor.aws.clients import AwsClients
from monitor.checkpoint import CheckpointStore


@pytest.fixture
async def clients() -> AsyncIterator[AwsClients]:
    created = AwsClients()
    yield created
    await created.close()


@pytest.fixture
def checkpoints(tmp_path: Path) -> CheckpointStore:
    return CheckpointStore(tmp_path / "checkpoints.sqlite")
