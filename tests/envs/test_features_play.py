"""The candidate features carry what a Q-network needs: a fixed linear scorer over them
(the classic aggregate height / lines / holes / bumpiness weights) plays Tetris well."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import envs.tetris  # noqa: F401  (registers the ids)


def test_linear_scorer_on_candidate_features_clears_lines_without_topping_out() -> None:
    env = gym.make("fsrl/TetrisPlacement-v0", candidate_features=True)
    obs, info = env.reset(seed=0)
    H, W = 22, 10  # features are scaled by these (height incl. the 2 hidden rows)
    weights = np.zeros(8 + W, dtype=np.float32)
    weights[0] = 0.76 * 4  # lines cleared (feature = lines / 4)
    weights[1] = -0.36 * W  # holes
    weights[2] = -0.18 * H  # bumpiness
    weights[3] = -0.51 * H * W  # aggregate height
    for _ in range(1000):
        scores = obs["candidate_features"] @ weights
        scores[obs["action_mask"] == 0] = -np.inf
        obs, _, terminated, truncated, info = env.step(int(np.argmax(scores)))
        assert not terminated and not truncated
    # 1000 pieces hold 4000 cells: at most 400 lines; a good scorer gets close.
    assert info["pieces"] == 1000
    assert info["lines"] >= 350
