"""The agents learn Tetris (placement) and Snake through the real pipeline.

Each test runs ``learner.main.run`` in-process with a CI preset (``experiment=tetris_ci``
/ ``snake_ci``: ``mode=sync``, fixed seed, a small env-step budget) on a real Redis and
a real Ray, then checks the greedy evaluation of the final weights against a threshold
that neither a uniform random policy nor the untrained network reaches on the same
evaluation seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import conf
from actors.envs import make_single_env
from actors.spec import build_agent
from conf.schema import Config
from learner.evaluation import evaluate_greedy
from learner.main import run

pytestmark = pytest.mark.usefixtures("ray_session")

# Greedy evaluation mean return the trained agent must reach (its env's own return):
# Tetris: +1 per placement, 10 x lines^2, -10 on top out, games cut at 300 placements.
TETRIS_THRESHOLD = 80.0
# Snake 10x10: +1 per apple, -1 on a collision.
SNAKE_THRESHOLD = 4.0


@pytest.fixture()
def run_cfg(redis_url: str, namespace: str) -> Callable[..., Config]:
    def make(*overrides: str) -> Config:
        return conf.load_config(
            [f"replay.redis_url={redis_url}", f"replay.namespace={namespace}", *overrides]
        )

    return make


def random_policy_returns(env_cfg: Any, episodes: int, seed: int) -> np.ndarray:
    """Uniformly random (legal, where the env masks actions) play on the evaluation seeds."""
    rng = np.random.default_rng(seed)
    returns = np.zeros(episodes)
    for i in range(episodes):
        env = make_single_env(env_cfg)
        obs, _ = env.reset(seed=seed + i)
        done = False
        while not done:
            if isinstance(obs, dict) and "action_mask" in obs:
                action = int(rng.choice(np.flatnonzero(obs["action_mask"])))
            else:
                action = int(rng.integers(env.action_space.n))
            obs, reward, terminated, truncated, _ = env.step(action)
            returns[i] += float(reward)
            done = terminated or truncated
        env.close()
    return returns


def untrained_returns(cfg: Config) -> np.ndarray:
    """Greedy play of the agent's freshly initialised learner (seeded like the run's)."""
    greedy = build_agent(cfg).learner("cpu", int(cfg.seed)).greedy()
    return evaluate_greedy(greedy, cfg.env, cfg.env.eval_episodes, cfg.env.eval_seed)


def check_learns(cfg: Config, run_dir: Path, threshold: float) -> dict[str, Any]:
    episodes, seed = cfg.env.eval_episodes, cfg.env.eval_seed
    random_mean = float(random_policy_returns(cfg.env, episodes, seed).mean())
    untrained_mean = float(untrained_returns(cfg).mean())
    assert random_mean < threshold, f"random play already reaches {random_mean}"
    assert untrained_mean < threshold, f"the untrained network already reaches {untrained_mean}"

    summary = run(cfg, run_dir)
    assert summary["stop_reason"].startswith("env step budget"), summary
    trained = summary["final_eval_mean_return"]
    assert trained >= threshold, (
        f"after {summary['env_steps']} env steps and {summary['learner_updates']} updates the "
        f"greedy mean return is {trained} < {threshold} (random {random_mean}, "
        f"untrained {untrained_mean})"
    )
    return summary


def test_tetris_placement_agent_learns_to_survive_and_clear_lines(run_cfg, tmp_path: Path) -> None:
    # scored in lines (env.eval_metric): the threshold still judges the return
    cfg = run_cfg("experiment=tetris_ci", "env.eval_metric=lines")
    summary = check_learns(cfg, tmp_path, TETRIS_THRESHOLD)
    assert summary["learner_updates"] >= 800
    final = summary["final_eval"]
    assert final["mean_return"] == summary["final_eval_mean_return"]
    assert summary["final_eval_mean_score"] == final["mean_lines"] >= final["median_lines"] >= 0
    assert final["min_lines"] <= final["median_lines"]
    assert summary["eval_metric"] == "lines"
    assert "eval/mean_lines" in (tmp_path / "metrics.jsonl").read_text()


def test_snake_agent_learns_to_eat_apples(run_cfg, tmp_path: Path) -> None:
    cfg = run_cfg("experiment=snake_ci")
    summary = check_learns(cfg, tmp_path, SNAKE_THRESHOLD)
    assert summary["learner_updates"] >= 3000
