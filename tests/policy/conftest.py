"""Run directories (DQN on CartPole, SAC on Pendulum) and their exports, made once a module."""

from __future__ import annotations

from pathlib import Path

import pytest

from learner.export import export_policy
from learner.policy_io import load_agent
from tests.policy.runs import write_run


@pytest.fixture(scope="module", params=["dqn", "sac"])
def run_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp(f"run-{request.param}")
    write_run(run, request.param)
    return run


@pytest.fixture(scope="module")
def exported(run_dir: Path) -> dict[str, Path]:
    """``{"onnx": path, "torchscript": path}`` exported (and checked) from ``run_dir``."""
    results = export_policy(load_agent(run_dir), run_dir / "export" / "policy")
    return {r.format: r.path for r in results}
