"""deploy/kubernetes: AWS's address ranges are fetched by an init container into the file the config names.

Static checks only: nothing here downloads anything.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import parse_config
from monitor.rules.aws_ranges import PUBLISHED_URL
from tests.deploy import kustomize
from tests.deploy.test_kubernetes import _container, _load, _service_config
from tests.deploy.tools import DEPLOY

REPLICAS = DEPLOY / "kubernetes-overlays" / "replicas"
AUTOSCALING = DEPLOY / "kubernetes-overlays" / "autoscaling"


def _ranges_file(config: dict[str, Any]) -> Path:
    path = parse_config(config).rules.aws_ip_ranges_file
    assert path is not None and path.is_absolute()
    return path


def _check(deployment: dict[str, Any], config: dict[str, Any]) -> None:
    pod = deployment["spec"]["template"]["spec"]
    main = _container(deployment)
    [init] = pod["initContainers"]
    wanted = _ranges_file(config)
    # The init container is the monitor's own image running the download module into the file the config names.
    assert init["image"] == main["image"]
    command = init["command"]
    assert command[:3] == ["python", "-m", "monitor.rules.aws_ranges"]
    assert importlib.util.find_spec(command[2]) is not None
    assert Path(command[command.index("--output") + 1]) == wanted
    assert "--url" not in command  # the published file (PUBLISHED_URL), nothing else
    assert PUBLISHED_URL == "https://ip-ranges.amazonaws.com/ip-ranges.json"
    # Shared through an emptyDir: written by the init container, read-only for the monitor.
    init_mounts = {m["mountPath"]: m for m in init["volumeMounts"]}
    main_mounts = {m["mountPath"]: m for m in main["volumeMounts"]}
    folder = str(wanted.parent)
    assert not init_mounts[folder].get("readOnly", False)
    assert main_mounts[folder]["readOnly"] is True
    assert init_mounts[folder]["name"] == main_mounts[folder]["name"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[init_mounts[folder]["name"]]
    # As locked down as the monitor itself.
    security = init["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["runAsNonRoot"] is True and security["capabilities"]["drop"] == ["ALL"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(init["resources"][kind]), kind


def test_the_init_container_writes_the_file_the_configmap_names() -> None:
    _check(_load("deployment.yaml"), _service_config())


@pytest.mark.parametrize("directory", [REPLICAS, AUTOSCALING], ids=lambda d: d.name)
def test_the_overlays_keep_the_init_container_and_the_setting(directory: Path) -> None:
    resources = kustomize.build(directory)
    [deployment] = [r for r in resources if r["kind"] == "Deployment"]
    [configmap] = [r for r in resources if r["kind"] == "ConfigMap"]
    _check(deployment, yaml.safe_load(configmap["data"]["trailsentry.yaml"]))
