"""Snake rules: growth, collisions, starvation, the full-board win, apple placement."""

from __future__ import annotations

import numpy as np
import pytest

from envs.snake.core import DOWN, LEFT, RIGHT, UP, SnakeCore

ROW0 = np.zeros(1, dtype=np.int64)


def _core(**kw) -> SnakeCore:
    core = SnakeCore(1, **kw)
    core.reset_rows(ROW0, [np.random.default_rng(0)])
    return core


def _set_snake(core: SnakeCore, cells: list[tuple[int, int]], direction: int) -> None:
    """Cells from head to tail."""
    core.placed[0] = np.iinfo(np.int32).min // 2
    core.t[0] = 0
    for k, (r, c) in enumerate(cells):
        core.placed[0, r * core.width + c] = -k
    core.length[0] = len(cells)
    core.head[0] = cells[0][0] * core.width + cells[0][1]
    core.direction[0] = direction


def _step(core: SnakeCore, action: int):
    return core.step(ROW0, np.array([action]))


def _apple_at(core: SnakeCore, r: int, c: int) -> None:
    core.apple[0] = r * core.width + c


def test_eating_grows_by_one_and_places_a_new_apple_on_a_free_cell() -> None:
    core = _core()
    _set_snake(core, [(5, 5), (5, 4), (5, 3)], RIGHT)
    _apple_at(core, 5, 6)
    reward, term, trunc, ate = _step(core, RIGHT)
    assert ate[0] and not term[0] and not trunc[0] and reward[0] == 1.0
    assert core.length[0] == 4 and core.apples[0] == 1
    body = core.body_mask(ROW0)[0]
    assert body.sum() == 4 and body[5 * 10 + 3]  # tail stayed
    assert 0 <= core.apple[0] < 100 and not body[core.apple[0]]
    reward, *_ = _step(core, RIGHT)
    assert reward[0] == 0.0 and core.body_mask(ROW0)[0].sum() == 4


@pytest.mark.parametrize(
    ("cells", "direction", "action"),
    [
        ([(0, 5), (0, 4), (0, 3)], UP, UP),  # top wall
        ([(9, 5), (9, 4), (9, 3)], RIGHT, DOWN),  # bottom wall
        ([(4, 0), (4, 1), (4, 2)], LEFT, LEFT),  # left wall
        ([(4, 9), (4, 8), (4, 7)], RIGHT, RIGHT),  # right wall
        # U-turn into its own body
        ([(5, 5), (5, 6), (4, 6), (4, 5), (4, 4), (5, 4)], LEFT, UP),
    ],
)
def test_collisions_end_the_game(cells, direction, action) -> None:
    core = _core()
    _set_snake(core, cells, direction)
    _apple_at(core, 9, 0) if cells[0] != (9, 5) else _apple_at(core, 0, 0)
    reward, term, trunc, ate = _step(core, action)
    assert term[0] and not trunc[0] and not ate[0] and reward[0] == -1.0
    assert core.dead[0]


def test_moving_into_the_cell_the_tail_leaves_is_allowed() -> None:
    core = _core()
    # A 2x2 loop: head (5,5), then (5,6), (4,6), tail (4,5); moving up enters the tail cell.
    _set_snake(core, [(5, 5), (5, 6), (4, 6), (4, 5)], LEFT)
    _apple_at(core, 0, 0)
    _, term, *_ = _step(core, UP)
    assert not term[0] and core.head[0] == 4 * 10 + 5


def test_reverse_is_ignored_and_relative_actions_turn() -> None:
    core = _core()
    _set_snake(core, [(5, 5), (5, 4), (5, 3)], RIGHT)
    _apple_at(core, 0, 0)
    _step(core, LEFT)  # reverse of RIGHT: keeps going right
    assert core.head[0] == 5 * 10 + 6 and core.direction[0] == RIGHT
    rel = _core(relative_actions=True)
    _set_snake(rel, [(5, 5), (5, 4), (5, 3)], RIGHT)
    _apple_at(rel, 0, 0)
    _step(rel, 1)  # turn right: heading down
    assert rel.direction[0] == DOWN and rel.head[0] == 6 * 10 + 5
    _step(rel, 2)  # turn left: heading right again
    assert rel.direction[0] == RIGHT and rel.head[0] == 6 * 10 + 6


def test_starvation_truncates() -> None:
    core = _core(starvation_steps=8)
    _set_snake(core, [(5, 5), (5, 4), (5, 3)], RIGHT)
    _apple_at(core, 0, 0)
    moves = [DOWN, LEFT, UP, RIGHT] * 2  # circle in place, never reaching the apple
    for k, a in enumerate(moves):
        _, term, trunc, _ = _step(core, a)
        assert not term[0]
        assert bool(trunc[0]) == (k == len(moves) - 1)


def test_full_board_is_a_win() -> None:
    core = _core(height=4, width=4, initial_length=2)
    # Serpentine over all cells but (0, 0); head at (0, 1) heading left.
    order = [
        (0, 1),
        (0, 2),
        (0, 3),
        (1, 3),
        (1, 2),
        (1, 1),
        (1, 0),
        (2, 0),
        (2, 1),
        (2, 2),
        (2, 3),
        (3, 3),
        (3, 2),
        (3, 1),
        (3, 0),
    ]
    _set_snake(core, order, LEFT)
    _apple_at(core, 0, 0)
    reward, term, trunc, ate = _step(core, LEFT)
    assert ate[0] and term[0] and not trunc[0] and core.won[0]
    assert core.length[0] == 16 and core.apple[0] == -1 and reward[0] == 1.0


def test_apples_are_uniform_over_free_cells() -> None:
    core = _core(height=4, width=4, initial_length=2)
    body = core.body_mask(ROW0)[0]
    counts = np.zeros(16)
    for _ in range(2800):
        core._place_apples(ROW0)
        counts[core.apple[0]] += 1
    assert counts[body].sum() == 0
    free = counts[~body]
    expected = 2800 / free.size
    chi2 = ((free - expected) ** 2 / expected).sum()
    assert chi2 < 40.0, (chi2, free)  # 13 dof: p ~ 1e-4 at 40
