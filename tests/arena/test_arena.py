"""The arena: reproducible payoff tables, ratings that order a strong scripted player
above random ones, and the promotion gates at their thresholds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from envs.games import ConnectFour, RandomPlayer, TicTacToe
from envs.games.connect_four_search import AlphaBetaPlayer
from envs.games.players import FirstLegalPlayer
from learner.arena import (
    Arena,
    MatchResult,
    PayoffTable,
    gate,
    gate_by_return,
    pfsp_weights,
    play_match,
    policy_player,
)
from learner.ratings import Ratings


def test_payoff_on_fixed_seeds_is_reproducible() -> None:
    game = ConnectFour()
    one = play_match(game, RandomPlayer(), RandomPlayer(), 40, seed=11, names=("r1", "r2"))
    two = play_match(game, RandomPlayer(5), RandomPlayer(6), 40, seed=11, names=("r1", "r2"))
    assert one == two and one.to_dict() == two.to_dict()  # the match reseeds its players
    other = play_match(game, RandomPlayer(), RandomPlayer(), 40, seed=12, names=("r1", "r2"))
    assert other.outcomes != one.outcomes
    assert one.as_first.games == one.as_second.games == 20
    assert one.wins + one.draws + one.losses == 40


def test_sides_alternate_and_are_counted_per_side() -> None:
    # Tic-tac-toe with no opening: first_legal against itself plays cells 0, 1, 2, ... in
    # turn, so the first mover completes the 2-4-6 diagonal on its 4th move every game.
    game = TicTacToe()
    result = play_match(game, FirstLegalPlayer(), FirstLegalPlayer(), 4, seed=0, opening_plies=0)
    assert result.outcomes == (1.0, -1.0, 1.0, -1.0)
    assert (result.as_first.wins, result.as_second.losses) == (2, 2)
    assert result.score() == 0.5


def test_ratings_order_alphabeta_above_random_and_random_pair_stays_close() -> None:
    arena = Arena("connect_four", games=40)
    ab = AlphaBetaPlayer(4)
    arena.match("alphabeta4", ab, "random_a", RandomPlayer(), seed=1)
    arena.match("random_a", RandomPlayer(), "random_b", RandomPlayer(), seed=2)
    arena.match("alphabeta4", ab, "random_b", RandomPlayer(), seed=3)
    arena.match("random_b", RandomPlayer(), "random_a", RandomPlayer(), seed=4)
    table = arena.ratings.table()
    assert table[0].name == "alphabeta4"
    strong, ra, rb = (
        arena.ratings["alphabeta4"],
        arena.ratings["random_a"],
        arena.ratings["random_b"],
    )
    assert strong.ordinal > max(ra.mu, rb.mu) + 3 * max(ra.sigma, rb.sigma)
    assert abs(ra.mu - rb.mu) < 2 * max(ra.sigma, rb.sigma)
    assert arena.payoff.get("alphabeta4", "random_a").score() >= 0.95


def test_ratings_and_payoff_round_trip_as_json(tmp_path) -> None:
    arena = Arena(ConnectFour(), games=4)
    arena.match("x", RandomPlayer(), "y", FirstLegalPlayer(), seed=3)
    path = tmp_path / "ratings.json"
    arena.ratings.save(path)
    back = Ratings.load(path)
    assert [r.to_dict() for r in back.table()] == [r.to_dict() for r in arena.ratings.table()]
    json.loads(path.read_text())  # plain JSON
    table = PayoffTable.from_json(arena.payoff.to_json())
    assert table.rows() == arena.payoff.rows()
    with pytest.raises(ValueError, match="ratings format"):
        Ratings.from_json('{"format": "pickle"}')
    with pytest.raises(ValueError, match="payoff table is not JSON"):
        PayoffTable.from_json("{nope")
    with pytest.raises(ValueError, match="rating of 'x' is malformed"):
        Ratings.from_json('{"format": "fsrl-ratings/1", "players": {"x": {"mu": 1}}}')


@pytest.mark.parametrize(
    ("wins", "draws", "losses", "passed"),
    [(11, 0, 9, True), (10, 0, 10, False), (10, 2, 8, True), (10, 1, 9, False), (0, 0, 20, False)],
)
def test_gate_at_the_threshold(wins: int, draws: int, losses: int, passed: bool) -> None:
    outcomes = [1.0] * wins + [0.0] * draws + [-1.0] * losses
    result = gate(outcomes, threshold=0.55)
    assert result.passed is passed
    assert result.games == 20
    assert result.win_rate == pytest.approx((wins + 0.5 * draws) / 20)


def test_gate_takes_a_match_and_refuses_bad_input() -> None:
    match = play_match(ConnectFour(), AlphaBetaPlayer(4), RandomPlayer(), 10, seed=0)
    assert isinstance(match, MatchResult)
    assert gate(match).passed and gate(match).win_rate == 1.0
    assert gate(match, threshold=1.0, draw_weight=0.0).passed  # 10 wins of 10
    with pytest.raises(ValueError, match="threshold"):
        gate(match, threshold=1.5)
    with pytest.raises(ValueError, match="at least one game"):
        gate([])
    with pytest.raises(ValueError, match=r"\+1, 0 or -1"):
        gate([1.0, 0.5])
    with pytest.raises(ValueError, match="even"):
        play_match(ConnectFour(), RandomPlayer(), RandomPlayer(), 3, seed=0)


def test_gate_by_return() -> None:
    assert gate_by_return(480.0, None).passed
    assert gate_by_return(480.0, 470.0).passed
    assert not gate_by_return(470.0, 470.0).passed
    assert not gate_by_return(475.0, 470.0, margin=10.0).passed
    with pytest.raises(ValueError, match="finite"):
        gate_by_return(float("nan"), 1.0)


def test_challenge_keeps_the_champion_when_the_candidate_fails() -> None:
    arena = Arena("connect_four", games=20)
    champ = ("v1", AlphaBetaPlayer(4))
    first = arena.challenge("v1", champ[1], champion=None)
    assert first.passed and first.reason == "no champion yet"
    weak = arena.challenge(
        "v2", RandomPlayer(), champion=champ, pool=[("rnd", RandomPlayer())], seed=5
    )
    assert not weak.passed and weak.win_rate is not None and weak.win_rate < 0.1
    assert arena.payoff.get("v2", "rnd") is not None and arena.payoff.get("v2", "v1") is not None
    assert arena.ratings["v1"].mu > arena.ratings["v2"].mu


def test_policy_player_adapts_a_greedy_dict_policy() -> None:
    seen = {}

    def greedy(obs):
        seen.update(obs)
        q = np.where(obs["action_mask"] > 0, np.arange(obs["action_mask"].shape[1]), -1)
        return q.argmax(axis=1)

    game = ConnectFour()
    state = game.from_moves("666666")
    moves = policy_player(greedy)(game.observe(state), game.legal(state))
    assert moves.tolist() == [5] and seen["board"].shape == (1, 2, 6, 7)
    bad = policy_player(lambda obs: np.zeros(len(obs["board"]), dtype=np.int64))
    with pytest.raises(ValueError, match="illegal move"):
        play_match(game, bad, FirstLegalPlayer(), 2, seed=0, opening_plies=0, names=("bad", "fl"))


def test_pfsp_weights_favour_opponents_the_learner_loses_to() -> None:
    w = pfsp_weights({"beaten": 1.0, "even": 0.5, "feared": 0.1, "unknown": float("nan")})
    assert sum(w.values()) == pytest.approx(1.0)
    assert w["feared"] > w["even"] == w["unknown"] > w["beaten"] > 0
    with pytest.raises(ValueError, match="at least one"):
        pfsp_weights({})
