"""The entry points that the images, compose file, manifests and docs call exist and run.

Each is started in a subprocess the way a container would start it: ``--help`` for the
argparse tools, and for ``python -m learner.main`` a Hydra dry run (``--cfg job``) with
the exact overrides the RayJob and the compose file pass, so a misspelled key in a
ConfigMap fails here rather than in a cluster. The subprocesses run concurrently to
keep the wall time down. The edge tools also run with every host-only package
blocked, as on the Pi image (pyzmq + numpy only).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_helpers import (
    DOCKER_DIR,
    DOCKERFILES,
    OVERLAYS,
    REPO,
    exec_form_modules,
    find,
    load_rendered,
)

# The entry points of the deployment (issue 6); every one referenced anywhere must be here.
ENTRY_POINTS = {
    "learner.main",
    "learner.evaluate",
    "learner.cold_start",
    "robot_edge.server",
    "robot_edge.pair",
    # The weight relay to the Pi (docs/deploy.md, pairing section).
    "learner.robot_relay",
}
HOST_ONLY = (
    "torch",
    "ray",
    "redis",
    "hydra",
    "omegaconf",
    "gymnasium",
    "learner",
    "actors",
    "replay",
    "envs",
    "conf",
)
_BLOCK_HOST_PACKAGES = f"""
import importlib.abc, runpy, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {HOST_ONLY!r}:
            raise ImportError('not on the edge image: ' + name)
sys.meta_path.insert(0, _Block())
runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)
"""
TIMEOUT_S = 120
# Top-level packages of the project (python -m venv / pip in a Dockerfile are not entry points).
PROJECT_PACKAGES = {"learner", "robot_edge", "actors", "replay", "envs", "conf"}


def _referenced_modules() -> dict[str, set[str]]:
    """Module -> the deployment files that run it with `python -m`."""
    found: dict[str, set[str]] = {}

    def add(modules: set[str], where: str) -> None:
        for module in modules:
            if module.split(".")[0] not in PROJECT_PACKAGES:
                continue
            found.setdefault(module, set()).add(where)

    for dockerfile in DOCKERFILES:
        add(exec_form_modules(dockerfile.read_text()), dockerfile.name)
        for match in re.finditer(r"^CMD (\[.*\])$", dockerfile.read_text(), re.M):
            add(exec_form_modules(yaml.safe_load(match.group(1))), dockerfile.name)
    for compose in DOCKER_DIR.glob("compose*.yaml"):
        add(exec_form_modules(yaml.safe_load(compose.read_text())), compose.name)
    for overlay in OVERLAYS:
        add(exec_form_modules(load_rendered(overlay)), f"k8s/rendered/{overlay}.yaml")
    docs = REPO / "docs" / "deploy.md"
    if docs.is_file():
        add(exec_form_modules(docs.read_text()), "docs/deploy.md")
    return found


def _overrides_of(overlay: str) -> list[str]:
    """The argv after `python -m learner.main` that the RayJob's entrypoint builds.

    The entrypoint string runs through /bin/sh as Ray runs it, with the ConfigMap's files
    where the pod mounts them (moved to a temporary folder) and REDIS_PASSWORD=pw.
    """
    docs = load_rendered(overlay)
    files = find(docs, "ConfigMap", "fsrl-training")["data"]
    entrypoint = find(docs, "RayJob", "fsrl-train")["spec"]["entrypoint"]
    driver = "python -m learner.main"
    assert entrypoint.startswith(driver + " "), entrypoint
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            Path(tmp, name).write_text(text)
        script = entrypoint.replace("/etc/fsrl/training", tmp).replace(driver, "printf '%s\\n'", 1)
        result = subprocess.run(
            ["sh", "-c", script],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "REDIS_PASSWORD": "pw"},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    return result.stdout.split("\n")[:-1]


def _compose_overrides() -> list[str]:
    compose = yaml.safe_load((DOCKER_DIR / "compose.yaml").read_text())
    command = compose["services"]["learner"]["command"][2]
    driver = command.split("exec python -m learner.main", 1)[1]
    expanded = re.sub(r"\$\{([A-Z_]+):-([^}]*)\}", r"\2", driver)
    expanded = expanded.replace("$${REDIS_PASSWORD}", "pw")
    return expanded.split()


def _commands() -> dict[str, list[str]]:
    """One run per entry point: learner.main as the gpu overlay's RayJob starts it (a dry
    run that composes the config), the edge tools as the edge image has them (host
    packages blocked), the other tools with --help. Every overlay's and the compose
    file's overrides are also composed and validated in-process below."""
    py = sys.executable
    commands = {
        f"{module} --help": [py, "-m", module, "--help"]
        for module in ("learner.evaluate", "learner.cold_start", "learner.robot_relay")
    }
    # The production overlay's argv (dev's and compose's compose in-process, below: one
    # torch-importing start of learner.main is enough to prove the module starts).
    for overlay in ("gpu",):
        commands[f"learner.main --cfg job ({overlay})"] = [
            py,
            "-m",
            "learner.main",
            "--cfg",
            "job",
            *_overrides_of(overlay),
        ]
    for module in ("robot_edge.server", "robot_edge.pair"):
        commands[f"{module} --help (edge only)"] = [
            py,
            "-c",
            _BLOCK_HOST_PACKAGES,
            module,
            "--help",
        ]
    return commands


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0"}
    procs = {
        name: subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for name, argv in _commands().items()
    }
    results: dict[str, subprocess.CompletedProcess[str]] = {}
    try:
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=TIMEOUT_S)
            results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out)
        yield results
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_every_referenced_entry_point_is_a_known_one() -> None:
    referenced = _referenced_modules()
    assert set(referenced) <= ENTRY_POINTS, {
        m: w for m, w in referenced.items() if m not in ENTRY_POINTS
    }
    assert {"learner.main", "robot_edge.server", "robot_edge.pair"} <= set(referenced)


@pytest.mark.parametrize("module", sorted(ENTRY_POINTS))
def test_entry_point_module_exists(module: str) -> None:
    assert importlib.util.find_spec(module) is not None, f"python -m {module}: no such module"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rayjob_entrypoint_expands_to_one_override_per_word(overlay: str) -> None:
    overrides = _overrides_of(overlay)
    assert overrides[:3] == [
        "ray.address=auto",
        "replay.redis_url=redis://:pw@redis:6379/0",
        f"actors.num={int(find(load_rendered(overlay), 'ConfigMap', 'fsrl-training')['data']['actors_num'])}",
    ]
    assert all(re.fullmatch(r"[+]{0,2}[\w./-]+=\S+", o) for o in overrides), overrides
    assert not any(o.startswith("#") for o in overrides)
    assert len(overrides) > 3


def test_every_entry_point_is_run() -> None:
    ran = {argv[argv.index("-m") + 1] if "-m" in argv else argv[3] for argv in _commands().values()}
    assert ran == ENTRY_POINTS


@pytest.mark.parametrize("name", sorted(_commands()))
def test_entry_point_runs(runs: dict[str, Any], name: str) -> None:
    result = runs[name]
    assert result.returncode == 0, f"{name} exited {result.returncode}:\n{result.stdout[-3000:]}"
    if "--cfg job" in name:
        composed = yaml.safe_load(result.stdout)
        assert composed["ray"]["address"] == "auto"
        assert composed["replay"]["redis_url"] == "redis://:pw@redis:6379/0"
        assert composed["actors"]["num"] >= 1
    else:
        assert "usage" in result.stdout.lower() or "help" in result.stdout.lower(), result.stdout


@pytest.mark.parametrize("source", [*OVERLAYS, "compose"])
def test_deployed_overrides_pass_config_validation(source: str) -> None:
    """Beyond composing: the values are valid (conf.load_config raises ValueError naming one)."""
    import conf

    overrides = _compose_overrides() if source == "compose" else _overrides_of(source)
    cfg = conf.load_config([o for o in overrides if not o.startswith("hydra.")])
    assert cfg.ray.address == "auto"
    assert cfg.replay.redis_url == "redis://:pw@redis:6379/0"


def _documented_robot_runs() -> list[list[str]]:
    """The robot override sets docs/deploy.md and compose.yaml tell people to use."""
    runs = []
    docs = (REPO / "docs" / "deploy.md").read_text()
    for block in re.findall(r"^```[a-z]*\n(.*?)^```", docs, re.S | re.M):
        if block.startswith("experiment=gopigo"):
            runs.append(block.replace("PI_ADDRESS", "10.0.0.5").split())
    for text in (docs, (DOCKER_DIR / "compose.yaml").read_text()):
        for match in re.finditer(r'FSRL_OVERRIDES="([^"]*)"', text):
            runs.append(match.group(1).replace("#", " ").split())
    return runs


def test_documented_robot_overrides_are_valid() -> None:
    import conf

    runs = _documented_robot_runs()
    assert len(runs) >= 3, runs  # the cluster block, the compose comment, the docs' compose line
    for overrides in runs:
        base = ["ray.address=auto", "replay.redis_url=redis://:pw@redis:6379/0", "actors.num=1"]
        cfg = conf.load_config(base + overrides)
        assert cfg.env.kwargs["endpoint"].startswith("tcp://"), overrides
        assert cfg.env.kwargs["keys_dir"].startswith("/"), overrides
