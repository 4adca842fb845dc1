"""deploy/Dockerfile, checked by reading it: no container engine runs here, so `docker build` is not run.

What can be run is: the HEALTHCHECK command itself, against a real server.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from monitor.config.service import CHECKPOINT_ENV
from monitor.metrics.collector import Telemetry
from monitor.metrics.server import MetricsServer
from monitor.metrics.settings import DEFAULT_PORT, MetricsSettings
from tests.deploy.tools import DEPLOY, REPO, free_port

DOCKERFILE = DEPLOY / "Dockerfile"
SECRET_NAMES = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL|WEBHOOK|API_KEY|ACCESS_KEY|PRIVATE", re.I)


@dataclass
class Instruction:
    keyword: str
    arguments: str


def _instructions(text: str) -> list[Instruction]:
    """Dockerfile instructions with line continuations joined and comment lines dropped."""
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        if line.strip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "dangling line continuation"
    found = []
    for line in logical:
        keyword, _, arguments = line.strip().partition(" ")
        found.append(Instruction(keyword.upper(), arguments.strip()))
    return found


def _stages() -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for instruction in _instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if instruction.keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _env(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword == "ENV":
            for name, value in re.findall(r"(\w+)=(\S+)", instruction.arguments):
                env[name] = value
    return env


def _one(stage: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in stage if i.keyword == keyword]
    assert len(found) == 1, f"{keyword}: {found}"
    return found[0]


def test_multi_stage_build_on_a_slim_base() -> None:
    stages = _stages()
    assert len(stages) >= 2
    names = [stage[0].arguments.split() for stage in stages]
    assert all(len(parts) == 3 and parts[1].upper() == "AS" for parts in names), names
    build, runtime = stages[0], stages[-1]
    arg = [i.arguments for i in _instructions(DOCKERFILE.read_text(encoding="utf-8")) if i.keyword == "ARG"]
    assert any(re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim(-\w+)?", a) for a in arg), arg
    # Only the built virtualenv reaches the runtime stage; no compilers or build tools are installed there.
    copies = [i.arguments for i in runtime if i.keyword == "COPY"]
    assert copies and all(c.startswith(f"--from={names[0][2]} ") for c in copies), copies
    assert not any(i.keyword == "RUN" and re.search(r"\b(pip|apt-get|gcc)\b", i.arguments) for i in runtime)
    assert any(i.keyword == "RUN" and "compileall" in i.arguments for i in build)


def test_runs_as_a_numeric_non_root_user() -> None:
    runtime = _stages()[-1]
    users = [i.arguments for i in runtime if i.keyword == "USER"]
    assert users, "the runtime stage sets USER"
    user = users[-1]
    assert re.fullmatch(r"\d+(:\d+)?", user), "numeric, so Kubernetes' runAsNonRoot can verify it"
    uid = int(user.split(":")[0])
    assert uid != 0
    deployment = yaml.safe_load((DEPLOY / "kubernetes" / "deployment.yaml").read_text(encoding="utf-8"))
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == uid
    last = [i.keyword for i in runtime].index("USER")
    assert not any(i.keyword == "RUN" for i in runtime[last:]), "nothing runs as root after USER"


def test_read_only_root_filesystem_ready() -> None:
    runtime = _stages()[-1]
    env = _env(runtime)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    state_dir = str(Path(env[CHECKPOINT_ENV]).parent)
    volume = json.loads(_one(runtime, "VOLUME").arguments)
    assert volume == [state_dir] == ["/var/lib/trailsentry"]
    deployment = yaml.safe_load((DEPLOY / "kubernetes" / "deployment.yaml").read_text(encoding="utf-8"))
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert state_dir in {m["mountPath"] for m in container["volumeMounts"]}
    assert _one(runtime, "WORKDIR").arguments == state_dir  # relative paths land on the volume too


def test_entrypoint_port_and_healthcheck() -> None:
    runtime = _stages()[-1]
    assert json.loads(_one(runtime, "ENTRYPOINT").arguments) == ["trailsentry"]
    command = json.loads(_one(runtime, "CMD").arguments)
    assert command[:2] == ["run", "--config"]
    assert _one(runtime, "EXPOSE").arguments == str(DEFAULT_PORT)
    healthcheck = _healthcheck()
    assert healthcheck[0] == "python" and "urllib.request" in healthcheck[-1]
    assert f"http://127.0.0.1:{DEFAULT_PORT}/healthz" in healthcheck[-1]
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "curl" not in text and "wget" not in text


def _healthcheck() -> list[str]:
    arguments = _one(_stages()[-1], "HEALTHCHECK").arguments
    options, _, command = arguments.partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    result: list[str] = json.loads(command)
    return result


async def test_the_healthcheck_command_passes_on_a_live_server_and_fails_without_one() -> None:
    healthcheck = _healthcheck()
    server = MetricsServer(Telemetry(), MetricsSettings(host="127.0.0.1", port=0))
    await server.start()
    try:
        live = [sys.executable, *healthcheck[1:-1],
                healthcheck[-1].replace(f":{DEFAULT_PORT}/", f":{server.port}/")]
        result = await asyncio.to_thread(subprocess.run, live, capture_output=True, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
    finally:
        await server.stop()
    closed = [sys.executable, *healthcheck[1:-1], healthcheck[-1].replace(f":{DEFAULT_PORT}/", f":{free_port()}/")]
    result = await asyncio.to_thread(subprocess.run, closed, capture_output=True, timeout=60, check=False)
    assert result.returncode != 0


def test_no_secrets_in_the_image_definition() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    for instruction in _instructions(text):
        if instruction.keyword in ("ENV", "ARG"):
            for name in re.findall(r"(\w+)=", instruction.arguments) or [instruction.arguments.split("=")[0]]:
                assert not SECRET_NAMES.search(name), f"{instruction.keyword} {name}"
    assert not re.search(r"AKIA[0-9A-Z]{16}|hooks\.slack\.com|BEGIN [A-Z ]*PRIVATE KEY", text)
    assert not any(i.keyword == "ADD" for i in _instructions(text)), "COPY only: no remote downloads"


def test_build_context_holds_what_the_copies_need() -> None:
    build = _stages()[0]
    sources: list[str] = []
    for instruction in build:
        if instruction.keyword == "COPY" and not instruction.arguments.startswith("--from"):
            sources.extend(instruction.arguments.split()[:-1])
    assert sources
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: missing from the repository"
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").split("\n")
    rules = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", "everything is excluded unless listed"
    included = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert {source.rstrip("/").removeprefix("./") for source in sources} <= included
