"""SAC learns through the real pipeline (real Redis, real Ray, ``learner.main.run``):
Pendulum-v1 to a greedy mean of -300 or better, and the simulated GoPiGo3 driven with
continuous wheel speeds, whose trained actor then drives the robot from the edge's numpy
forward (:class:`robot_edge.policy.GaussianPolicy`) over ZeroMQ.

Both runs are ``mode=sync`` with a fixed seed, so they are reproducible; each threshold is
one that neither uniform random play nor the untrained actor reaches on the same seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import conf
import envs.gopigo_bridge  # noqa: F401 - registers fsrl/GoPiGo-v0
from actors.spec import build_agent
from conf.schema import Config
from learner.evaluation import evaluate_greedy
from learner.main import run
from replay.weights import WeightStore
from robot_edge.policy import GaussianPolicy

pytestmark = [pytest.mark.usefixtures("ray_session"), pytest.mark.slow]

PENDULUM_THRESHOLD = -300.0


@pytest.fixture()
def run_cfg(redis_url: str, namespace: str) -> Callable[..., Config]:
    def make(*overrides: str) -> Config:
        return conf.load_config(
            [f"replay.redis_url={redis_url}", f"replay.namespace={namespace}", *overrides]
        )

    return make


def uniform_returns(cfg: Config, episodes: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return evaluate_greedy(
        lambda obs: (
            rng.uniform(-1, 1, (len(obs), *ACTION_SHAPE[cfg.env.id])) * ACTION_HIGH[cfg.env.id]
        ),
        cfg.env,
        episodes,
        seed,
    )


ACTION_SHAPE = {"Pendulum-v1": (1,), "envs.gopigo_bridge:fsrl/GoPiGo-v0": (2,)}
ACTION_HIGH = {"Pendulum-v1": 2.0, "envs.gopigo_bridge:fsrl/GoPiGo-v0": 1.0}


def test_sac_learns_pendulum_through_the_pipeline(run_cfg, tmp_path: Path) -> None:
    cfg = run_cfg("experiment=sac_pendulum_ci")
    episodes, seed = cfg.env.eval_episodes, cfg.env.eval_seed
    random_mean = float(uniform_returns(cfg, episodes, seed).mean())
    untrained = build_agent(cfg).learner("cpu", int(cfg.seed)).greedy()
    untrained_mean = float(evaluate_greedy(untrained, cfg.env, episodes, seed).mean())
    assert random_mean < PENDULUM_THRESHOLD and untrained_mean < PENDULUM_THRESHOLD

    summary = run(cfg, tmp_path)
    assert summary["agent"] == "sac" and summary["model_tag"] == "Pendulum-v1-sac"
    assert summary["stop_reason"].startswith("target eval return"), (
        f"no evaluation reached {PENDULUM_THRESHOLD} within {cfg.budget.env_steps} env steps "
        f"(random {random_mean}, untrained {untrained_mean}): {summary}"
    )
    assert summary["env_steps"] <= cfg.budget.env_steps
    assert summary["final_eval_mean_return"] >= PENDULUM_THRESHOLD, summary


# GoPiGo-v0 forward task, 200-step episodes: +10 per metre driven, -5 on a bump (which
# ends the episode). Random play scores ~0.4 and driving straight on ~1.6 (docs/robot.md);
# the untrained actor ~3. The seeded run below reaches 19.7 after 15,000 env steps (at
# 10,000 its trajectory gave ~18 until 1 Dec 2026, then 4.1 in fresh and old venvs alike:
# the budget now leaves room beyond where learning takes off).
GOPIGO_THRESHOLD = 10.0
GOPIGO_RUN = [
    "experiment=sac_gopigo",
    "mode=sync",
    "seed=0",
    "budget.env_steps=15000",
    "budget.target_eval_return=null",  # train the whole budget, judge the final evaluation
    "budget.wall_time_s=1200",
    "env.eval_episodes=10",
    "learner.eval_interval_s=0",
    "learner.checkpoint_interval_updates=0",
    "logging.console=false",
    "logging.tensorboard=false",
]


def test_sac_drives_the_sim_gopigo_with_continuous_wheel_speeds(
    run_cfg, redis_url: str, namespace: str, tmp_path: Path
) -> None:
    cfg = run_cfg(*GOPIGO_RUN)
    assert cfg.env.kwargs["action_mode"] == "continuous"
    episodes, seed = cfg.env.eval_episodes, cfg.env.eval_seed
    untrained = build_agent(cfg).learner("cpu", int(cfg.seed)).greedy()
    untrained_mean = float(evaluate_greedy(untrained, cfg.env, episodes, seed).mean())
    assert untrained_mean < GOPIGO_THRESHOLD

    summary = run(cfg, tmp_path)
    assert summary["agent"] == "sac" and summary["env_steps"] == 15000, summary
    trained = summary["final_eval_mean_return"]
    assert trained >= GOPIGO_THRESHOLD, f"final eval {trained} (untrained {untrained_mean})"

    # the published actor, run by the edge's numpy forward, drives the robot over ZeroMQ
    with WeightStore(redis_url, namespace) as store:
        version, tensors, metadata = store.fetch(summary["model_tag"])
    assert version == summary["final_version"] and metadata["arch"] == "mlp_gaussian"
    policy = GaussianPolicy(tensors, metadata)
    returns = []
    for i in range(episodes):
        env = gym.make("fsrl/GoPiGo-v0", action_mode="continuous")
        try:
            obs, _ = env.reset(seed=seed + i)
            done, total = False, 0.0
            while not done:
                obs, reward, terminated, truncated, _ = env.step(policy.act(obs))
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
        finally:
            env.close()
    assert float(np.mean(returns)) >= GOPIGO_THRESHOLD, returns
