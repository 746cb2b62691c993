"""The single env's per-move path (``TetrisCore.move_one`` + ``TetrisGame.observe_one``)
plays exactly the game of the batched core: same observations, rewards, ends and infos,
step by step, over whole episodes with line clears and top outs."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils import seeding

from envs.tetris import TetrisEnv, TetrisGame

CONFIGS = [
    {},
    {"gravity_interval": 0},
    {"gravity_interval": 3, "reward_scheme": "score"},
    {"obs_type": "flat", "preview": 0},
    # Small boards: many line clears and top outs in a few thousand random moves.
    {"width": 4, "height": 6, "hidden_rows": 3, "piece_reward": 0.5, "game_over_penalty": -7.0},
    {"width": 4, "height": 8, "reward_scheme": "score", "gravity_interval": 2, "preview": 1},
]


def _equal_obs(a, b) -> None:
    if isinstance(b, dict):
        assert isinstance(a, dict) and list(a) == list(b)
        for key in b:
            _equal_obs(a[key], b[key])
        return
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b)


@pytest.mark.parametrize("kwargs", CONFIGS)
@pytest.mark.parametrize("seed", [0, 11])
def test_single_env_moves_match_batched_core(kwargs: dict, seed: int) -> None:
    env = TetrisEnv(mode="moves", **kwargs)
    ref = TetrisGame(3, mode="moves", **kwargs)  # board 1 of 3 follows the single env
    row = np.array([1])
    for b, s in enumerate((seed + 100, seed, seed + 200)):
        ref.core.reset_rows(np.array([b]), [seeding.np_random(s)[0]])
    obs, _ = env.reset(seed=seed)
    _equal_obs(
        obs,
        {k: v[0] for k, v in ref.observe(row).items()}
        if isinstance(obs, dict)
        else ref.observe(row)[0],
    )
    rng = np.random.default_rng(seed)
    totals = {"lines": 0, "ends": 0}
    for _ in range(3000):
        action = int(rng.integers(7))
        obs, reward, term, trunc, info = env.step(action)
        ref_reward, ref_term, ref_info = ref.step(row, np.array([action]))
        ref_obs = ref.observe(row)
        if isinstance(obs, dict):
            ref_obs = {k: v[0] for k, v in ref_obs.items()}
        else:
            ref_obs = ref_obs[0]
        _equal_obs(obs, ref_obs)
        assert type(reward) is float and reward == float(ref_reward[0])
        assert term is bool(ref_term[0]) and trunc is False
        assert list(info) == ["lines", "score", "pieces", "lines_cleared", "invalid_action"]
        for key in ("lines", "score", "pieces", "lines_cleared"):
            assert type(info[key]) is np.int64 and info[key] == ref_info[key][0]
        assert info["invalid_action"] is False
        # The whole core state of board 1, not only what the observation shows.
        c1, c = ref.core, env.game.core
        for name in ("piece", "rot", "x", "y", "gravity_count", "seq_pos", "game_over"):
            assert getattr(c, name)[0] == getattr(c1, name)[1], name
        assert np.array_equal(c.board[0], c1.board[1]) and np.array_equal(c.top[0], c1.top[1])
        totals["lines"] += int(info["lines_cleared"])
        if term:
            totals["ends"] += 1
            env.reset()
            ref.core.reset_rows(row)
    if "width" in kwargs:  # the small boards really exercised clears and top outs
        assert totals["lines"] > 0 and totals["ends"] > 0


def test_single_env_move_action_types() -> None:
    """Python ints, numpy ints and 0-d / 1-element arrays play the same move; bad ones
    raise ValueError naming the action and leave the board as it was."""
    played = []
    for action in (2, np.int64(2), np.int8(2), np.array(2), np.array([2])):
        env = TetrisEnv(mode="moves")
        env.reset(seed=5)
        obs, *_ = env.step(action)
        played.append(obs["active"])
    assert all(np.array_equal(a, played[0]) for a in played)
    env = TetrisEnv(mode="moves")
    obs0, _ = env.reset(seed=5)
    for bad in (7, -1, True, 1.5, np.array([1, 2]), "left"):
        with pytest.raises(ValueError, match="action"):
            env.step(bad)
    core = env.game.core
    assert (int(core.x[0]), int(core.y[0]), int(core.rot[0])) == (core.spawn_x, core.spawn_y, 0)
    assert np.array_equal(env.game.observe_one(0)["active"], obs0["active"])


def test_single_env_observations_are_fresh_arrays() -> None:
    """Writing into a returned observation changes neither the env nor later ones."""
    env, untouched = TetrisEnv(mode="moves"), TetrisEnv(mode="moves")
    obs, _ = env.reset(seed=1)
    untouched.reset(seed=1)
    for _ in range(30):
        for value in obs.values():
            value[...] = 1
        obs, *_ = env.step(1)
        want, *_ = untouched.step(1)
        _equal_obs(obs, want)
        assert obs["active"].sum() <= 4 and obs["piece"].sum() == 1
    assert np.array_equal(env.game.core._eye, np.eye(7, dtype=np.uint8))
