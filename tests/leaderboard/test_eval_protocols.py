"""The evaluation protocols (learner.protocols) on real envs with scripted policies whose
behaviour is known: the Hamiltonian-cycle snake fills every board, the linear Tetris
controller survives any short cap, first-legal Tetris tops out early; batched boards
play exactly the games single envs play on the same seeds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from envs.gopigo_bridge.scripted import wall_turn_policy
from envs.snake.scripted import hamiltonian_cycle, hamiltonian_policy
from envs.tetris.scripted import linear_placement_policy
from learner.evaluation import eval_step_limit, play_greedy
from learner.protocols import protocol_name, run_protocol

TETRIS = {"id": "envs.tetris:fsrl/TetrisPlacement-v0", "kwargs": {"candidate_features": True}}
SNAKE = {"id": "envs.snake:fsrl/Snake-v0"}


def first_legal(obs: Any) -> np.ndarray:
    return np.asarray(obs["action_mask"]).argmax(axis=1)


def always_up(obs: Any) -> np.ndarray:
    return np.zeros(len(obs), dtype=np.int64)


def test_hamiltonian_snake_fills_every_board() -> None:
    res = run_protocol(hamiltonian_policy(), SNAKE, games=6, seed=11)
    assert res["protocol"] == "snake"
    assert res["apples_per_game"] == [97] * 6  # 100 cells, a snake of 3 at the start
    assert res["fill_share"] == 1.0 and res["filled_games"] == 6
    assert res["starved_games"] == 0 and res["capped_games"] == 0
    # an apple is on average half the free cells ahead on the cycle, never a whole cycle
    assert 5.0 < res["steps_per_apple"] < 100.0
    assert res["mean_return"] == pytest.approx(97.0)  # +1 per apple, no collision


def test_snake_that_runs_into_the_wall_fills_nothing() -> None:
    res = run_protocol(always_up, SNAKE, games=4, seed=3)
    assert res["fill_share"] == 0.0
    assert res["max_apples"] <= 1
    assert res["steps_per_game"] == [6, 6, 6, 6]  # 5 rows up to the wall, the 6th hits it
    assert res["mean_return"] < 0.5


def test_hamiltonian_cycle_visits_every_cell_once_by_neighbour_steps() -> None:
    cycle = hamiltonian_cycle(6, 4)
    assert sorted(cycle) == list(range(24))
    for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True):
        (ra, ca), (rb, cb) = divmod(a, 4), divmod(b, 4)
        assert abs(ra - rb) + abs(ca - cb) == 1
    with pytest.raises(ValueError, match="even height"):
        hamiltonian_cycle(5, 4)


def test_linear_tetris_controller_survives_the_cap_and_clears_lines() -> None:
    res = run_protocol(linear_placement_policy(), TETRIS, games=4, seed=7, max_steps=400)
    assert res["protocol"] == "tetris"
    assert res["capped_games"] == 4  # every game alive at the cap: lines are a lower bound
    assert res["placements_per_game"] == [400] * 4
    # 400 pieces are 1,600 cells: at most 160 lines; a good controller clears nearly all
    assert all(140 <= n <= 160 for n in res["lines_per_game"]), res["lines_per_game"]
    assert res["median_lines"] >= res["min_lines"] > 0


def test_first_legal_tetris_tops_out_long_before_the_cap() -> None:
    res = run_protocol(first_legal, TETRIS, games=5, seed=7, max_steps=1_000_000)
    assert res["capped_games"] == 0
    assert max(res["placements_per_game"]) < 100
    assert res["mean_lines"] < 5


@pytest.mark.parametrize(
    ("env", "policy"),
    [(TETRIS, linear_placement_policy()), (TETRIS, first_legal), (SNAKE, hamiltonian_policy())],
)
def test_batched_boards_play_the_games_single_envs_play(env: dict, policy: Any) -> None:
    batched = play_greedy(policy, env, 3, seed=500, max_steps=250)
    single = play_greedy(policy, env, 3, seed=500, max_steps=250, batched=False)
    np.testing.assert_array_equal(batched.lengths, single.lengths)
    np.testing.assert_allclose(batched.returns, single.returns)
    np.testing.assert_array_equal(batched.capped, single.capped)
    key = "lines" if env is TETRIS else "apples"
    np.testing.assert_array_equal(batched.scores(key), single.scores(key))


def test_step_limit_of_evaluation_is_its_own() -> None:
    assert eval_step_limit(TETRIS) == 10_000  # the registered training limit
    assert eval_step_limit({**TETRIS, "max_episode_steps": 300}) == 300
    uncapped = {**TETRIS, "max_episode_steps": 300, "eval_max_episode_steps": 1_000_000}
    assert eval_step_limit(uncapped) == 1_000_000
    assert eval_step_limit(SNAKE) is None  # starvation ends every game
    rec = play_greedy(linear_placement_policy(), {**TETRIS, "max_episode_steps": 50}, 2, seed=1)
    assert rec.lengths.tolist() == [50, 50] and rec.capped.all()


def test_unknown_metric_names_what_the_env_reports() -> None:
    rec = play_greedy(always_up, SNAKE, 2, seed=0)
    assert rec.scores("apples").shape == (2,)
    with pytest.raises(ValueError, match=r"eval_metric='lines'.*apples"):
        rec.scores("lines")


def test_protocol_names_and_return_protocol_on_cartpole() -> None:
    assert protocol_name(TETRIS) == "tetris" and protocol_name(SNAKE) == "snake"
    res = run_protocol(
        lambda obs: np.zeros(len(obs), dtype=np.int64), {"id": "CartPole-v1"}, games=3, seed=0
    )
    assert res["protocol"] == "return" and res["unit"] == "return"
    assert 5 <= res["min_return"] <= res["max_return"] < 20  # always pushing left falls fast


def test_robot_that_spins_in_place_never_bumps_and_keeps_its_time_limit() -> None:
    env = {"id": "envs.gopigo_bridge:fsrl/GoPiGo-v0"}
    res = run_protocol(lambda obs: np.ones(len(obs), dtype=np.int64), env, games=2, seed=0)
    assert res["protocol"] == "gopigo"
    assert res["max_steps"] == 200  # the registered time limit, not the games' million
    assert res["bump_free_share"] == 1.0 and res["bumped_episodes"] == 0
    assert res["steps_per_game"] == [200, 200]
    assert res["mean_return"] == pytest.approx(0.0, abs=1e-6)  # turning in place: no progress


def test_the_scripted_wall_turning_robot_drives_far_without_bumping() -> None:
    """The reference rule (forward, turn left while the newest reading is below 0.35 of the
    range) on the preset's 3-reading window: bump-free in most of its episodes and far
    ahead of straight-on driving (which bumps in every one)."""
    env = {"id": "envs.gopigo_bridge:fsrl/GoPiGo-v0", "kwargs": {"task_params": {"history": 3}}}
    rule = run_protocol(wall_turn_policy(0.35), env, games=5, seed=1_000_000)
    straight = run_protocol(
        lambda obs: np.zeros(len(obs), dtype=np.int64), env, games=5, seed=1_000_000
    )
    assert straight["bump_free_share"] == 0.0
    assert rule["bump_free_share"] >= 0.8 and rule["mean_return"] > 20.0
    assert rule["mean_return"] > 5 * straight["mean_return"]
    with pytest.raises(ValueError, match="threshold=1.5"):
        wall_turn_policy(1.5)
