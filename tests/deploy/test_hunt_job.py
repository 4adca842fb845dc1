"""deploy/kubernetes/hunt-job.yaml: the sharded hunt as an Indexed Job, one shard per index, hardened as the service.

The Job, its ServiceAccount and its results claim are schema-valid; the shard count is the same in the Job's
completions, parallelism and `--shard`; each index writes its own output and state on the results volume; the pod
runs the Deployment's image with the Deployment's hardening, under an identity of its own (IRSA).
"""

from __future__ import annotations

import copy
import fnmatch
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.cli import _parser
from monitor.offline.hunt.command import hunt_query
from monitor.offline.hunt.layout import Shard
from tests.deploy.test_kubernetes import K8S, ONE_OFF, VERSIONS
from tests.deploy.tools import require_module

JOB = K8S / "hunt-job.yaml"
INDEX = "$(JOB_COMPLETION_INDEX)"


def _documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")) if d]


def _one(kind: str) -> dict[str, Any]:
    [found] = [d for name in (*ONE_OFF, "deployment.yaml", "service.yaml") for d in _documents(name)
               if d["kind"] == kind]
    return found


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = workload["spec"]["template"]["spec"]
    return pod


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    [container] = _pod(workload)["containers"]
    found: dict[str, Any] = container
    return found


def _option(args: list[str], name: str) -> str:
    assert args.count(name) == 1, name
    return args[args.index(name) + 1]


def _shards() -> int:
    shard = _option(_container(_one("Job"))["args"], "--shard")
    index, _, count = shard.partition("/")
    assert index == INDEX and count.isdigit(), shard
    return int(count)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", ONE_OFF)
def test_hunt_manifests_validate_against_the_kubernetes_schema(name: str, version: str) -> None:
    validator = require_module("kubernetes_validate", "kubernetes-validate")
    documents = _documents(name)
    assert documents, name
    for document in documents:
        validator.validate(document, version, strict=True)
        assert document["metadata"]["namespace"] == "trailsentry"


def test_the_validator_rejects_a_misspelt_job_field() -> None:
    validator = require_module("kubernetes_validate", "kubernetes-validate")
    job = copy.deepcopy(_one("Job"))
    job["spec"]["backoffLimitPerIndx"] = job["spec"].pop("backoffLimitPerIndex")
    with pytest.raises(validator.ValidationError):
        validator.validate(job, VERSIONS[0], strict=True)


def test_one_index_per_shard_each_retried_on_its_own() -> None:
    job = _one("Job")
    spec = job["spec"]
    shards = _shards()
    assert shards == 4
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == shards
    assert 1 <= spec["backoffLimitPerIndex"] <= 5
    assert 1 <= spec["maxFailedIndexes"] <= shards
    assert "backoffLimit" not in spec  # with a per-index limit, a global one would stop healthy shards
    assert spec["ttlSecondsAfterFinished"] > 0
    # A retried index gets a new pod; a usage error is not retried at all.
    assert _pod(job)["restartPolicy"] == "Never"
    [usage] = [r for r in spec["podFailurePolicy"]["rules"] if "onExitCodes" in r]
    assert usage["action"] == "FailIndex" and usage["onExitCodes"]["values"] == [2]
    assert usage["onExitCodes"]["containerName"] == _container(job)["name"]


def test_the_shard_index_comes_from_the_job_completion_index() -> None:
    container = _container(_one("Job"))
    env = {e["name"]: e for e in container["env"]}
    field = env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert field == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    # Kubernetes expands $(NAME) in args only for names declared in env.
    for arg in container["args"]:
        for name in re.findall(r"\$\((\w+)\)", arg):
            assert name in env, arg
    args = container["args"]
    assert args[0] == "scan" and args[1].startswith("s3://")
    assert _option(args, "--format") == "jsonl"
    assert "--no-progress" in args and "--org" in args
    assert _option(args, "--since") < _option(args, "--until")


def test_each_index_writes_its_own_output_and_state_on_the_results_volume() -> None:
    job = _one("Job")
    container = _container(job)
    args = container["args"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in _pod(job)["volumes"]}
    claim = _one("PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # the shards run at once, on any node
    paths = [_option(args, "--output"), _option(args, "--state")]
    for path in paths:
        assert INDEX in path, path
        mount = mounts[str(Path(path).parent)]
        assert not mount.get("readOnly", False)
        assert volumes[mount["name"]]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    rendered = [path.replace(INDEX, str(index)) for index in range(_shards()) for path in paths]
    assert len(set(rendered)) == 2 * _shards()
    # The merge the header tells to run reads every shard's output, and the real parser takes it.
    header = JOB.read_text(encoding="utf-8").split("\napiVersion:")[0]
    [merge] = [line.strip(" #") for line in header.splitlines() if line.strip(" #").startswith("trailsentry merge")]
    command = shlex.split(merge)[1:]
    parsed = _parser().parse_args(command)
    assert [Path(p).parent for p in parsed.files] == [Path(paths[0]).parent]
    outputs = rendered[::2]
    assert all(fnmatch.fnmatch(output, parsed.files[0]) for output in outputs)
    assert not any(fnmatch.fnmatch(state, parsed.files[0]) for state in rendered[1::2])
    assert parsed.output is not None and str(parsed.output) not in rendered


def test_the_pod_runs_the_deployments_image_with_its_hardening() -> None:
    job, deployment = _one("Job"), _one("Deployment")
    container, service_container = _container(job), _container(deployment)
    for key in ("image", "imagePullPolicy", "securityContext"):
        assert container[key] == service_container[key], key
    assert _pod(job)["securityContext"] == _pod(deployment)["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert _pod(job)["automountServiceAccountToken"] is False
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind
    # The root filesystem is read-only: /tmp is an emptyDir, the rest of what it writes is on the results volume.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in _pod(job)["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert set(mounts) == {"/tmp", str(Path(_option(container["args"], "--output")).parent)}


def test_the_hunt_has_its_own_read_only_identity() -> None:
    job, deployment = _one("Job"), _one("Deployment")
    account = _one("ServiceAccount")
    assert _pod(job)["serviceAccountName"] == account["metadata"]["name"] != _pod(deployment)["serviceAccountName"]
    role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role.startswith("arn:aws:iam::") and ":role/" in role
    assert account["automountServiceAccountToken"] is False


def test_the_services_selectors_leave_the_hunt_pods_alone() -> None:
    labels = _one("Job")["spec"]["template"]["metadata"]["labels"]
    for selector in (_one("Service")["spec"]["selector"], _one("Deployment")["spec"]["selector"]["matchLabels"]):
        assert not selector.items() <= labels.items(), selector


@pytest.mark.parametrize("index", [0, 3])
def test_the_real_parser_takes_the_jobs_arguments(index: int) -> None:
    args = [arg.replace(INDEX, str(index)) for arg in _container(_one("Job"))["args"]]
    parsed = _parser().parse_args(args)
    query = hunt_query(parsed)
    assert query.shard == Shard(index, _shards())
    assert query.organizations and query.window.since < query.window.until
    assert parsed.state is not None and parsed.output is not None
