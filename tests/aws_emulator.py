"""moto's server on loopback, reached over real HTTP by aiobotocore.

One server per test session (starting it is the slow part); `aws` resets its
state before each test that uses it.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from moto.server import ThreadedMotoServer

from monitor.demo.emulator import DUMMY_CREDENTIALS, REGION


@dataclass(frozen=True)
class Emulator:
    endpoint_url: str
    region: str = REGION

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


@pytest.fixture(scope="session")
def aws_emulator_session() -> Iterator[Emulator]:
    # moto's dummy credentials, and no credential files: nothing here can reach real AWS.
    saved = {key: os.environ.get(key) for key in DUMMY_CREDENTIALS}
    os.environ.update(DUMMY_CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield Emulator(endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def aws(aws_emulator_session: Emulator) -> Emulator:
    aws_emulator_session.reset()
    return aws_emulator_session
