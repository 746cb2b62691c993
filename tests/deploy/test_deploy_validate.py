"""Every rendered manifest passes schema validation: built-in kinds against the pinned
Kubernetes version with ``kubernetes-validate --strict``, KubeRay's RayCluster and RayJob
against the vendored KubeRay schema (tests/deploy/schemas/) with ``jsonschema``."""

from __future__ import annotations

import copy
import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import referencing
import yaml
from deploy_helpers import K8S_DIR, K8S_VERSION, KUBERAY_SCHEMA, OVERLAYS, load_rendered

CRD_KINDS = {("ray.io/v1", "RayCluster"), ("ray.io/v1", "RayJob")}


@functools.cache
def _kuberay_validators() -> dict[str, jsonschema.protocols.Validator]:
    schema = yaml.safe_load(KUBERAY_SCHEMA.read_text())
    strict_dir = (
        Path(kubernetes_validate.__file__).parent
        / "kubernetes-json-schema"
        / f"v{K8S_VERSION}-local-strict"
    )
    k8s_defs = referencing.Resource.from_contents(
        yaml.safe_load((strict_dir / "_definitions.json").read_text())
    )
    registry = referencing.Registry().with_resources(
        [(schema["$id"], referencing.Resource.from_contents(schema)), (k8s_defs.id(), k8s_defs)]
    )
    return {
        kind: jsonschema.Draft202012Validator(
            {"$ref": f"{schema['$id']}#/kinds/{kind}"}, registry=registry
        )
        for kind in schema["kinds"]
    }


def _crd_errors(doc: dict[str, Any]) -> list[str]:
    validator = _kuberay_validators()[doc["kind"]]
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


def _docs(overlay: str) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{overlay}:{d['kind']}/{d['metadata']['name']}", d) for d in load_rendered(overlay)]


ALL_DOCS = [item for overlay in OVERLAYS for item in _docs(overlay)]


@pytest.mark.parametrize(("where", "doc"), ALL_DOCS, ids=[w for w, _ in ALL_DOCS])
def test_rendered_document_is_valid(where: str, doc: dict[str, Any]) -> None:
    if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
        assert _crd_errors(doc) == [], where
    else:
        # Raises ValidationError (or SchemaNotFoundError for a kind it does not know).
        version = kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        assert version == K8S_VERSION.rsplit(".", 1)[0]


def test_kubernetes_validate_cli_passes_on_rendered_files() -> None:
    """The documented command: kubernetes-validate --strict on both files (CRDs warn only)."""
    files = [str(K8S_DIR / "rendered" / f"{o}.yaml") for o in OVERLAYS]
    result = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "-k", K8S_VERSION, *files],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" not in result.stdout


def _raycluster() -> dict[str, Any]:
    return copy.deepcopy(next(d for _, d in _docs("gpu") if d["kind"] == "RayCluster"))


def test_kuberay_schema_rejects_bad_clusters() -> None:
    """The vendored schema can fail: the mistakes it exists to catch."""
    good = _raycluster()
    assert _crd_errors(good) == []

    numeric_param = _raycluster()
    numeric_param["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] = 0
    assert any("rayStartParams" in e for e in _crd_errors(numeric_param))

    typo = _raycluster()
    typo["spec"]["workerGroupSpecs"][0]["replica"] = 3
    assert any("replica" in e for e in _crd_errors(typo))

    bad_container = _raycluster()
    bad_container["spec"]["workerGroupSpecs"][1]["template"]["spec"]["containers"][0][
        "imagePullPolicy"
    ] = 7
    assert any("imagePullPolicy" in e for e in _crd_errors(bad_container))

    negative = _raycluster()
    negative["spec"]["workerGroupSpecs"][0]["minReplicas"] = -1
    assert any("minReplicas" in e for e in _crd_errors(negative))


def test_kuberay_schema_rejects_bad_jobs() -> None:
    job = copy.deepcopy(next(d for _, d in _docs("dev") if d["kind"] == "RayJob"))
    assert _crd_errors(job) == []
    job["spec"]["submissionMode"] = "HttpMode"
    assert any("submissionMode" in e for e in _crd_errors(job))


def test_kubernetes_validate_strict_rejects_unknown_fields() -> None:
    doc = copy.deepcopy(next(d for _, d in _docs("dev") if d["kind"] == "StatefulSet"))
    doc["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
