"""What the images install, built the way their Dockerfiles build it.

The actor and learner images run ``pip install .`` on the context that /.dockerignore
lets through; the edge image copies pyproject.toml, README.md and robot_edge/ only,
installs the `edge` extra it reads from pyproject.toml with the Dockerfile's own
snippet, then the package with --no-deps. Both are rebuilt here as wheels (no network:
--no-build-isolation) and their contents checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from deploy_helpers import DOCKER_DIR, REPO


def _build_wheel(src: Path, out: Path) -> zipfile.ZipFile:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            ".",
        ],
        cwd=src,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    (wheel,) = out.glob("*.whl")
    return zipfile.ZipFile(wheel)


def _copy(paths: list[str], dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for rel in paths:
        source = REPO / rel
        if source.is_dir():
            shutil.copytree(source, dest / rel, ignore=ignore)
        else:
            shutil.copy2(source, dest / rel)


def test_edge_image_holds_robot_edge_with_pyzmq_and_numpy_only(tmp_path: Path) -> None:
    dockerfile = (DOCKER_DIR / "edge.Dockerfile").read_text()
    build_stage = dockerfile.split("\nFROM ", 2)[1]
    copies = re.findall(r"^COPY (?!--)(.+) \S+$", build_stage, re.M)
    sources = [tok.rstrip("/") for line in copies for tok in line.split()]
    src = tmp_path / "src"
    src.mkdir()
    _copy(sources, src)
    # The Dockerfile's own snippet that turns pyproject's `edge` extra into a list.
    snippet = re.search(r'python -c "(import tomllib;[^"]+)"', dockerfile)
    assert snippet, "edge.Dockerfile reads the edge extra from pyproject.toml"
    listed = subprocess.run(
        [sys.executable, "-c", snippet.group(1)],
        cwd=src,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert {re.split(r"[<>=!~]", r)[0] for r in listed} == {"pyzmq", "numpy"}
    wheel = _build_wheel(src, tmp_path / "dist")
    top = {
        name.split("/")[0]
        for name in wheel.namelist()
        if not name.split("/")[0].endswith(".dist-info")
    }
    assert top == {"robot_edge"}
    assert "robot_edge/server.py" in wheel.namelist() and "robot_edge/pair.py" in wheel.namelist()


def test_host_images_hold_every_package_and_config(tmp_path: Path) -> None:
    lines = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()]
    allowed = [ln[1:].rstrip("/") for ln in lines if ln.startswith("!")]
    src = tmp_path / "src"
    src.mkdir()
    _copy(allowed, src)
    names = set(_build_wheel(src, tmp_path / "dist").namelist())
    for package in ("actors", "learner", "replay", "envs", "robot_edge", "conf"):
        for init in (REPO / package).rglob("__init__.py"):
            assert str(init.relative_to(REPO)) in names, init
    for path in (
        "learner/main.py",
        "learner/evaluate.py",
        "learner/cold_start.py",
        "robot_edge/pair.py",
    ):
        if (REPO / path).exists():
            assert path in names, path
    yamls = [str(p.relative_to(REPO)) for p in (REPO / "conf").rglob("*.yaml")]
    assert "conf/config.yaml" in yamls
    missing = [y for y in yamls if y not in names]
    assert not missing, f"Hydra configs missing from the installed package: {missing}"
