"""Play-time search over learned values: exact wins and blocks, greedy at depth 0, and the
states behind observations that it needs."""

from __future__ import annotations

import numpy as np
import pytest

from envs.games import ConnectFour, TicTacToe
from envs.games.search import SearchPlayer
from learner.arena import play_match

C4 = ConnectFour()


def zero(obs: dict) -> np.ndarray:
    return np.zeros(obs["action_mask"].shape)


def prefer(column: int):  # values that like one column and nothing else
    def values(obs: dict) -> np.ndarray:
        q = np.zeros(obs["action_mask"].shape)
        q[:, column] = 0.5
        return q

    return values


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_search_takes_a_win_and_blocks_a_threat_whatever_the_values(depth: int) -> None:
    win = C4.from_moves("001122")  # X to move: 3 completes the bottom row
    block = C4.from_moves("00112")  # O to move: X threatens 3 (and nothing else wins)
    states = np.concatenate([win, block])
    player = SearchPlayer(C4, prefer(6), depth)
    assert player(C4.observe(states), C4.legal(states)).tolist() == [3, 3]


def test_depth_zero_is_greedy_on_the_values_and_search_looks_past_them() -> None:
    state = C4.from_moves("001122")
    assert SearchPlayer(C4, prefer(6), 0)(C4.observe(state), C4.legal(state)).tolist() == [6]
    # a negamax value at the horizon: depth 2 sees that 6 lets nothing happen, 3 wins
    assert SearchPlayer(C4, prefer(6), 2)(C4.observe(state), C4.legal(state)).tolist() == [3]


def test_a_search_over_zero_values_beats_random_play_at_tictactoe() -> None:
    ttt = TicTacToe()
    rng = np.random.default_rng(0)

    def random_player(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.argmax(np.where(mask, rng.random(mask.shape), -1), axis=1)

    match = play_match(ttt, SearchPlayer(ttt, zero, 4), random_player, 40, seed=3)
    assert match.as_first.losses == 0 and match.wins >= 30  # 33-4-3 on these seeds


def test_states_behind_observations_round_trip() -> None:
    for game, moves in ((C4, [3, 3, 2, 4, 6, 0]), (TicTacToe(), [4, 0, 8, 2])):
        state = game.initial(1)
        for m in moves:
            state = game.apply(state, np.array([m]))
            np.testing.assert_array_equal(game.from_observation(game.observe(state)), state)


def test_bad_depths_and_games_without_states_are_refused() -> None:
    with pytest.raises(ValueError, match="depth"):
        SearchPlayer(C4, zero, -1)

    class NoStates(TicTacToe):
        from_observation = None  # type: ignore[assignment]

    with pytest.raises(ValueError, match="from_observation"):
        SearchPlayer(NoStates(), zero, 2)
    SearchPlayer(NoStates(), zero, 0)  # greedy needs no states
