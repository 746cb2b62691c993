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

import numpy as np
import pytest

import conf
import envs.gopigo_bridge  # noqa: F401 - registers fsrl/GoPiGo-v0
from actors.spec import build_agent
from conf.schema import Config
from learner.evaluation import evaluate_greedy
from learner.main import run

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
    assert summary["stop_reason"].startswith("env step budget"), summary
    assert summary["env_steps"] == 6000
    trained = summary["final_eval_mean_return"]
    assert trained >= PENDULUM_THRESHOLD, (
        f"after {summary['env_steps']} env steps and {summary['learner_updates']} updates the "
        f"greedy mean return is {trained} (random {random_mean}, untrained {untrained_mean})"
    )
