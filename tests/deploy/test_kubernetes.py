"""deploy/kubernetes: schema-valid manifests, wired to each other and to the service's behaviour."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.app import ALERT_DELIVERY_STOP_SECONDS, FINAL_CHECKPOINT_SECONDS, App
from monitor.config import parse_config
from monitor.config.service import CHECKPOINT_ENV, DEFAULT_DRAIN_SECONDS
from monitor.configreader import Section
from monitor.metrics.settings import DEFAULT_PORT, parse_metrics
from tests.deploy.tools import DEPLOY, require_module

K8S = DEPLOY / "kubernetes"
# The oldest Kubernetes still commonly run on EKS, and the newest the bundled schemas know.
VERSIONS = ("1.29.0", "1.37.0")
BUILT_IN = ("namespace.yaml", "serviceaccount.yaml", "configmap.yaml", "persistentvolumeclaim.yaml",
            "deployment.yaml", "service.yaml")
CUSTOM = ("servicemonitor.yaml", "prometheusrule.yaml")
# The sharded hunt: a one-off Job with its own identity and results volume, applied by hand (see hunt-job.yaml),
# never part of the running service, so not in the kustomization; tests/deploy/test_hunt_job.py checks them.
ONE_OFF = ("hunt-serviceaccount.yaml", "hunt-results-pvc.yaml", "hunt-job.yaml")


def _load(name: str) -> dict[str, Any]:
    documents = [d for d in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")) if d]
    assert len(documents) == 1, name
    document: dict[str, Any] = documents[0]
    return document


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    container_spec: dict[str, Any] = container
    return container_spec


def _service_config() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(_load("configmap.yaml")["data"]["trailsentry.yaml"])
    return data


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", BUILT_IN)
def test_manifest_validates_against_the_kubernetes_schema(name: str, version: str) -> None:
    validator = require_module("kubernetes_validate", "kubernetes-validate")
    validator.validate(_load(name), version, strict=True)


def test_the_validator_rejects_a_misspelt_field() -> None:
    validator = require_module("kubernetes_validate", "kubernetes-validate")
    deployment = _load("deployment.yaml")
    broken = copy.deepcopy(deployment)
    _container(broken)["readinesProbe"] = _container(broken).pop("readinessProbe")
    with pytest.raises(validator.ValidationError):
        validator.validate(broken, VERSIONS[-1], strict=True)
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "one"
    with pytest.raises(validator.ValidationError):
        validator.validate(wrong_type, VERSIONS[-1], strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = _load("kustomization.yaml")
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present - set(ONE_OFF) == set(BUILT_IN) | set(CUSTOM)
    assert set(ONE_OFF) <= present
    for name in present:
        assert _load(name)["metadata"].get("namespace", "trailsentry") == "trailsentry", name


def test_deployment_probes_security_and_shutdown() -> None:
    deployment = _load("deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": DEFAULT_PORT}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["runAsNonRoot"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "add" not in security["capabilities"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    # SIGTERM starts a drain bounded by service.drain_seconds; the pod must be allowed that plus time to commit.
    drain = float(_service_config().get("service", {}).get("drain_seconds", DEFAULT_DRAIN_SECONDS))
    assert drain == DEFAULT_DRAIN_SECONDS == 20
    # Worst case: the drain, the final checkpoint, the alert hand-off, then closing clients: keep a margin.
    worst = drain + FINAL_CHECKPOINT_SECONDS + ALERT_DELIVERY_STOP_SECONDS
    assert worst + 5 <= pod["terminationGracePeriodSeconds"] <= drain + 30
    # Writable paths are volumes: the state directory (checkpoint, outbox) and /tmp.
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    env = {e["name"]: e.get("value") for e in container["env"]}
    state_dir = str(Path(env[CHECKPOINT_ENV]).parent)
    assert state_dir in mounts and not mounts[state_dir].get("readOnly", False)
    assert "/tmp" in mounts
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "persistentVolumeClaim" in volumes[mounts[state_dir]["name"]]
    assert volumes[mounts[state_dir]["name"]]["persistentVolumeClaim"]["claimName"] == \
        _load("persistentvolumeclaim.yaml")["metadata"]["name"]
    # The config file the container is told to read is the ConfigMap's.
    args = container["args"]
    config_path = Path(args[args.index("--config") + 1])
    assert args[0] == "run"
    assert mounts[str(config_path.parent)]["readOnly"] is True
    config_volume = volumes[mounts[str(config_path.parent)]["name"]]
    assert config_volume["configMap"]["name"] == _load("configmap.yaml")["metadata"]["name"]
    assert config_path.name in _load("configmap.yaml")["data"]
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # one pod at a time on the state volume
    assert pod["serviceAccountName"] == _load("serviceaccount.yaml")["metadata"]["name"]
    labels = deployment["spec"]["selector"]["matchLabels"]
    assert labels.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_service_account_is_annotated_for_irsa() -> None:
    account = _load("serviceaccount.yaml")
    role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role.startswith("arn:aws:iam::") and ":role/" in role
    assert account["automountServiceAccountToken"] is False


def test_configmap_holds_a_valid_s3_sqs_config() -> None:
    data = _service_config()
    config = parse_config(data)  # raises ConfigError listing every problem
    App(config, serve_metrics=True)  # what `run` checks beyond the file: sinks, routes, metrics
    [source] = config.live.sources
    assert source.kind == "s3-sqs"
    assert source.settings.queue_url.startswith("https://sqs.")
    assert str(config.live.checkpoint.path).startswith("/var/lib/trailsentry/")
    errors: list[str] = []
    metrics = parse_metrics(Section(data, "", errors))
    assert not errors and metrics.enabled and metrics.port == DEFAULT_PORT and metrics.host == "0.0.0.0"
    text = _load("configmap.yaml")["data"]["trailsentry.yaml"].lower()
    for secret_word in ("hooks.slack.com", "password", "secret_access", "xoxb-", "token:"):
        assert secret_word not in text


def test_service_and_service_monitor_select_the_pod() -> None:
    deployment = _load("deployment.yaml")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = _load("service.yaml")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    [port] = service["spec"]["ports"]
    assert port["name"] == "metrics" and port["targetPort"] == "metrics" and port["port"] == DEFAULT_PORT
    # The alert rules expect job="trailsentry": the ServiceMonitor's job label is the Service's name.
    assert service["metadata"]["name"] == "trailsentry"

    monitor = _load("servicemonitor.yaml")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["kind"] == "ServiceMonitor"
    assert set(monitor["spec"]) <= {"selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels"}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    [endpoint] = monitor["spec"]["endpoints"]
    assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme", "relabelings"}
    assert endpoint["port"] == port["name"] and endpoint["path"] == "/metrics"
    assert _seconds(endpoint["scrapeTimeout"]) < _seconds(endpoint["interval"])


def _seconds(duration: str) -> int:
    assert duration[-1] in "sm" and duration[:-1].isdigit(), duration
    return int(duration[:-1]) * (60 if duration.endswith("m") else 1)


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate_prometheusrule", K8S / "generate_prometheusrule.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prometheus_rule_is_generated_from_the_alert_rules() -> None:
    generator = _generator()
    alerts = (DEPLOY / "prometheus" / "alerts.yml").read_text(encoding="utf-8")
    committed = (K8S / "prometheusrule.yaml").read_text(encoding="utf-8")
    assert committed == generator.render(alerts), "run deploy/kubernetes/generate_prometheusrule.py"
    assert generator.main(["--check"]) == 0
    rule = yaml.safe_load(committed)
    assert rule["apiVersion"] == "monitoring.coreos.com/v1" and rule["kind"] == "PrometheusRule"
    assert set(rule["spec"]) == {"groups"}
    assert rule["spec"]["groups"] == yaml.safe_load(alerts)["groups"]
    for group in rule["spec"]["groups"]:
        assert set(group) <= {"name", "interval", "rules"}
        for entry in group["rules"]:
            assert set(entry) <= {"alert", "record", "expr", "for", "labels", "annotations"}
            assert isinstance(entry["expr"], str) and entry["alert"]


def test_the_generator_notices_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = _generator()
    stale = tmp_path / "prometheusrule.yaml"
    stale.write_text("# old\n", encoding="utf-8")
    monkeypatch.setattr(generator, "OUTPUT", stale)
    assert generator.main(["--check"]) == 1
    assert generator.main([]) == 0
    assert generator.main(["--check"]) == 0
