"""The edge's own distribution (robot_edge/pyproject.toml, ``fsrl-edge``) on a real Python 3.9.

A fresh Python 3.9 virtual environment gets ``pip install <copy of robot_edge/>`` and
nothing else; the service it runs answers a real ZeroMQ HELLO/RESET/STEP from the
host's client, and installs and drives a pushed policy (SET_POLICY, ACT). Python 3.9 comes from pyenv (``$PYENV_ROOT``, ``pyenv root`` or
``~/.pyenv``); a machine without it fails this test, it does not skip it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib
from edge_py39 import python39

from envs.gopigo_bridge.client import EdgeClient
from robot_edge.weights import encode_weights

ROOT = Path(__file__).resolve().parents[2]
EDGE = ROOT / "robot_edge"
#: The venv's interpreter sees only what is installed in it (no PYTHONPATH to the checkout).
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
HOST_ONLY = ("torch", "ray", "redis", "gymnasium", "hydra-core", "safetensors", "fsrl")


@pytest.fixture(scope="module")
def edge_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Python 3.9 venv holding fsrl-edge installed from a copy of robot_edge/ alone."""
    base = tmp_path_factory.mktemp("edge39")
    src = base / "robot_edge"
    shutil.copytree(EDGE, src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    venv = base / "venv"
    subprocess.run([python39(), "-m", "venv", str(venv)], check=True, timeout=120)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(src)],
        capture_output=True,
        env=CLEAN_ENV,
        text=True,
        timeout=600,
        check=False,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    return venv


def test_the_edge_distribution_holds_robot_edge_with_pyzmq_and_numpy_only(
    edge_venv: Path,
) -> None:
    py = str(edge_venv / "bin" / "python")
    listed = subprocess.run(
        [py, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, check=True
    ).stdout
    names = {line.split("==")[0].lower() for line in listed.split()}
    assert {"fsrl-edge", "pyzmq", "numpy"} <= names
    assert not names & set(HOST_ONLY), names & set(HOST_ONLY)
    where = subprocess.run(
        [py, "-c", "import sys, robot_edge; print(sys.version_info[:2], robot_edge.__file__)"],
        capture_output=True,
        text=True,
        cwd=edge_venv,
        env=CLEAN_ENV,
        check=True,
    ).stdout
    assert where.startswith("(3, 9)") and "site-packages" in where, where
    assert (edge_venv / "bin" / "fsrl-edge").exists()


def _forward_policy() -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """A dueling Q-network whose advantage bias makes action 0 (forward) the greedy one."""
    rng = np.random.default_rng(0)
    tensors = {
        "torso.0.weight": rng.normal(0, 0.1, (8, 3)).astype(np.float32),
        "torso.0.bias": np.zeros(8, np.float32),
        "value.0.weight": rng.normal(0, 0.1, (1, 8)).astype(np.float32),
        "value.0.bias": np.zeros(1, np.float32),
        "advantage.0.weight": np.zeros((4, 8), np.float32),
        "advantage.0.bias": np.array([5.0, 0.0, 0.0, -5.0], np.float32),
    }
    return tensors, {"arch": "mlp_dueling", "num_actions": "4"}


def test_the_py39_edge_answers_the_host_client(edge_venv: Path) -> None:
    proc = subprocess.Popen(
        [
            str(edge_venv / "bin" / "python"),
            "-m",
            "robot_edge.server",
            "backend=sim",
            "bind=tcp://127.0.0.1:0",
            "log_level=WARNING",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=edge_venv,  # not the repository: the installed package must serve
        env=CLEAN_ENV,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("READY "), line + proc.stderr.read()  # type: ignore[union-attr]
        with EdgeClient(line.split()[1], timeout_ms=3000, retries=1) as client:
            assert client.info is not None and client.info.backend == "sim"
            client.reset(seed=0)
            reading = client.step(200.0, 200.0, 100.0)
            assert reading.motors_running and reading.left_encoder_deg == 20
            assert client.status().commands_executed == 2
            # the numpy codec and forward on 3.9: a pushed Q-network drives the sim robot
            assert client.set_policy(7, encode_weights(*_forward_policy())) == 7
            _reading, action, _done, version, _reward = client.act(100.0, max_episode_steps=5)
            assert (action, version) == (0, 7)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "SIGTERM: motors stopped" in err


def test_the_root_edge_extra_matches_the_edge_distribution() -> None:
    edge = tomllib.loads((EDGE / "pyproject.toml").read_text())["project"]
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert edge["requires-python"] == ">=3.9"
    assert sorted(edge["dependencies"]) == sorted(root["optional-dependencies"]["edge"])
    assert sys.version_info >= (3, 11)  # tomllib: the host side of this test
