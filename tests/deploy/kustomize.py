"""A small kustomize build, for the tests: only what deploy/ uses, and an error for anything else.

The overlays in deploy/kubernetes-overlays are rendered here without kubectl: resources (files and
directories, recursively), JSON patches (RFC 6902: add, remove, replace, test) with a target, the
strategic-merge `$patch: delete` of a whole resource, and a configMapGenerator that replaces or creates a
ConfigMap without a name hash. Where kubectl is installed, the tests compare this rendering with
`kubectl kustomize`, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

_KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "patches", "configMapGenerator"}


class KustomizeError(Exception):
    """The kustomization asks for something this renderer does not do, or a patch does not apply."""


def load_documents(path: Path) -> list[Resource]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def build(directory: Path) -> list[Resource]:
    kustomization: dict[str, Any] = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(kustomization) - _KUSTOMIZATION_KEYS
    if unknown:
        raise KustomizeError(f"{directory}: unsupported kustomization fields {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        resources.extend(build(path) if path.is_dir() else load_documents(path))
    for generator in kustomization.get("configMapGenerator", []):
        _generate_config_map(directory, generator, resources)
    for patch in kustomization.get("patches", []):
        _apply_patch(directory, patch, resources)
    return resources


def key(resource: Resource) -> tuple[str, str, str]:
    metadata = resource.get("metadata", {})
    return resource["kind"], metadata.get("namespace", ""), metadata["name"]


def index(resources: list[Resource]) -> dict[tuple[str, str, str], Resource]:
    found: dict[tuple[str, str, str], Resource] = {}
    for resource in resources:
        if key(resource) in found:
            raise KustomizeError(f"duplicate resource {key(resource)}")
        found[key(resource)] = resource
    return found


def _generate_config_map(directory: Path, generator: dict[str, Any], resources: list[Resource]) -> None:
    unknown = set(generator) - {"name", "namespace", "behavior", "files", "options"}
    options = generator.get("options", {})
    if unknown or set(options) - {"disableNameSuffixHash", "labels", "annotations"}:
        raise KustomizeError(f"unsupported configMapGenerator fields in {generator}")
    if options.get("disableNameSuffixHash") is not True:
        raise KustomizeError("a generated name hash is not rendered here: set options.disableNameSuffixHash")
    data: dict[str, str] = {}
    for entry in generator.get("files", []):
        name, _, relative = entry.rpartition("=") if "=" in entry else ("", "", entry)
        path = directory / relative
        data[name or path.name] = path.read_text(encoding="utf-8")
    metadata: dict[str, Any] = {"name": generator["name"]}
    if "namespace" in generator:
        metadata["namespace"] = generator["namespace"]
    for field in ("labels", "annotations"):
        if field in options:
            metadata[field] = dict(options[field])
    config_map: Resource = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}
    behavior = generator.get("behavior", "create")
    existing = [i for i, r in enumerate(resources) if key(r) == key(config_map)]
    if behavior == "create" and not existing:
        resources.append(config_map)
    elif behavior == "replace" and len(existing) == 1:
        resources[existing[0]] = config_map
    else:
        raise KustomizeError(f"configMapGenerator {generator['name']}: behavior {behavior} with "
                             f"{len(existing)} existing ConfigMap(s) is not rendered here")


def _apply_patch(directory: Path, patch: dict[str, Any], resources: list[Resource]) -> None:
    if set(patch) - {"path", "patch", "target"}:
        raise KustomizeError(f"unsupported patch fields in {patch}")
    text = (directory / patch["path"]).read_text(encoding="utf-8") if "path" in patch else patch["patch"]
    body = yaml.safe_load(text)
    if isinstance(body, list):
        if "target" not in patch:
            raise KustomizeError("a JSON patch needs a target")
        targets = [i for i, r in enumerate(resources) if _matches(r, patch["target"])]
        if not targets:
            raise KustomizeError(f"no resource matches the patch target {patch['target']}")
        for position in targets:
            resources[position] = json_patch(resources[position], body)
        return
    if isinstance(body, dict) and body.get("$patch") == "delete" and "target" not in patch:
        doomed = {k: v for k, v in body.items() if k != "$patch"}
        matching = [r for r in resources if key(r) == key(doomed) and r["apiVersion"] == doomed["apiVersion"]]
        if len(matching) != 1:
            raise KustomizeError(f"$patch: delete matches {len(matching)} resources: {key(doomed)}")
        resources.remove(matching[0])
        return
    raise KustomizeError(f"only JSON patches and `$patch: delete` are rendered here, not {text[:80]!r}")


def _matches(resource: Resource, target: dict[str, str]) -> bool:
    group, _, version = resource["apiVersion"].rpartition("/")
    metadata = resource.get("metadata", {})
    wanted = {"group": group, "version": version, "kind": resource["kind"], "name": metadata.get("name"),
              "namespace": metadata.get("namespace")}
    if set(target) - set(wanted):
        raise KustomizeError(f"unsupported target fields in {target}")
    return all(wanted[field] == value for field, value in target.items())


def json_patch(document: Resource, operations: list[dict[str, Any]]) -> Resource:
    """RFC 6902 add, remove, replace and test; the document is not changed, a patched copy is returned."""
    patched = copy.deepcopy(document)
    for operation in operations:
        op, path = operation["op"], operation["path"]
        parent, last = _walk(patched, path)
        if op == "test":
            if _get(parent, last, path) != operation["value"]:
                raise KustomizeError(f"test failed at {path}: {_get(parent, last, path)!r} != {operation['value']!r}")
        elif op == "remove":
            _get(parent, last, path)
            del parent[_index(parent, last, path) if isinstance(parent, list) else last]
        elif op == "replace":
            _get(parent, last, path)
            parent[_index(parent, last, path) if isinstance(parent, list) else last] = \
                copy.deepcopy(operation["value"])
        elif op == "add":
            value = copy.deepcopy(operation["value"])
            if isinstance(parent, list):
                position = len(parent) if last == "-" else _index(parent, last, path, end_ok=True)
                parent.insert(position, value)
            else:
                parent[last] = value
        else:
            raise KustomizeError(f"JSON patch operation {op} is not rendered here")
    return patched


def _walk(document: Any, path: str) -> tuple[Any, str]:
    if not path.startswith("/"):
        raise KustomizeError(f"bad JSON pointer {path!r}")
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]
    node = document
    for token in tokens[:-1]:
        node = _get(node, token, path)
    return node, tokens[-1]


def _get(node: Any, token: str, path: str) -> Any:
    if isinstance(node, list):
        return node[_index(node, token, path)]
    if isinstance(node, dict) and token in node:
        return node[token]
    raise KustomizeError(f"{path}: no {token!r}")


def _index(node: list[Any], token: str, path: str, end_ok: bool = False) -> int:
    if not token.isdigit() or int(token) > len(node) or (int(token) == len(node) and not end_ok):
        raise KustomizeError(f"{path}: no index {token!r} in a list of {len(node)}")
    return int(token)
