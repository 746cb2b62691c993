"""A non-finite importance weight from the sampler must not poison the learner."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

import conf
from agents.dqn.learner import DQN, TorchBatch

BOX = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
CPU = torch.device("cpu")


def _batch(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "obs": rng.uniform(-1, 1, (n, 3)).astype(np.float32),
        "action": rng.integers(0, 2, n).astype(np.int64),
        "reward": rng.normal(size=n).astype(np.float32),
        "discount": np.full(n, 0.9, np.float32),
        "next_obs": rng.uniform(-1, 1, (n, 3)).astype(np.float32),
    }


def test_a_zero_probability_draw_weighs_nothing_and_parameters_stay_finite() -> None:
    cfg = conf.load_config(["model.hidden_sizes=[16]"])
    guarded = DQN(cfg.model, cfg.algo, BOX, 2, CPU, seed=0)
    reference = DQN(cfg.model, cfg.algo, BOX, 2, CPU, seed=0)
    data = _batch(32, seed=1)
    # What the sampler returns for a drawn leaf of probability 0: (N * 0) ** -beta = inf.
    bad = np.ones(32, np.float32)
    bad[[3, 7]] = [np.inf, np.nan]
    good = np.ones(32, np.float32)
    good[[3, 7]] = 0.0
    priorities, stats = guarded.update(TorchBatch.from_numpy(data, bad, CPU))
    reference.update(TorchBatch.from_numpy(data, good, CPU))
    assert np.isfinite(stats["losses/td_loss"]) and np.all(np.isfinite(priorities))
    for p, q in zip(guarded.online.parameters(), reference.online.parameters(), strict=True):
        assert torch.isfinite(p).all()
        torch.testing.assert_close(p, q)
