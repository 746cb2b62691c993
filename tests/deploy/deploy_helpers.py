"""Shared helpers of the deployment tests (paths, loaders, pod-template walkers).

Everything is read from the checked-in files; nothing needs a cluster, a Docker daemon
or the network. Imported by name from the test modules (pytest puts this folder on
sys.path), so it has a name no other test folder uses.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO / "docker"
K8S_DIR = REPO / "k8s"
OVERLAYS = ("dev", "gpu")
DOCKERFILES = sorted(DOCKER_DIR.glob("*.Dockerfile"))
# The Kubernetes version the manifests are validated against (kubernetes-validate ships it).
K8S_VERSION = "1.33.0"
KUBERAY_SCHEMA = Path(__file__).parent / "schemas" / "kuberay-v1.4.2.yaml"


def load_render_module() -> ModuleType:
    """k8s/render.py, imported by path (k8s/ is not a package)."""
    spec = importlib.util.spec_from_file_location("fsrl_k8s_render", K8S_DIR / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def kubectl_patch(obj: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """``obj`` after the JSON6902 ``ops``, applied by ``kubectl patch --local`` (no cluster)."""
    kubectl = load_render_module().kubectl()
    result = subprocess.run(
        [
            kubectl,
            "patch",
            "--local",
            "-f",
            "-",
            "--type=json",
            "-p",
            json.dumps(ops),
            "-o",
            "yaml",
        ],
        input=yaml.safe_dump(obj),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl patch {ops}: {result.stderr}"
    patched: dict[str, Any] = yaml.safe_load(result.stdout)
    return patched


def load_rendered(overlay: str) -> list[dict[str, Any]]:
    text = (K8S_DIR / "rendered" / f"{overlay}.yaml").read_text()
    return [d for d in yaml.safe_load_all(text) if d is not None]


def pod_templates(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every pod spec inside a workload, built-in or KubeRay, as (where, pod spec)."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    spec = obj.get("spec", {})
    found: list[tuple[str, dict[str, Any]]] = []
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        found.append((f"{kind}/{name}", spec["template"]["spec"]))
    elif kind == "CronJob":
        found.append((f"{kind}/{name}", spec["jobTemplate"]["spec"]["template"]["spec"]))
    elif kind == "Pod":
        found.append((f"{kind}/{name}", spec))
    elif kind == "RayCluster":
        found.extend(_ray_cluster_pods(f"{kind}/{name}", spec))
    elif kind == "RayJob":
        if "rayClusterSpec" in spec:
            found.extend(_ray_cluster_pods(f"{kind}/{name}", spec["rayClusterSpec"]))
        if "submitterPodTemplate" in spec:
            found.append((f"{kind}/{name}/submitter", spec["submitterPodTemplate"]["spec"]))
    return found


def _ray_cluster_pods(where: str, spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    pods = [(f"{where}/head", spec["headGroupSpec"]["template"]["spec"])]
    for group in spec.get("workerGroupSpecs", []):
        pods.append((f"{where}/{group['groupName']}", group["template"]["spec"]))
    return pods


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return list(pod.get("initContainers", [])) + list(pod.get("containers", []))


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    for doc in docs:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise KeyError(f"no {kind}/{name} among {[(d['kind'], d['metadata']['name']) for d in docs]}")


_MODULE_RE = re.compile(r"python3? -m ([A-Za-z_][\w.]*)")


def python_modules(text: str) -> set[str]:
    """The modules a text starts with `python -m MODULE` (shell strings, YAML, Dockerfiles)."""
    return set(_MODULE_RE.findall(text))


def exec_form_modules(node: Any) -> set[str]:
    """`["python", "-m", "X", ...]` lists anywhere in a parsed YAML/JSON tree."""
    found: set[str] = set()
    if isinstance(node, dict):
        for value in node.values():
            found |= exec_form_modules(value)
    elif isinstance(node, list):
        for i in range(len(node) - 2):
            if (
                node[i] in ("python", "python3")
                and node[i + 1] == "-m"
                and isinstance(node[i + 2], str)
            ):
                found.add(node[i + 2])
        for value in node:
            found |= exec_form_modules(value)
    elif isinstance(node, str):
        found |= python_modules(node)
    return found
