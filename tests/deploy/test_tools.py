"""A missing tool skips a check on a developer's machine and fails it in CI."""

from __future__ import annotations

import pytest

from tests.deploy.tools import require_module, require_tool


def test_missing_tool_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        require_tool("trailsentry-no-such-tool")
    with pytest.raises(pytest.skip.Exception, match="apt-get install redis-server"):
        require_tool("trailsentry-no-such-tool", "redis-server")
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        require_module("trailsentry_no_such_module", "no-such-package")


def test_missing_tool_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must provide it"):
        require_tool("trailsentry-no-such-tool")
    with pytest.raises(pytest.fail.Exception, match="CI must provide it"):
        require_module("trailsentry_no_such_module", "no-such-package")


def test_present_tools_are_found() -> None:
    assert require_module("yaml", "PyYAML").safe_load("a: 1") == {"a": 1}
