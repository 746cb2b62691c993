"""Training on the simulated robot through the real pipeline improves the policy,
and the trained weights drive the robot on-device (numpy inference on the edge).

``python -m learner.main experiment=gopigo mode=sync``: the preset's one Ray actor with its
own local sim edge process, a learner, a private Redis. With one actor the seeded sync run
is reproducible, on a quiet box and beside three busy loops alike (two actors interleave
their inserts by timing). The preset's final greedy evaluation is 20 fixed-seed episodes
scored with the preset's shaped return (10 per metre, -5 for a bump, up to -0.75 a step
while the distance reading is below 0.35 of its range): random play scores -39.0 and
driving straight on -10.2 there; after 24,000 env steps (3,000 updates at the preset's one
update per 8 env steps) this run scores 17.3, 15 of the 20 episodes reaching the time limit
without a bump, so the test asserts a return of 12 or more. The edge, run with the preset's
observation history (it computes the window itself), reports the plain return (no
shaping: random play ~2, straight on ~1): it drives 10 episodes with the trained weights (31.7
on average) and must average ``EDGE_MIN`` or more.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from envs.gopigo_bridge.client import EdgeClient
from robot_edge.server import EdgeServer
from robot_edge.weights import decode_safetensors, encode_safetensors

ROOT = Path(__file__).resolve().parents[2]
FINAL_EVAL_MIN = 12.0  # mean return over the preset's 20 evaluation episodes
EDGE_MIN = 10.0


@pytest.mark.slow
def test_pipeline_trains_the_sim_robot_and_the_edge_runs_the_result(
    tmp_path: Path, make_server: Callable[..., EdgeServer]
) -> None:
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "learner.main",
        "experiment=gopigo",
        "actors.num=1",  # the preset's; one simulated robot (edge process)
        "actors.envs_per_actor=1",
        "seed=0",
        "mode=sync",  # collect/train phases alternate: the same seed gives the same run
        "budget.env_steps=24000",
        "budget.target_eval_return=null",  # train the whole budget, then judge the final eval
        "budget.wall_time_s=480",
        "logging.console=false",
        "logging.tensorboard=false",
        f"hydra.run.dir={run_dir}",
    ]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=660, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["env_steps"] == 24000
    assert summary["final_eval_mean_return"] >= FINAL_EVAL_MIN, summary

    # deploy the trained network to an edge run with the run's observation history (the
    # edge computes the window itself) and let the edge's numpy policy drive
    config = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    history = int(OmegaConf.select(config, "env.kwargs.task_params.history", default=1))
    server = make_server(history=history)
    blob = (Path(summary["checkpoint"]) / "state.safetensors").read_bytes()
    tensors, _ = decode_safetensors(blob)
    online = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith("online/")}
    with EdgeClient(server.endpoint, timeout_ms=3000) as c:
        assert c.set_policy(7, encode_safetensors(online, {"arch": "mlp_dueling"})) == 7
        finished = 0
        while finished < 10:
            finished += c.act(100.0, max_episode_steps=200)[2]
        episodes = c.metrics()
    returns = episodes["episode_return"][episodes["policy_version"] == 7]
    assert len(returns) == 10
    # random play scores ~0.4 and straight-on driving ~1.6 on the same arena
    assert float(np.mean(returns)) >= EDGE_MIN, returns
