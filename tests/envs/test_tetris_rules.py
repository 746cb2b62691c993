"""Tetris rules, table-driven: rotations, kicks, line clears, top out, 7-bag, placements."""

from __future__ import annotations

import numpy as np
import pytest

from envs.tetris.core import (
    HARD_DROP,
    LEFT,
    RIGHT,
    ROTATE_CCW,
    ROTATE_CW,
    TetrisCore,
)
from envs.tetris.pieces import CELLS, PIECE_NAMES

ROW0 = np.zeros(1, dtype=np.int64)

# SRS states 0, R, 2, L of every piece, as drawn in the guideline.
SRS_STATES = {
    "I": (
        ("....", "XXXX", "....", "...."),
        ("..X.", "..X.", "..X.", "..X."),
        ("....", "....", "XXXX", "...."),
        (".X..", ".X..", ".X..", ".X.."),
    ),
    "J": (
        ("X..", "XXX", "..."),
        (".XX", ".X.", ".X."),
        ("...", "XXX", "..X"),
        (".X.", ".X.", "XX."),
    ),
    "L": (
        ("..X", "XXX", "..."),
        (".X.", ".X.", ".XX"),
        ("...", "XXX", "X.."),
        ("XX.", ".X.", ".X."),
    ),
    "O": ((".XX", ".XX", "..."),) * 4,
    "S": (
        (".XX", "XX.", "..."),
        (".X.", ".XX", "..X"),
        ("...", ".XX", "XX."),
        ("X..", "XX.", ".X."),
    ),
    "T": (
        (".X.", "XXX", "..."),
        (".X.", ".XX", ".X."),
        ("...", "XXX", ".X."),
        (".X.", "XX.", ".X."),
    ),
    "Z": (
        ("XX.", ".XX", "..."),
        ("..X", ".XX", ".X."),
        ("...", "XX.", ".XX"),
        (".X.", "XX.", "X.."),
    ),
}


def _cells_of(drawing: tuple[str, ...]) -> set[tuple[int, int]]:
    return {(r, c) for r, line in enumerate(drawing) for c, ch in enumerate(line) if ch == "X"}


@pytest.mark.parametrize("name", list(SRS_STATES))
@pytest.mark.parametrize("rot", range(4))
def test_piece_rotation_states_match_srs(name: str, rot: int) -> None:
    p = PIECE_NAMES.index(name)
    assert {tuple(c) for c in CELLS[p, rot].tolist()} == _cells_of(SRS_STATES[name][rot])


def _core(**kw) -> TetrisCore:
    core = TetrisCore(1, gravity_interval=0, **kw)
    core.reset_rows(ROW0, [np.random.default_rng(0)])
    return core


def _set_piece(core: TetrisCore, name: str, rot: int, x: int, y: int) -> None:
    core.piece[0] = PIECE_NAMES.index(name)
    core.rot[0], core.x[0], core.y[0] = rot, x, y
    core.recompute_tops(ROW0)  # the tests edit boards by hand
    core._candidates(ROW0)


def _fill(core: TetrisCore, cells: list[tuple[int, int]]) -> None:
    for r, c in cells:
        core.board[0, r, c] = 1


H = 22  # 20 visible + 2 hidden rows
W = 10

# name, start (rot, x, y), action, blocked cells, expected (rot, x, y)
KICK_CASES = [
    # J in R hugging the left wall turns to 2: test 2 of R->2 shifts it right.
    ("J", (1, -1, 10), ROTATE_CW, [], (2, 0, 10)),
    # I vertical against the right wall turns to 2: test 2 of R->2 is (-1, 0).
    ("I", (1, W - 3, 10), ROTATE_CW, [], (2, W - 4, 10)),
    # I lying on the floor turns to R: tests 1-4 leave the board, test 5 is (+1, +2).
    ("I", (0, 3, H - 2), ROTATE_CW, [], (1, 4, H - 4)),
    # T at the right wall in L turns to 0 with test 2 (-1, 0).
    ("T", (3, W - 2, 10), ROTATE_CW, [], (0, W - 3, 10)),
    # T in 0 with its R cell blocked: 0->R test 2 is (-1, 0).
    ("T", (0, 4, 10), ROTATE_CW, [(12, 5)], (1, 3, 10)),
    # S turning counter-clockwise (0->L) on an open board uses test 1.
    ("S", (0, 4, 10), ROTATE_CCW, [], (3, 4, 10)),
    # Z in 0 boxed in so that every kick of 0->R is blocked: nothing changes.
    (
        "Z",
        (0, 4, 10),
        ROTATE_CW,
        [
            (r, c)
            for r in range(8, 14)
            for c in range(2, 9)
            if (r, c) not in {(10, 4), (10, 5), (11, 5), (11, 6)}
        ],
        (0, 4, 10),
    ),
    # O never moves when turned (its rotation state turns, its cells are the same).
    ("O", (0, 4, 10), ROTATE_CCW, [], (3, 4, 10)),
    # Shifts: blocked by a wall, free otherwise.
    ("L", (0, 0, 10), LEFT, [], (0, 0, 10)),
    ("L", (0, 0, 10), RIGHT, [], (0, 1, 10)),
]


@pytest.mark.parametrize(("name", "start", "action", "blocked", "expected"), KICK_CASES)
def test_rotation_kicks_and_shifts(name, start, action, blocked, expected) -> None:
    core = _core()
    _fill(core, blocked)
    _set_piece(core, name, *start)
    core.move(ROW0, np.array([action]))
    assert (int(core.rot[0]), int(core.x[0]), int(core.y[0])) == expected


@pytest.mark.parametrize("name", PIECE_NAMES)
@pytest.mark.parametrize("action", [ROTATE_CW, ROTATE_CCW])
def test_four_turns_on_open_board_come_back(name: str, action: int) -> None:
    core = _core()
    _set_piece(core, name, 0, 3, 8)
    seen = []
    for _ in range(4):
        core.move(ROW0, np.array([action]))
        seen.append((int(core.rot[0]), int(core.x[0]), int(core.y[0])))
    assert seen[-1] == (0, 3, 8)
    expected_rots = [1, 2, 3, 0] if action == ROTATE_CW else [3, 2, 1, 0]
    if name != "O":
        assert [s[0] for s in seen] == expected_rots
        assert all(s[1:] == (3, 8) for s in seen)  # test 1 (no offset) on an open board


# Rows (from the bottom, 0 = floor) filled except column 0; "gap" rows filled except
# column 5; dropping a vertical I into column 0 clears exactly the "full" rows.
CLEAR_CASES = [
    ({0}, set(), 1),
    ({0, 1}, set(), 2),
    ({0, 1, 2}, set(), 3),
    ({0, 1, 2, 3}, set(), 4),
    ({0, 2}, {1, 3}, 2),  # non-adjacent
    ({1, 3}, {0, 2}, 2),  # non-adjacent, lowest row stays
    ({0, 3}, {1, 2}, 2),
    ({2}, {0, 1, 3}, 1),
]


@pytest.mark.parametrize(("full", "gap", "expected"), CLEAR_CASES)
def test_line_clears(full: set[int], gap: set[int], expected: int) -> None:
    core = _core()
    for k in range(4):
        row = H - 1 - k
        if k in full:
            core.board[0, row, 1:] = 1
        elif k in gap:
            core.board[0, row, 1:] = 1
            core.board[0, row, 5] = 0
    marker_row = H - 5
    core.board[0, marker_row, 9] = 1  # a block above the stack must fall by `expected`
    before = core.board[0].copy()
    _set_piece(core, "I", 0, 3, 0)
    action = 1 * W + 0  # rotation R, leftmost column 0
    assert core.mask[0, action]
    reward, cleared = core.place(ROW0, np.array([action]))
    assert int(cleared[0]) == expected
    assert int(core.lines[0]) == expected
    assert reward[0] == float(expected)  # default line_rewards = lines cleared
    # Expected board: drop the I, delete the full rows, shift the rest down.
    after = before.copy()
    after[H - 4 : H, 0] = 1
    keep = [r for r in range(H) if not (after[r] != 0).all()]
    want = np.zeros_like(after)
    want[H - len(keep) :] = after[keep]
    assert np.array_equal(core.board[0] != 0, want != 0)
    assert core.board[0, marker_row + expected, 9] == 1 and core.board[0, marker_row, 9] == 0


def test_guideline_score_scheme() -> None:
    core = _core(rewards=None)
    from envs.tetris.core import TetrisRewardConfig

    core.rewards = TetrisRewardConfig(scheme="score")
    core.board[0, H - 4 :, 1:] = 1
    _set_piece(core, "I", 0, 3, 0)
    reward, cleared = core.place(ROW0, np.array([1 * W + 0]))
    drop = 2 * (H - 4 - core.spawn_y)  # hard-drop points for the rows fallen
    assert int(cleared[0]) == 4 and reward[0] == 800 + drop and core.score[0] == 800 + drop


def test_top_out_when_spawn_is_blocked() -> None:
    core = _core()
    core.board[0, 2:, 2:7] = 1  # a tower reaching the top visible row under the spawn
    core.board[0, 2:, 0] = 0
    _set_piece(core, "T", 0, core.spawn_x, core.spawn_y)
    assert not core.game_over[0]
    core.move(ROW0, np.array([HARD_DROP]))  # locks in the hidden rows
    assert core.game_over[0]


def test_seven_bag_windows_are_permutations() -> None:
    for seed in range(5):
        core = TetrisCore(1)
        core.reset_rows(ROW0, [np.random.default_rng(seed)])
        seq = [int(core.piece[0])]
        for _ in range(7 * 40 - 1):  # crosses several buffer refills
            seq.append(int(core._next_piece(ROW0)[0]))
        for k in range(0, len(seq), 7):
            assert sorted(seq[k : k + 7]) == list(range(7)), (seed, k, seq[k : k + 7])
        assert len({tuple(seq[k : k + 7]) for k in range(0, len(seq), 7)}) > 10
        for skip in range(1, 9):  # a new game (no new seed) starts on a bag boundary
            for _ in range(skip):
                core._next_piece(ROW0)
            core.reset_rows(ROW0)
            first = [int(core.piece[0])] + [int(core._next_piece(ROW0)[0]) for _ in range(6)]
            assert sorted(first) == list(range(7)), (seed, skip, first)


# ---------------------------------------------------------------- placements vs play
def _random_board(rng: np.random.Generator, max_height: int) -> np.ndarray:
    board = np.zeros((H, W), dtype=np.uint8)
    heights = rng.integers(0, max_height + 1, size=W)
    for c in range(W):
        board[H - heights[c] :, c] = 1
    holes = rng.random((H, W)) < 0.15
    board[holes] = 0
    board[(board != 0).all(axis=1), rng.integers(0, W)] = 0  # no full rows
    return board


def _reachable_by_play(core: TetrisCore) -> set[frozenset]:
    """Final cell sets reachable by shifting/rotating from spawn (no gravity, no soft
    drop) and a hard drop, explored breadth-first with the per-move rules."""
    p = int(core.piece[0])
    start = (0, int(core.spawn_x), int(core.spawn_y))
    seen = {start}
    frontier = [start]
    finals: set[frozenset] = set()
    while frontier:
        nxt = []
        for state in frontier:
            for action in (LEFT, RIGHT, ROTATE_CW, ROTATE_CCW):
                core.rot[0], core.x[0], core.y[0] = state
                core.move(ROW0, np.array([action]))
                s2 = (int(core.rot[0]), int(core.x[0]), int(core.y[0]))
                if s2 not in seen:
                    seen.add(s2)
                    nxt.append(s2)
        frontier = nxt
    for r, x, y in seen:
        land = int(
            core._drop_y(ROW0, np.array([p]), np.array([r]), np.array([x]), np.array([y]))[0]
        )
        finals.add(frozenset((land + a, x + b) for a, b in CELLS[p, r].tolist()))
    return finals


def _enumerated(core: TetrisCore) -> set[frozenset]:
    p = int(core.piece[0])
    from envs.tetris.pieces import MIN_COL

    out = set()
    for a in np.flatnonzero(core.mask[0]):
        r, col = divmod(int(a), W)
        x = col - int(MIN_COL[p, r])
        y = int(core.land[0, a])
        out.add(frozenset((y + i, x + j) for i, j in CELLS[p, r].tolist()))
    return out


@pytest.mark.parametrize("name", PIECE_NAMES)
def test_placements_equal_positions_reachable_by_play(name: str) -> None:
    rng = np.random.default_rng(PIECE_NAMES.index(name))
    core = _core()
    for _ in range(6):
        core.board[0] = _random_board(rng, max_height=14)
        _set_piece(core, name, 0, core.spawn_x, core.spawn_y)
        enumerated = _enumerated(core)
        assert int(core.mask[0].sum()) == len(enumerated)  # no duplicate placements
        assert enumerated == _reachable_by_play(core)


@pytest.mark.parametrize("name", PIECE_NAMES)
def test_placements_near_the_top_are_all_playable(name: str) -> None:
    rng = np.random.default_rng(100 + PIECE_NAMES.index(name))
    core = _core()
    for _ in range(6):
        core.board[0] = _random_board(rng, max_height=20)
        core.board[0, :2] = 0
        _set_piece(core, name, 0, core.spawn_x, core.spawn_y)
        assert _enumerated(core) <= _reachable_by_play(core)


def test_fast_candidate_features_equal_built_afterstates() -> None:
    """The column-top shortcut must agree with measuring every afterstate board."""
    num = 16
    rows = np.arange(num)
    core = TetrisCore(num)
    core.reset_rows(rows, [np.random.default_rng(i) for i in range(num)])
    rng = np.random.default_rng(0)
    clearing = 0
    for _ in range(150):
        fast = core.candidate_features(rows)
        exact = core.candidate_features(rows, exact=True)
        np.testing.assert_allclose(fast, exact, atol=1e-6)
        clearing += int((exact[..., 0] > 0).sum())
        # A greedy-ish policy (fewest holes, then lowest) so that rows get cleared.
        top = core.top.copy()
        core.recompute_tops(rows)
        assert np.array_equal(core.top, top)  # kept current through locks and clears
        score = np.where(core.mask, -exact[..., 1] * 10 - exact[..., 4], -np.inf)
        score += rng.random(score.shape) * 0.05
        core.place(rows, np.argmax(score, axis=1))
        over = rows[core.game_over]
        if over.size:
            core.reset_rows(over)
    assert clearing > 50  # the line-clearing branch was exercised


# SRS wall-kick tests as published: (dx, dy) with y pointing up, per rotation "from>to".
SRS_KICKS_JLSTZ = {
    "0>R": [(0, 0), (-1, 0), (-1, 1), (0, -2), (-1, -2)],
    "R>0": [(0, 0), (1, 0), (1, -1), (0, 2), (1, 2)],
    "R>2": [(0, 0), (1, 0), (1, -1), (0, 2), (1, 2)],
    "2>R": [(0, 0), (-1, 0), (-1, 1), (0, -2), (-1, -2)],
    "2>L": [(0, 0), (1, 0), (1, 1), (0, -2), (1, -2)],
    "L>2": [(0, 0), (-1, 0), (-1, -1), (0, 2), (-1, 2)],
    "L>0": [(0, 0), (-1, 0), (-1, -1), (0, 2), (-1, 2)],
    "0>L": [(0, 0), (1, 0), (1, 1), (0, -2), (1, -2)],
}
SRS_KICKS_I = {
    "0>R": [(0, 0), (-2, 0), (1, 0), (-2, -1), (1, 2)],
    "R>0": [(0, 0), (2, 0), (-1, 0), (2, 1), (-1, -2)],
    "R>2": [(0, 0), (-1, 0), (2, 0), (-1, 2), (2, -1)],
    "2>R": [(0, 0), (1, 0), (-2, 0), (1, -2), (-2, 1)],
    "2>L": [(0, 0), (2, 0), (-1, 0), (2, 1), (-1, -2)],
    "L>2": [(0, 0), (-2, 0), (1, 0), (-2, -1), (1, 2)],
    "L>0": [(0, 0), (1, 0), (-2, 0), (1, -2), (-2, 1)],
    "0>L": [(0, 0), (-1, 0), (2, 0), (-1, 2), (2, -1)],
}
_STATE = "0R2L"


def _kick_cells(p: int, rot: int, dx: int, dy_up: int) -> set[tuple[int, int]]:
    x0, y0 = 3, 10
    return {(y0 - dy_up + r, x0 + dx + c) for r, c in CELLS[p, rot].tolist()}


def _kick_cases():
    """(piece, transition, k, tests, blockers): blockers fill one cell of each of tests
    1..k that test k+1 does not need. The few (4 of 240) cases where an earlier test's
    cells all lie inside test k+1's are geometrically impossible and not generated."""
    for name in "IJLSTZ":
        p = PIECE_NAMES.index(name)
        table = SRS_KICKS_I if name == "I" else SRS_KICKS_JLSTZ
        for key, tests in table.items():
            r_from, r_to = _STATE.index(key[0]), _STATE.index(key[2])
            here = _kick_cells(p, r_from, 0, 0)
            for k in range(5):
                wanted = _kick_cells(p, r_to, *tests[k])
                frees = [_kick_cells(p, r_to, *tests[j]) - wanted - here for j in range(k)]
                if all(frees):
                    yield name, key, k, tests, sorted(min(f) for f in frees)


KICK_CASES_ALL = list(_kick_cases())


def test_kick_cases_cover_nearly_every_test() -> None:
    assert len(KICK_CASES_ALL) >= 236  # of 6 pieces x 8 transitions x 5 tests = 240


@pytest.mark.parametrize(("name", "key", "k", "tests", "blockers"), KICK_CASES_ALL)
def test_each_kick_test_is_tried_in_order(name: str, key: str, k: int, tests, blockers) -> None:
    """Block the targets of kick tests 1..k (test k+1 stays free): the piece must land
    exactly on test k+1's offset."""
    r_from, r_to = _STATE.index(key[0]), _STATE.index(key[2])
    action = ROTATE_CW if (r_to - r_from) % 4 == 1 else ROTATE_CCW
    core = _core()
    _fill(core, blockers)
    _set_piece(core, name, r_from, 3, 10)
    core.move(ROW0, np.array([action]))
    dx, dy_up = tests[k]
    assert (int(core.rot[0]), int(core.x[0]), int(core.y[0])) == (r_to, 3 + dx, 10 - dy_up)
