"""deploy/kubernetes-overlays: replicas sharing their state in Redis, and KEDA scaling them on the queue.

The overlays are rendered by tests/deploy/kustomize.py (no kubectl needed) and, where kubectl is installed,
compared with `kubectl kustomize`. Every built-in resource of the rendering is validated against the
Kubernetes schemas like the base's; the KEDA resources, whose CRDs those schemas lack, are checked field by
field, and the HorizontalPodAutoscaler behaviour inside the ScaledObject against the HPA schema.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from monitor.app import App
from monitor.config import parse_config
from monitor.config.service import CHECKPOINT_ENV
from tests.deploy import kustomize
from tests.deploy.test_kubernetes import ONE_OFF
from tests.deploy.tools import DEPLOY, require_module

BASE = DEPLOY / "kubernetes"
OVERLAYS = DEPLOY / "kubernetes-overlays"
REPLICAS = OVERLAYS / "replicas"
AUTOSCALING = OVERLAYS / "autoscaling"
VERSIONS = ("1.29.0", "1.37.0")  # as tests/deploy/test_kubernetes.py
# Custom resources: the Prometheus Operator's are checked by test_kubernetes.py, KEDA's here.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject", "TriggerAuthentication"}
STATE = {"backend": "redis", "url_env": "TRAILSENTRY_REDIS_URL", "key_prefix": "trailsentry:"}
# The fields of KEDA's ScaledObject spec and of the aws-sqs-queue trigger's metadata (KEDA 2.13+).
SCALED_OBJECT_FIELDS = {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
                        "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback", "advanced", "triggers"}
SQS_TRIGGER_METADATA = {"queueURL", "queueURLFromEnv", "queueLength", "activationQueueLength", "awsRegion",
                        "awsEndpoint", "identityOwner", "scaleOnInFlight", "scaleOnDelayed"}


@cache
def _rendered(directory: Path) -> tuple[dict[str, Any], ...]:
    return tuple(kustomize.build(directory))


def _render(directory: Path) -> list[dict[str, Any]]:
    return copy.deepcopy(list(_rendered(directory)))


def _one(resources: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [r for r in resources if r["kind"] == kind]
    return found


def _pod(deployment: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return pod


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = _pod(deployment)["containers"]
    found: dict[str, Any] = container
    return found


def _config(resources: list[dict[str, Any]]) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(_one(resources, "ConfigMap")["data"]["trailsentry.yaml"])
    return config


@pytest.mark.parametrize("directory", [BASE, REPLICAS, AUTOSCALING], ids=lambda d: d.name)
def test_the_rendering_is_what_kubectl_renders(directory: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        # The rendering above is the check; this comparison only keeps it faithful where kubectl exists.
        pytest.skip("kubectl is not installed: the overlays are checked as tests/deploy/kustomize.py renders them")
    result = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    theirs = kustomize.index([d for d in yaml.safe_load_all(result.stdout) if d])
    ours = kustomize.index(_render(directory))
    assert ours.keys() == theirs.keys()
    for name, resource in ours.items():
        assert resource == theirs[name], name


def test_the_base_renders_as_its_files() -> None:
    files = [d for path in sorted(BASE.glob("*.yaml")) if path.name not in ("kustomization.yaml", *ONE_OFF)
             for d in kustomize.load_documents(path)]
    assert kustomize.index(_render(BASE)) == kustomize.index(files)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("directory", [REPLICAS, AUTOSCALING], ids=lambda d: d.name)
def test_overlay_manifests_validate_against_the_kubernetes_schema(directory: Path, version: str) -> None:
    validator = require_module("kubernetes_validate", "kubernetes-validate")
    built_in = [r for r in _render(directory) if r["kind"] not in CUSTOM_KINDS]
    assert {r["kind"] for r in built_in} >= {"Deployment", "ConfigMap", "PodDisruptionBudget"}
    for resource in built_in:
        validator.validate(resource, version, strict=True)


def test_the_validator_rejects_misspelt_fields_the_overlay_adds() -> None:
    validator = require_module("kubernetes_validate", "kubernetes-validate")
    resources = _render(REPLICAS)
    deployment = _one(resources, "Deployment")
    spread = _pod(deployment)["topologySpreadConstraints"][0]
    spread["whenUnsatisfable"] = spread.pop("whenUnsatisfiable")
    with pytest.raises(validator.ValidationError):
        validator.validate(deployment, VERSIONS[-1], strict=True)
    budget = _one(resources, "PodDisruptionBudget")
    budget["spec"]["minAvailabe"] = budget["spec"].pop("minAvailable")
    with pytest.raises(validator.ValidationError):
        validator.validate(budget, VERSIONS[-1], strict=True)


def test_replicas_share_the_queue_with_their_state_in_redis() -> None:
    base = kustomize.index(_render(BASE))
    resources = _render(REPLICAS)
    overlay = kustomize.index(resources)
    # The claim is gone; everything else of the base is there, and a disruption budget is added.
    assert {k[0] for k in base.keys() - overlay.keys()} == {"PersistentVolumeClaim"}
    assert {k[0] for k in overlay.keys() - base.keys()} == {"PodDisruptionBudget"}
    assert not [r for r in resources if r["kind"] == "Secret"], "the Redis URL is never shipped"
    for name in base.keys() & overlay.keys():
        if name[0] not in ("Deployment", "ConfigMap"):
            assert overlay[name] == base[name], name

    base_deployment = _one(list(base.values()), "Deployment")
    deployment = _one(resources, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate",
                                              "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    pod, container = _pod(deployment), _container(deployment)
    # The data directory (the local outbox) is an emptyDir on disk, bounded, and no longer a claim.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    env = {e["name"]: e for e in container["env"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    data_volume = volumes[mounts[str(Path(env[CHECKPOINT_ENV]["value"]).parent)]]
    assert set(data_volume) == {"name", "emptyDir"}
    assert "medium" not in data_volume["emptyDir"] and data_volume["emptyDir"]["sizeLimit"].endswith("Gi")
    assert not any("persistentVolumeClaim" in v for v in volumes.values())
    # The Redis URL comes from a Secret, by reference.
    redis = env[STATE["url_env"]]
    assert set(redis) == {"name", "valueFrom"} and set(redis["valueFrom"]) == {"secretKeyRef"}
    assert redis["valueFrom"]["secretKeyRef"] == {"name": "trailsentry-redis", "key": "url"}
    # Otherwise the container and the pod are the base's: probes, limits, security, grace period.
    base_container = _container(base_deployment)
    assert [e for e in container["env"] if e["name"] != STATE["url_env"]] == base_container["env"]
    for field in set(base_container) | set(container):
        if field != "env":
            assert container.get(field) == base_container.get(field), field
    for field in set(_pod(base_deployment)) | set(pod):
        if field not in ("volumes", "containers", "topologySpreadConstraints"):
            assert pod.get(field) == _pod(base_deployment).get(field), field
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"  # fails while Redis is unreachable


def test_replicas_spread_over_nodes_and_keep_one_through_disruptions() -> None:
    resources = _render(REPLICAS)
    deployment = _one(resources, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    spread = {c["topologyKey"]: c for c in _pod(deployment)["topologySpreadConstraints"]}
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    assert spread["topology.kubernetes.io/zone"]["whenUnsatisfiable"] == "ScheduleAnyway"
    for constraint in spread.values():
        assert constraint["maxSkew"] == 1
        assert constraint["labelSelector"]["matchLabels"].items() <= pod_labels.items()
    budget = _one(resources, "PodDisruptionBudget")
    assert budget["apiVersion"] == "policy/v1"
    assert budget["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert budget["spec"]["minAvailable"] == 1 < deployment["spec"]["replicas"]
    assert "maxUnavailable" not in budget["spec"]


def test_overlay_config_is_the_base_config_with_the_state_in_redis() -> None:
    resources = _render(REPLICAS)
    text = _one(resources, "ConfigMap")["data"]["trailsentry.yaml"]
    assert text == (REPLICAS / "trailsentry.yaml").read_text(encoding="utf-8")
    config = _config(resources)
    base = _config(_render(BASE))
    assert config.pop("state") == STATE
    assert config == base, "the overlay's config drifted from deploy/kubernetes/configmap.yaml"
    # The variable the config names is the one the Deployment fills from the Secret.
    names = {e["name"] for e in _container(_one(resources, "Deployment"))["env"] if "valueFrom" in e}
    assert STATE["url_env"] in names
    lowered = text.lower()
    for secret_word in ("redis://", "rediss://", "password", "token:", "auth_token", "hooks.slack.com"):
        assert secret_word not in lowered, secret_word


def test_overlay_config_is_valid() -> None:
    config = parse_config(_config(_render(REPLICAS)))  # raises ConfigError listing every problem
    App(config, serve_metrics=True)


def test_readme_tells_how_to_create_the_secret() -> None:
    readme = (REPLICAS / "README.md").read_text(encoding="utf-8")
    [variable] = [e for e in _container(_one(_render(REPLICAS), "Deployment"))["env"] if e["name"] == STATE["url_env"]]
    reference = variable["valueFrom"]["secretKeyRef"]
    namespace = _one(_render(REPLICAS), "Deployment")["metadata"]["namespace"]
    command = (f"kubectl -n {namespace} create secret generic {reference['name']} "
               f"--from-literal={reference['key']}=rediss://")
    assert command in readme
    for setting in ("appendonly yes", "appendfsync everysec", "maxmemory-policy noeviction"):
        assert setting in readme, setting
    for alert in ("TrailsentryStateStoreDown", "TrailsentryReplicasDisagreeOnReadiness",
                  "TrailsentryNoDeliveryLeaseHolder", "TrailsentryStateConflictsHigh", "TrailsentryStateStoreSlow"):
        assert alert in readme, alert
    for directory in (REPLICAS, AUTOSCALING):
        assert f"kubectl apply -k deploy/kubernetes-overlays/{directory.name}" in readme


def test_autoscaling_scales_the_deployment_on_the_queue() -> None:
    resources = _render(AUTOSCALING)
    replicas = kustomize.index(_render(REPLICAS))
    overlay = kustomize.index(resources)
    assert {k[0] for k in overlay.keys() - replicas.keys()} == {"ScaledObject", "TriggerAuthentication"}
    assert not replicas.keys() - overlay.keys()
    deployment = _one(resources, "Deployment")
    # The HPA that KEDA creates owns the replica count; otherwise the Deployment is the replicas overlay's.
    assert "replicas" not in deployment["spec"]
    expected = copy.deepcopy(_one(list(replicas.values()), "Deployment"))
    del expected["spec"]["replicas"]
    assert deployment == expected

    scaled = _one(resources, "ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    spec = scaled["spec"]
    assert set(spec) <= SCALED_OBJECT_FIELDS
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": deployment["metadata"]["name"]}
    budget = _one(resources, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] < spec["minReplicaCount"]
    assert 2 <= spec["minReplicaCount"] < spec["maxReplicaCount"] <= 20
    assert isinstance(spec["pollingInterval"], int) and spec["pollingInterval"] > 0

    [trigger] = spec["triggers"]
    assert set(trigger) == {"type", "metadata", "authenticationRef"}
    assert trigger["type"] == "aws-sqs-queue"
    metadata = trigger["metadata"]
    assert {"queueURL", "queueLength", "awsRegion"} <= set(metadata) <= SQS_TRIGGER_METADATA
    assert all(isinstance(v, str) for v in metadata.values()), "KEDA trigger metadata values are strings"
    assert int(metadata["queueLength"]) > 0
    assert metadata["scaleOnInFlight"] == "false"  # the visible backlog, ApproximateNumberOfMessagesVisible
    # The queue the replicas consume, in its own region.
    [source] = [s for s in _config(resources)["sources"] if s["kind"] == "s3-sqs"]
    assert metadata["queueURL"] == source["queue_url"]
    host = urlparse(metadata["queueURL"]).hostname or ""
    assert re.fullmatch(r"sqs\.([a-z0-9-]+)\.amazonaws\.com", host)
    assert host.split(".")[1] == metadata["awsRegion"]
    # KEDA reads the queue with its operator's IAM role (pod identity), not with credentials in a Secret.
    authentication = _one(resources, "TriggerAuthentication")
    assert authentication["apiVersion"] == "keda.sh/v1alpha1"
    assert trigger["authenticationRef"] == {"name": authentication["metadata"]["name"]}
    assert authentication["metadata"]["namespace"] == scaled["metadata"]["namespace"]
    assert authentication["spec"] == {"podIdentity": {"provider": "aws"}}


def test_the_autoscaler_behaviour_is_a_valid_hpa_behaviour() -> None:
    validator = require_module("kubernetes_validate", "kubernetes-validate")
    spec = _one(_render(AUTOSCALING), "ScaledObject")["spec"]
    assert set(spec["advanced"]) <= {"horizontalPodAutoscalerConfig", "restoreToOriginalReplicaCount",
                                     "scalingModifiers"}
    config = spec["advanced"]["horizontalPodAutoscalerConfig"]
    assert set(config) <= {"name", "behavior"}
    # KEDA copies this into the HorizontalPodAutoscaler it creates: check it as one.
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": "keda-hpa-trailsentry", "namespace": "trailsentry"},
           "spec": {"scaleTargetRef": spec["scaleTargetRef"], "minReplicas": spec["minReplicaCount"],
                    "maxReplicas": spec["maxReplicaCount"], "behavior": config["behavior"]}}
    for version in VERSIONS:
        validator.validate(hpa, version, strict=True)
    # Scaling down stops a replica mid-batch (it drains and hands its messages back): not on a dip.
    assert config["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300


def test_the_renderer_refuses_what_it_does_not_render(tmp_path: Path) -> None:
    document = {"spec": {"items": [{"name": "a"}, {"name": "b"}]}}
    patched = kustomize.json_patch(document, [{"op": "test", "path": "/spec/items/1/name", "value": "b"},
                                              {"op": "add", "path": "/spec/items/-", "value": {"name": "c"}},
                                              {"op": "remove", "path": "/spec/items/0"}])
    assert patched == {"spec": {"items": [{"name": "b"}, {"name": "c"}]}}
    assert document["spec"]["items"][0] == {"name": "a"}, "the input is not changed"
    # A base that changed under a guarded index stops the build, as it stops kustomize.
    with pytest.raises(kustomize.KustomizeError, match="test failed"):
        kustomize.json_patch(document, [{"op": "test", "path": "/spec/items/0/name", "value": "b"}])
    with pytest.raises(kustomize.KustomizeError, match="no index"):
        kustomize.json_patch(document, [{"op": "replace", "path": "/spec/items/5", "value": {}}])
    with pytest.raises(kustomize.KustomizeError, match="not rendered here"):
        kustomize.json_patch(document, [{"op": "move", "from": "/spec", "path": "/other"}])
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n", encoding="utf-8")
    with pytest.raises(kustomize.KustomizeError, match="unsupported kustomization fields"):
        kustomize.build(tmp_path)
