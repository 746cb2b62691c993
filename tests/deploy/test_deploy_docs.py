"""docs/deploy.md stays true to the manifests: the files it names exist, its kubectl
patches hit the actor group, its label selectors find pods, its Secrets are the ones
the manifests read."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from deploy_helpers import REPO, find, kubectl_patch, load_rendered, pod_templates

DOCS = (REPO / "docs" / "deploy.md").read_text()


def _template_labels(docs: list[dict[str, Any]]) -> list[dict[str, str]]:
    labels = []
    for doc in docs:
        spec = doc.get("spec", {})
        if doc["kind"] == "RayCluster":
            templates = [spec["headGroupSpec"]["template"]] + [
                g["template"] for g in spec["workerGroupSpecs"]
            ]
        elif "template" in spec:
            templates = [spec["template"]]
        else:
            templates = []
        labels.extend(t.get("metadata", {}).get("labels", {}) for t in templates)
    return labels


def test_named_files_exist() -> None:
    paths = set(re.findall(r"\b((?:k8s|docker|tests/deploy)/[\w./{},-]*\w)", DOCS))
    assert paths
    for path in paths:
        if "{" in path or "<" in path or path.endswith("redis-*.yaml"):
            continue
        assert (REPO / path).exists(), path


def test_kubectl_patches_scale_the_actor_group() -> None:
    patches = re.findall(
        r"kubectl -n fsrl patch raycluster fsrl --type=json \\\s*-p '([^']*)'", DOCS
    )
    assert len(patches) == 2
    cluster = find(load_rendered("gpu"), "RayCluster", "fsrl")
    for text in patches:
        ops = json.loads(text)
        patched = kubectl_patch(cluster, ops)
        changed = [
            g["groupName"]
            for g, before in zip(
                patched["spec"]["workerGroupSpecs"],
                cluster["spec"]["workerGroupSpecs"],
                strict=True,
            )
            if g != before
        ]
        assert changed == ["actors"], text
        assert patched["spec"]["headGroupSpec"] == cluster["spec"]["headGroupSpec"]


@pytest.mark.parametrize("overlay", ["dev", "gpu"])
def test_label_selectors_find_pods(overlay: str) -> None:
    selectors = set(re.findall(r"-l ([\w./-]+)=([\w.-]+)", DOCS))
    assert selectors
    labels = _template_labels(load_rendered(overlay))
    for key, value in selectors:
        assert any(lbl.get(key) == value for lbl in labels), f"-l {key}={value}"


def test_secrets_in_the_docs_are_the_ones_the_manifests_read() -> None:
    created = set(re.findall(r"create secret generic ([\w-]+)", DOCS))
    referenced: set[str] = set()
    for doc in load_rendered("gpu"):
        for _, pod in pod_templates(doc):
            for container in pod.get("containers", []):
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        referenced.add(ref["name"])
            for volume in pod.get("volumes", []):
                if "secret" in volume:
                    referenced.add(volume["secret"]["secretName"])
    assert created == referenced == {"fsrl-redis", "fsrl-robot-keys"}
    # The robot key Secret's keys are the ones the actor pods project.
    keys = set(re.findall(r"--from-file=([\w.]+)=", DOCS))
    assert keys == {"self.key", "self.key_secret", "pi.key"}


def test_ports_and_services_in_the_docs_exist() -> None:
    docs = load_rendered("gpu")
    head = find(docs, "RayCluster", "fsrl")["spec"]["headGroupSpec"]["template"]["spec"]
    ports = {p["name"]: p["containerPort"] for p in head["containers"][0]["ports"]}
    assert ports["dashboard"] == 8265 and ports["metrics"] == 8080
    assert (
        "svc/fsrl-head-svc 8265:8265" in DOCS
    )  # KubeRay names the head service <cluster>-head-svc
    assert "{port: metrics}" in DOCS
