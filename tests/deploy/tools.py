"""Tools the observability and deployment checks need, and where the deploy files are.

Tools from outside Python (`promtool`, `prometheus`: Debian package `prometheus`;
`redis-server`) and the checkers installed with the `test` extra (kubernetes-validate, cfn-lint)
skip a test with a reason only outside CI; under CI (`CI=true`, set by the CI
runner) a missing tool fails the test, so CI cannot pass by skipping.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
from types import ModuleType

import pytest

from tests.helpers import REPO

DEPLOY = REPO / "deploy"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _missing(what: str, install: str) -> None:
    message = f"{what} is not installed ({install})"
    if in_ci():
        pytest.fail(f"{message}; CI must provide it (.ci/run)")
    pytest.skip(message)


def require_tool(name: str, package: str = "prometheus") -> str:
    """The path of a program from Debian package `package` (.ci/run installs the ones the tests use)."""
    path = shutil.which(name)
    if path is None:
        _missing(name, f"apt-get install {package}")
        raise AssertionError("unreachable")
    return path


def require_module(name: str, package: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        _missing(package, f"pip install -e '.[test]' provides {package}")
        raise AssertionError("unreachable") from None


def free_port() -> int:
    """A port that was free a moment ago, for programs that cannot report the port they bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
