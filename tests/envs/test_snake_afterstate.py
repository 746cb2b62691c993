"""Snake's per-action afterstate features (envs/snake/afterstate.py) against the rules:
``dies``/``eats`` say what stepping that action really does, and the breadth-first fill
that knows when the body moves away finds a dead end that a plain flood fill misses, and
the virtual snake (a shortest path to the apple, then is the tail in reach?) tells an apple
at the end of a corridor, which seals the snake in, from one it can eat and get away from."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np

import envs.snake  # noqa: F401  (registers fsrl/Snake-v0)
from envs.snake.afterstate import ACTION_FEATURE_NAMES, action_features
from envs.snake.core import DOWN, LEFT, UP, SnakeCore

F = {name: i for i, name in enumerate(ACTION_FEATURE_NAMES)}


def test_dies_and_eats_predict_every_action_of_random_play() -> None:
    rng = np.random.default_rng(0)
    env = gym.make("envs.snake:fsrl/Snake-v0", action_features=True).unwrapped
    checked = 0
    for game in range(10):
        obs, _ = env.reset(seed=game)
        done = False
        while not done:
            feats = obs["candidate_features"]
            assert feats.shape == (4, len(ACTION_FEATURE_NAMES)) and feats.dtype == np.float32
            assert ((feats >= 0) & (feats <= 1)).all()
            for a in range(4):
                probe = copy.deepcopy(env)
                _, reward, terminated, _, info = probe.step(a)
                died = terminated and not info["win"]
                assert feats[a, F["dies"]] == float(died), (game, a)
                assert feats[a, F["eats"]] == float(info["ate"]), (game, a)
                if died:
                    assert not feats[a, 1:].any()
                checked += 1
            safe = np.flatnonzero(feats[:, F["dies"]] == 0)
            a = int(rng.choice(safe)) if safe.size and rng.random() < 0.9 else int(rng.integers(4))
            obs, _, terminated, truncated, _ = env.step(a)
            done = terminated or truncated
    assert checked > 300


def ring_state() -> SnakeCore:
    """A snake of 13 coiled round a pocket of 3 free cells, its head at the pocket's mouth.

    . . . o o o o .      rows 4-7, columns 3-6 of a 10x10 board;
    . . . o . . o .      the head H (6,4) heads up; the tail is (7,3);
    . . . o H . o .      the apple (*) is outside, at (7,2)
    . . * o o o o .
    """
    core = SnakeCore(1)
    core.reset_rows(np.array([0]), [np.random.default_rng(0)])
    body = [(6, 4), (7, 4), (7, 5), (7, 6), (6, 6), (5, 6), (4, 6), (4, 5), (4, 4), (4, 3)]
    body += [(5, 3), (6, 3), (7, 3)]  # head first
    t = 100
    core.placed[0] = np.iinfo(np.int32).min // 2
    for i, (r, c) in enumerate(body):
        core.placed[0, r * 10 + c] = t - i
    core.t[0], core.length[0], core.head[0] = t, len(body), 6 * 10 + 4
    core.direction[0] = UP
    core.apple[0] = 7 * 10 + 2
    return core


def test_the_fill_tells_the_dead_end_from_the_way_out_behind_the_tail() -> None:
    feats = action_features(ring_state(), np.array([0]))[0]
    up, right, down, left = feats
    assert left[F["dies"]] == 1.0  # (6,3) is body for two more steps
    # up (and down, which reverses the heading: the snake goes on up) enters the pocket
    # at (5,4): its two other cells lead nowhere, and (5,3) is still body a step later
    for f in (up, down):
        assert f[F["dies"]] == 0.0
        assert f[F["tail_reachable"]] == 0.0
        assert f[F["reachable"]] == 3 / 100  # the pocket, and no more
        # the hopeful fill stalls in the 3-cell pocket until (5,3) (2 steps) vacates
        assert f[F["tail_reachable_waiting"]] == 1.0 and f[F["reachable_waiting"]] == 1.0
    # right goes round the pocket, (6,5) (5,5) (5,4), and reaches (5,3) three steps on,
    # one after it vacated: out behind the tail, the whole board open again
    assert right[F["dies"]] == 0.0
    assert right[F["tail_reachable"]] == 1.0
    assert right[F["reachable"]] == 1.0
    np.testing.assert_array_equal(up, down)


def test_fresh_snake_reaches_the_whole_board_and_its_tail() -> None:
    core = SnakeCore(2)
    core.reset_rows(np.array([0, 1]), [np.random.default_rng(1), np.random.default_rng(2)])
    feats = action_features(core, np.array([0, 1]))
    assert (feats[:, :, F["dies"]] == 0).all()
    assert (feats[:, :, F["tail_reachable"]] == 1).all()
    # every cell: the body cells too, once the head arrives after they vacated
    np.testing.assert_allclose(feats[:, :, F["reachable"]], 1.0)
    np.testing.assert_allclose(feats[:, :, F["length"]], 3 / 100)


def test_starvation_is_a_termination_when_asked_single_and_batched() -> None:
    circle = [1, 2, 3, 0]  # right, down, left, up: a 2x2 loop that never meets an apple
    for terminates in (False, True):
        env = gym.make(
            "envs.snake:fsrl/Snake-v0", starvation_steps=8, starvation_terminates=terminates
        )
        env.reset(seed=0)
        env.unwrapped.game.core.apple[0] = 0  # the top-left corner, off the loop
        for i in range(8):
            _, _, terminated, truncated, info = env.step(circle[i % 4])
        assert info["starved"] and (terminated, truncated) == (terminates, not terminates)
        vec = envs.snake.make_vector(
            num_envs=2, seed=0, starvation_steps=8, starvation_terminates=terminates
        )
        vec.reset()
        vec.unwrapped.game.core.apple[:] = 0
        for i in range(8):
            _, _, terminated, truncated, _ = vec.step(np.full(2, circle[i % 4]))
        assert terminated.tolist() == [terminates] * 2
        assert truncated.tolist() == [not terminates] * 2


def board(body: list[tuple[int, int]], direction: int, apple: tuple[int, int]) -> SnakeCore:
    """A 10x10 board with the snake on ``body`` (cells (row, col), head first)."""
    core = SnakeCore(1, starvation_steps=100)
    core.reset_rows(np.array([0]), [np.random.default_rng(0)])
    t = 100
    core.placed[0] = np.iinfo(np.int32).min // 2
    for i, (r, c) in enumerate(body):
        core.placed[0, r * 10 + c] = t - i
    core.t[0], core.length[0], core.head[0] = t, len(body), body[0][0] * 10 + body[0][1]
    core.direction[0] = direction
    core.apple[0] = apple[0] * 10 + apple[1]
    return core


# A snake of 20 heading down, its head H at (7,1); column 1 above it (its neck) and
# column 2 are body, so column 0 is a corridor closed at the top:
#   * o o . .      the apple (*) at (0,0), the corridor's end: 7 steps up the corridor
#   . o o . .      the snake eats it and its neck still lines the corridor (the cells
#   ...            of column 1 vacate 13-19 steps on); it cannot turn round
#   . H o . .
#   . . o o .
#   . . o o .
CORRIDOR = [(7, 1)] + [(r, 1) for r in range(6, -1, -1)] + [(r, 2) for r in range(10)]
CORRIDOR += [(9, 3), (8, 3)]


def test_the_virtual_snake_sees_the_apple_that_seals_it_in() -> None:
    core = board(CORRIDOR, DOWN, (0, 0))
    feats = action_features(core, np.array([0]))[0]
    live = feats[:, F["dies"]] == 0
    assert live.tolist() == [True, False, True, True]  # right is its own body
    # every live move keeps the tail in reach (no dead end now) ...
    assert (feats[live, F["tail_reachable"]] == 1).all()
    # ... yet going for the apple seals the snake in
    assert (feats[live, F["apple_safe"]] == 0).all()
    # left enters the corridor: 7 more steps to the apple; down (and up, the reverse of
    # the heading) goes round by (8,0): 9
    assert round(float(feats[LEFT, F["apple_path"]]) * 100) == 7
    assert round(float(feats[DOWN, F["apple_path"]]) * 100) == 9
    # the rules agree: up the corridor, eat, and every move then dies
    for a in [LEFT] + [UP] * 7:
        _, terminated, _, ate = core.step(np.array([0]), np.array([a]))
        assert not terminated[0]
    assert ate[0]
    for a in range(4):
        probe = copy.deepcopy(core)
        assert probe.step(np.array([0]), np.array([a]))[1][0], a


def test_the_virtual_snake_goes_for_an_apple_it_can_get_away_from() -> None:
    # the same snake, the apple in the open at (9,0): 2 steps by the corridor's mouth
    feats = action_features(board(CORRIDOR, DOWN, (9, 0)), np.array([0]))[0]
    live = feats[:, F["dies"]] == 0
    assert (feats[live, F["apple_safe"]] == 1).all()
    assert round(float(feats[LEFT, F["apple_path"]]) * 100) == 2
    assert round(float(feats[DOWN, F["apple_path"]]) * 100) == 2


def test_apple_path_is_a_path_the_head_can_walk() -> None:
    """Taking the move with the shortest path, the next moves' shortest is one step less
    (and 0, an apple eaten, after a path of 1): the fill's path is really walkable."""
    rng = np.random.default_rng(3)
    env = gym.make("envs.snake:fsrl/Snake-v0", action_features=True, starvation_steps=100).unwrapped
    checked = 0
    for game in range(6):
        obs, _ = env.reset(seed=game)
        done = False
        expect = None
        while not done:
            feats = obs["candidate_features"]
            live = feats[:, F["dies"]] == 0
            if not live.any():
                break
            steps = np.where(live, np.rint(feats[:, F["apple_path"]] * 100), 1e9)
            eats = live & (feats[:, F["eats"]] == 1)
            shortest = 0 if eats.any() else int(steps.min())
            if expect is not None:
                assert shortest == expect, (game, shortest, expect)
                checked += 1
            if rng.random() < 0.8 and shortest < 100:
                a = int(np.flatnonzero(eats)[0]) if eats.any() else int(steps.argmin())
                expect = None if shortest == 0 else shortest - 1
            else:
                a = int(rng.choice(np.flatnonzero(live)))
                expect = None
            obs, _, terminated, truncated, _ = env.step(a)
            done = terminated or truncated
    assert checked > 200
