"""robot_edge runs on the Pi with Python >= 3.9, pyzmq and numpy only."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from edge_py39 import python39

ROOT = Path(__file__).resolve().parents[2]
EDGE_FILES = sorted((ROOT / "robot_edge").glob("*.py"))
BLOCKED = [
    "actors",
    "learner",
    "replay",
    "envs",
    "conf",
    "torch",
    "gymnasium",
    "hydra",
    "redis",
    "omegaconf",
    "ray",
    "safetensors",
    "easygopigo3",
]

PROBE = r"""
import importlib, importlib.abc, json, sys
BLOCKED = set(sys.argv[1].split(","))

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"robot_edge imported host-only module {name!r}")
        return None

sys.meta_path.insert(0, Block())
for mod in sys.argv[2].split(","):
    importlib.import_module(mod)
third_party = sorted({m.split(".")[0] for m in sys.modules} - set(sys.stdlib_module_names)
                     - {"robot_edge", "__main__"} - {m for m in sys.modules if m.startswith("_")})
print(json.dumps(third_party))
"""


def _modules() -> list[str]:
    return [
        f"robot_edge.{p.stem}" for p in EDGE_FILES if p.stem not in ("__init__", "gopigo3_backend")
    ]


def test_edge_imports_with_host_packages_blocked() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(BLOCKED), ",".join(_modules())],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    third_party = set(json.loads(out.stdout.strip()))
    # cython_runtime: the pseudo-module Cython extensions (pyzmq, numpy) register
    assert third_party <= {"numpy", "zmq", "cython_runtime"}, third_party
    assert {"numpy", "zmq"} <= third_party


def test_edge_server_help_and_sim_start_with_host_packages_blocked() -> None:
    code = PROBE.replace("print(json.dumps(third_party))", "") + (
        "\nfrom robot_edge.server import EdgeServer, EdgeConfig\n"
        "s = EdgeServer(EdgeConfig(bind='tcp://127.0.0.1:0', insecure=True)).start(); s.close()\n"
        "from robot_edge.backend import BackendError\nfrom robot_edge.backends import make_backend\n"
        "try:\n    make_backend('gopigo3')\nexcept BackendError as e:\n    print('CLEAR', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, ",".join(BLOCKED), "robot_edge.server"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "CLEAR backend=gopigo3 needs the GoPiGo3 Python API" in out.stdout
    helped = subprocess.run(
        [sys.executable, "-m", "robot_edge.server", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert helped.returncode == 0 and "watchdog_ms" in helped.stdout


@pytest.mark.parametrize("path", EDGE_FILES, ids=lambda p: p.name)
def test_edge_sources_parse_as_python39(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))
    # annotations may use PEP 604 only because they are never evaluated
    assert (
        any(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in tree.body)
        or path.stem == "__init__"
    ), f"{path.name} needs `from __future__ import annotations`"
    runtime_unions = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and getattr(n.func, "id", "") == "isinstance"
        and any(isinstance(a, ast.BinOp) for a in n.args)
    ]
    assert not runtime_unions


def test_edge_byte_compiles_under_a_real_python39() -> None:
    py39 = python39()  # fails, not skips, without one
    out = subprocess.run(
        [py39, "-m", "py_compile", *map(str, EDGE_FILES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
