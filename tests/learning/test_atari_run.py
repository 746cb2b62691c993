"""``python -m learner.main experiment=atari env.id=ALE/Pong-v5`` trains end to end with
real ale-py, a real Redis and a real Ray: a short seeded sync run updates the Nature CNN,
publishes versions, evaluates, and its replay stores each transition's frames once."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from replay import ReplayClient
from replay.frames import NEXT_FRAMES
from replay.weights import WeightStore

pytest.importorskip("ale_py")

ROOT = Path(__file__).resolve().parents[2]
TAG = "pong-test"


def test_atari_preset_trains_pong_through_learner_main(
    tmp_path: Path, redis_url: str, namespace: str
) -> None:
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "learner.main",
        "experiment=atari", "env.id=ALE/Pong-v5", "mode=sync", "seed=0",
        "actors.num=1", "actors.envs_per_actor=2",
        "budget.env_steps=600",
        "learner.sync_steps_per_phase=150", "learner.sync_updates_per_step=0.05",
        "replay.capacity=2000", "replay.min_size_to_sample=100",
        "replay.samples_per_insert=0.0",
        "env.eval_episodes=1", "env.max_episode_steps=300",
        "learner.eval_interval_s=0", "learner.publish_interval_updates=5",
        "learner.checkpoint_interval_updates=0",
        f"replay.redis_url={redis_url}", f"replay.namespace={namespace}", f"model.tag={TAG}",
        "logging.console=false", "logging.tensorboard=false", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["env_id"] == "ALE/Pong-v5"
    assert summary["stop_reason"].startswith("env step budget"), summary
    assert summary["env_steps"] == 600
    # 4 phases of 300 steps x 0.05 updates per step, once 100 transitions are in
    assert summary["learner_updates"] == 30, summary
    assert summary["final_version"] >= 6  # the initial version and one every 5 updates
    assert summary["episodes"] == 2  # each env truncated once at 300 agent steps
    # evaluation ran (an unclipped Pong score in [-21, 21]) on the final version
    assert math.isfinite(summary["final_eval_mean_return"])
    assert -21 <= summary["final_eval_mean_return"] <= 21
    with WeightStore(redis_url, namespace) as store:
        assert store.latest_version(TAG) == summary["final_version"]
    with ReplayClient(redis_url, namespace=namespace) as client:
        _, spec = client.table_info("replay")
        assert NEXT_FRAMES in spec.names and "next_obs" not in spec.names
        assert spec[NEXT_FRAMES].shape == (3, 84, 84)
        assert client.size("replay") > 500
