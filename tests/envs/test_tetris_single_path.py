"""The single env's per-move path (``TetrisCore.move_one`` + ``TetrisGame.observe_one``)
plays exactly the game of the batched core: same observations, rewards, ends and infos,
step by step, over whole episodes with line clears and top outs."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils import seeding

from envs.tetris import TetrisEnv, TetrisGame
from envs.tetris.core import (
    HARD_DROP,
    LEFT,
    MOVE_NUM_TRIES,
    MOVE_TO,
    MOVE_TRIES,
    NOOP,
    RIGHT,
    ROTATE_CCW,
    ROTATE_CW,
    SOFT_DROP,
    TetrisCore,
    TetrisRewardConfig,
)
from envs.tetris.pieces import NUM_PIECES
from tests.envs.test_tetris_rules import KICK_CASES, _core, _fill, _random_board, _set_piece

ROW0 = np.zeros(1, dtype=np.int64)

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


@pytest.mark.parametrize(("name", "start", "action", "blocked", "expected"), KICK_CASES)
def test_move_one_kicks_and_shifts(name, start, action, blocked, expected) -> None:
    """The guideline kick cases of the rules tests, played through the one-board path."""
    core = _core()
    _fill(core, blocked)
    _set_piece(core, name, *start)
    core.move_one(0, action)
    assert (int(core.rot[0]), int(core.x[0]), int(core.y[0])) == expected


def test_move_table_follows_the_inputs() -> None:
    """Shifts try one column, a soft drop one row, rotations the five SRS kicks of the
    quarter turn (the null offset first); no-op and hard drop try nothing."""
    for p in range(NUM_PIECES):
        for r in range(4):
            for a, off in ((LEFT, [0, -1]), (RIGHT, [0, 1]), (SOFT_DROP, [1, 0])):
                assert MOVE_NUM_TRIES[p, r, a] == 1 and MOVE_TO[p, r, a] == r
                assert MOVE_TRIES[p, r, a, 0].tolist() == off
            for a in (NOOP, HARD_DROP):
                assert MOVE_NUM_TRIES[p, r, a] == 0
            for a, turn in ((ROTATE_CW, 1), (ROTATE_CCW, -1)):
                assert MOVE_NUM_TRIES[p, r, a] == 5 and MOVE_TO[p, r, a] == (r + turn) % 4
                assert MOVE_TRIES[p, r, a, 0].tolist() == [0, 0]
    # T, 0 -> R: (0,0), (-1,0), (-1,+1), (0,-2), (-1,-2) as (x, y up) in the guideline.
    assert MOVE_TRIES[2, 0, ROTATE_CW].tolist() == [[0, 0], [0, -1], [-1, -1], [2, 0], [2, -1]]


@pytest.mark.parametrize("scheme", ["lines", "score"])
def test_move_one_equals_move_on_cluttered_boards(scheme: str) -> None:
    """From random cluttered boards and random free piece positions, every input gives
    the same state, reward and lines through ``move_one`` and through ``move``."""
    rng = np.random.default_rng(7)
    rewards = TetrisRewardConfig(scheme=scheme, piece_reward=0.25, game_over_penalty=-3.0)
    tried = locks = clears = 0
    while tried < 400:
        board = _random_board(rng, max_height=int(rng.integers(4, 21)))
        if rng.random() < 0.5:  # a well: rows full but for one column, ready to clear
            depth = int(rng.integers(1, 5))
            board[-depth:] = 1
            board[-depth:, int(rng.integers(10))] = 0
        p, r = int(rng.integers(NUM_PIECES)), int(rng.integers(4))
        x, y = int(rng.integers(-2, 10)), int(rng.integers(0, 20))
        action = HARD_DROP if rng.random() < 0.4 else int(rng.integers(7))
        gravity = int(rng.integers(0, 3))
        cores = []
        for _ in range(2):
            core = TetrisCore(1, gravity_interval=gravity, rewards=rewards, placements=False)
            core.reset_rows(ROW0, [np.random.default_rng(3)])
            core.board[0] = board
            core.recompute_tops(ROW0)
            core.piece[0], core.rot[0], core.x[0], core.y[0] = p, r, x, y
            cores.append(core)
        if not cores[0]._fits(ROW0, np.array([p]), np.array([r]), np.array([x]), np.array([y]))[0]:
            continue
        tried += 1
        reward, cleared = cores[0].move(ROW0, np.array([action]))
        reward_one, cleared_one = cores[1].move_one(0, action)
        assert reward_one == reward[0] and cleared_one == cleared[0]
        locks += int(cores[0].pieces[0])
        clears += int(cleared[0])
        for name in (
            "piece",
            "rot",
            "x",
            "y",
            "gravity_count",
            "seq_pos",
            "game_over",
            "score",
            "lines",
            "pieces",
            "top",
            "board",
        ):
            assert np.array_equal(getattr(cores[0], name), getattr(cores[1], name)), name
    assert locks > 100 and clears >= 5  # locking and clearing really ran
