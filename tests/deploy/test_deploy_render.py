"""The checked-in renderings are what the kustomize sources produce, and the renderer is kustomize.

``k8s/rendered/{dev,gpu}.yaml`` are produced by ``python k8s/render.py``. These tests
re-render and compare; where ``kubectl`` (which embeds kustomize) is on PATH they also
compare the renderer with ``kubectl kustomize``, object by object.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from deploy_helpers import K8S_DIR, OVERLAYS


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_checked_in_rendering_is_up_to_date(render_module: ModuleType, overlay: str) -> None:
    checked_in = (K8S_DIR / "rendered" / f"{overlay}.yaml").read_text()
    assert render_module.render_overlay(overlay) == checked_in, (
        f"k8s/rendered/{overlay}.yaml is stale: run `python k8s/render.py`"
    )


def test_render_check_cli_reports_fresh_renderings() -> None:
    result = subprocess.run(
        [sys.executable, str(K8S_DIR / "render.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) not on PATH")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_renderer_agrees_with_kubectl_kustomize(render_module: ModuleType, overlay: str) -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S_DIR / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    theirs = [d for d in yaml.safe_load_all(result.stdout) if d is not None]
    ours = render_module.render(K8S_DIR / "overlays" / overlay)
    assert [(d["kind"], d["metadata"]["name"]) for d in ours] == [
        (d["kind"], d["metadata"]["name"]) for d in theirs
    ]
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine == reference, f"{mine['kind']}/{mine['metadata']['name']} differs"


def test_generated_configmap_name_uses_kustomize_hash(render_module: ModuleType) -> None:
    # Reference value printed by kustomize v5.5 for `configMapGenerator: [{name: x, literals: [a=b]}]`.
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}}
    assert render_module.kustomize_hash(obj) == "4h2mbtbbt6"
    obj["data"]["a"] = "c"
    assert render_module.kustomize_hash(obj) != "4h2mbtbbt6"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_renderer_applies_the_supported_subset(render_module: ModuleType, tmp_path: Path) -> None:
    _write(
        tmp_path / "base" / "kustomization.yaml",
        "resources: [deploy.yaml]\n"
        "configMapGenerator:\n- name: cfg\n  literals: [k=v]\n"
        "images:\n- name: app\n  newTag: '1.0'\n",
    )
    _write(
        tmp_path / "base" / "deploy.yaml",
        """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: app
          envFrom: [{configMapRef: {name: cfg}}]
        - name: side
          image: other:2
""",
    )
    _write(
        tmp_path / "over" / "kustomization.yaml",
        "namespace: ns\nresources: [../base]\n"
        "labels:\n- pairs: {team: rl}\n"
        "configMapGenerator:\n- name: cfg\n  behavior: merge\n  literals: [k2=v2]\n"
        "images:\n- name: app\n  newName: reg/app\n"
        "patches:\n"
        "- patch: |\n"
        "    apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: web}\n"
        "    spec: {template: {spec: {containers: [{name: web, args: [--x]}]}}}\n"
        "- target: {kind: Deployment, name: web}\n"
        "  patch: |\n    - {op: add, path: /spec/replicas, value: 3}\n",
    )
    docs = render_module.render(tmp_path / "over")
    cm, deploy = docs
    assert cm["kind"] == "ConfigMap" and cm["data"] == {"k": "v", "k2": "v2"}
    assert cm["metadata"]["name"] == f"cfg-{render_module.kustomize_hash(cm)}"
    assert cm["metadata"]["namespace"] == "ns" and cm["metadata"]["labels"] == {"team": "rl"}
    web, side = deploy["spec"]["template"]["spec"]["containers"]
    assert web["image"] == "reg/app:1.0" and web["args"] == ["--x"]  # merged by name
    assert web["envFrom"][0]["configMapRef"]["name"] == cm["metadata"]["name"]
    assert side == {"name": "side", "image": "other:2"}  # kept, not replaced
    assert deploy["spec"]["replicas"] == 3
    assert deploy["spec"]["selector"] == {"matchLabels": {"app": "web"}}  # includeSelectors off


def test_renderer_rejects_what_it_does_not_support(
    render_module: ModuleType, tmp_path: Path
) -> None:
    _write(tmp_path / "kustomization.yaml", "resources: []\nhelmCharts: [{name: x}]\n")
    with pytest.raises(render_module.KustomizeError, match="helmCharts"):
        render_module.render(tmp_path)
    _write(tmp_path / "kustomization.yaml", "resources: [missing.yaml]\n")
    with pytest.raises(render_module.KustomizeError, match="missing.yaml"):
        render_module.render(tmp_path)
