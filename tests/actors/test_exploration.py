from __future__ import annotations

import numpy as np
import pytest

from agents.dqn.exploration import actor_epsilons, epsilon_greedy, epsilon_ladder, greedy_actions


def test_ladder_matches_ape_x_formula() -> None:
    eps = epsilon_ladder(8, epsilon=0.4, alpha=7.0)
    np.testing.assert_allclose(eps[0], 0.4)
    np.testing.assert_allclose(eps[-1], 0.4**8)
    np.testing.assert_allclose(eps[3], 0.4 ** (1 + 7 * 3 / 7))
    assert np.all(np.diff(eps) < 0)


def test_single_slot_uses_base_epsilon() -> None:
    np.testing.assert_allclose(epsilon_ladder(1, 0.3), [0.3])


def test_actor_slices_cover_the_fleet_ladder() -> None:
    ladder = epsilon_ladder(12)
    parts = [actor_epsilons(a, num_actors=3, envs_per_actor=4) for a in range(3)]
    np.testing.assert_allclose(np.concatenate(parts), ladder)
    with pytest.raises(ValueError, match="actor_id"):
        actor_epsilons(3, num_actors=3, envs_per_actor=4)


def test_greedy_respects_mask() -> None:
    q = np.array([[1.0, 5.0, 3.0], [9.0, 0.0, -1.0]])
    np.testing.assert_array_equal(greedy_actions(q), [1, 0])
    mask = np.array([[1, 0, 1], [0, 0, 1]], dtype=bool)
    np.testing.assert_array_equal(greedy_actions(q, mask), [2, 2])


def test_epsilon_greedy_rates_and_mask() -> None:
    rng = np.random.default_rng(0)
    rows = 20_000
    q = np.tile(np.array([[0.0, 1.0, 0.0, 0.0]]), (rows, 1))
    eps = np.where(np.arange(rows) < rows // 2, 0.0, 1.0)
    actions = epsilon_greedy(q, eps, rng)
    assert np.all(actions[: rows // 2] == 1)  # eps = 0: always greedy
    counts = np.bincount(actions[rows // 2 :], minlength=4) / (rows // 2)
    np.testing.assert_allclose(counts, 0.25, atol=0.02)  # eps = 1: uniform
    mask = np.tile(np.array([[True, False, True, False]]), (rows, 1))
    masked = epsilon_greedy(q, np.ones(rows), rng, mask)
    assert set(np.unique(masked).tolist()) == {0, 2}


def test_mask_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="allows no action"):
        greedy_actions(np.zeros((2, 3)), np.array([[1, 0, 0], [0, 0, 0]], bool))
    with pytest.raises(ValueError, match="shape"):
        greedy_actions(np.zeros((2, 3)), np.ones((2, 4), bool))
