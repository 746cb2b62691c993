"""The Tetris rules, vectorized over a batch of B boards (numpy only).

:class:`TetrisCore` owns every rule: the 7-bag randomizer, spawning, SRS rotation with
wall kicks, per-move actions with gravity, placement enumeration, locking, line
clears, scoring and game over. Both :class:`~envs.tetris.env.TetrisEnv` (B = 1) and
:class:`~envs.tetris.vector.TetrisVectorEnv` (B = num_envs) drive this one class, so
the rules live in one place. The per-move inputs are one table (``MOVE_TRIES``: the
ordered offsets each input tries) read by both :meth:`TetrisCore.move` (any rows) and
:meth:`TetrisCore.move_one` (one board, plain ints, for the single env); both lock
through the same line-clear and scoring code, and the tests play them side by side.

Board layout: ``board[b, row, col]`` (uint8 0/1), row 0 at the top. The first
``hidden_rows`` rows are the hidden spawn area above the visible ``height`` rows.
``board`` is a view into a padded array whose border cells are filled, so collision
tests need no bounds checks and column tops need no emptiness test.

Randomness: each board ``b`` draws its pieces from its own ``numpy.random.Generator``
(``rngs[b]``), whole bags at a time, so board b's piece sequence depends only on that
generator: a batched board seeded like a single env plays the same game.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from envs.tetris.pieces import (
    BOTTOM,
    CELLS,
    DISTINCT_ROTATIONS,
    KICKS,
    MIN_COL,
    NUM_PIECES,
    WIDTH,
)

logger = logging.getLogger(__name__)

# Per-move action ids.
NOOP, LEFT, RIGHT, ROTATE_CW, ROTATE_CCW, SOFT_DROP, HARD_DROP = range(7)
NUM_MOVE_ACTIONS = 7
MOVE_ACTION_NAMES = ("noop", "left", "right", "rotate_cw", "rotate_ccw", "soft_drop", "hard_drop")

_BAGS_PER_DRAW = 16  # bags drawn from a board's generator at once
_GUIDELINE_LINE_SCORE = np.array([0, 100, 300, 500, 800], dtype=np.int64)
_PAD_ROWS = 6  # filled rows above the top and below the floor
_PAD_COLS = 5  # filled columns left and right


def _build_move_tries() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The per-move input rules as one table, read by both :meth:`TetrisCore.move` and
    :meth:`TetrisCore.move_one`.

    For piece p in rotation r, input a turns the piece to ``MOVE_TO[p, r, a]`` and tries
    the box offsets ``MOVE_TRIES[p, r, a, :MOVE_NUM_TRIES[p, r, a]]`` (drow, dcol) in
    order; the first one that fits is taken. Shifts try one offset, rotations the five
    SRS kicks, a soft drop one row down; no-op and hard drop try none (the hard drop is
    the drop to the lowest free row).
    """
    to = np.zeros((NUM_PIECES, 4, NUM_MOVE_ACTIONS), dtype=np.int64)
    tries = np.zeros((NUM_PIECES, 4, NUM_MOVE_ACTIONS, 5, 2), dtype=np.int64)
    num = np.zeros((NUM_PIECES, 4, NUM_MOVE_ACTIONS), dtype=np.int64)
    for p in range(NUM_PIECES):
        for r in range(4):
            to[p, r] = r
            for a, off in ((LEFT, (0, -1)), (RIGHT, (0, 1)), (SOFT_DROP, (1, 0))):
                tries[p, r, a, 0] = off
                num[p, r, a] = 1
            for a, d, turn in ((ROTATE_CW, 0, 1), (ROTATE_CCW, 1, -1)):
                to[p, r, a] = (r + turn) % 4
                tries[p, r, a] = KICKS[p, r, d]
                num[p, r, a] = 5
    return to, tries, num


MOVE_TO, MOVE_TRIES, MOVE_NUM_TRIES = _build_move_tries()
# What a move earns when it succeeds, and whether it locks the piece when all tries fail.
MOVE_POINTS = np.array([0, 0, 0, 0, 0, 1, 0], dtype=np.int64)
MOVE_LOCKS_IF_BLOCKED = np.array([0, 0, 0, 0, 0, 1, 0], dtype=bool)

FEATURE_NAMES_BASE = (
    "lines_cleared/4",
    "holes/W",
    "bumpiness/H",
    "aggregate_height/(H*W)",
    "max_height/H",
    "well_depth_sum/H",
    "landing_height/H",
    "eroded_cells/16",
)


@dataclass(frozen=True)
class TetrisRewardConfig:
    """How a step's reward is computed (all terms add up).

    * ``scheme="lines"``: ``line_rewards[n - 1]`` when n (1..4) rows are cleared.
    * ``scheme="score"``: the change of the guideline score: 100/300/500/800 x level for
      1/2/3/4 rows (level = 1 + lines // 10), +1 per soft-dropped row, +2 per
      hard-dropped row (placement mode counts its drop as a hard drop).
    * ``piece_reward`` for every piece locked (a survival bonus).
    * ``game_over_penalty`` added on the step that tops out (use a negative value).
    * ``invalid_action_penalty``: placement mode, a masked action under the "penalty"
      policy (the board is left untouched).
    """

    scheme: str = "lines"
    line_rewards: tuple[float, float, float, float] = (1.0, 2.0, 3.0, 4.0)
    piece_reward: float = 0.0
    game_over_penalty: float = 0.0
    invalid_action_penalty: float = -1.0

    def __post_init__(self) -> None:
        if self.scheme not in ("lines", "score"):
            raise ValueError(f"reward scheme must be 'lines' or 'score', got {self.scheme!r}")
        if len(self.line_rewards) != 4:
            raise ValueError(
                f"line_rewards needs 4 values (1..4 rows), got {tuple(self.line_rewards)!r}"
            )


class TetrisCore:
    """B Tetris boards stepped together; every method works on a subset ``rows``.

    Promises: a board's evolution depends only on its own state, its own generator
    and its own actions (rows never interact); placement candidates (``mask``,
    ``land``) are kept current for every live board after each spawn.
    """

    def __init__(
        self,
        num_boards: int,
        *,
        width: int = 10,
        height: int = 20,
        hidden_rows: int = 2,
        preview: int = 5,
        gravity_interval: int = 1,
        rewards: TetrisRewardConfig | None = None,
        placements: bool = True,
    ) -> None:
        if int(num_boards) < 1:
            raise ValueError(f"num_boards must be >= 1, got {num_boards!r}")
        if not 4 <= int(width) <= 64:
            raise ValueError(f"width must be in [4, 64], got {width!r}")
        if not 4 <= int(height) <= 64:
            raise ValueError(f"height must be in [4, 64], got {height!r}")
        if not 2 <= int(hidden_rows) <= 8:
            raise ValueError(f"hidden_rows must be in [2, 8], got {hidden_rows!r}")
        if not 0 <= int(preview) <= 14:
            raise ValueError(f"preview must be in [0, 14], got {preview!r}")
        if int(gravity_interval) < 0:
            raise ValueError(f"gravity_interval must be >= 0 (0 = off), got {gravity_interval!r}")
        self.num_boards = B = int(num_boards)
        self.width = W = int(width)
        self.visible_height = int(height)
        self.hidden_rows = int(hidden_rows)
        self.height = H = self.visible_height + self.hidden_rows
        self.preview = int(preview)
        self.gravity_interval = int(gravity_interval)
        self.rewards = rewards if rewards is not None else TetrisRewardConfig()
        # Keep placement candidates (mask/land) and top out when a piece has none.
        self.placements = bool(placements)
        self.num_placements = 4 * W
        self.spawn_x = (W - 3) // 2
        self.spawn_y = self.hidden_rows - 2

        self._padded = np.ones((B, H + 2 * _PAD_ROWS, W + 2 * _PAD_COLS), dtype=np.uint8)
        self._pw = W + 2 * _PAD_COLS
        self._flat = self._padded.reshape(B, -1)
        self.board = self._padded[:, _PAD_ROWS : _PAD_ROWS + H, _PAD_COLS : _PAD_COLS + W]
        self.board[:] = 0
        # Rows 0..H of the playfield incl. the first floor row: argmax = column top.
        self._with_floor = self._padded[:, _PAD_ROWS : _PAD_ROWS + H + 1, _PAD_COLS : _PAD_COLS + W]
        self.piece = np.zeros(B, dtype=np.int64)
        self.rot = np.zeros(B, dtype=np.int64)
        self.x = np.zeros(B, dtype=np.int64)
        self.y = np.zeros(B, dtype=np.int64)
        self.gravity_count = np.zeros(B, dtype=np.int64)
        self.lines = np.zeros(B, dtype=np.int64)
        self.score = np.zeros(B, dtype=np.int64)
        self.pieces = np.zeros(B, dtype=np.int64)
        self.game_over = np.zeros(B, dtype=bool)
        # Row index of the highest block of each column (H if empty), kept current on
        # lock and line clear; recompute_tops() after editing ``board`` by hand.
        self.top = np.full((B, W), H, dtype=np.int16)
        self._refill_at = 7 * _BAGS_PER_DRAW
        self._seq_len = self._refill_at + 7 * ((self.preview + 7) // 7)
        self.seq = np.zeros((B, self._seq_len), dtype=np.int64)
        self.seq_pos = np.zeros(B, dtype=np.int64)
        self.rngs: list[np.random.Generator | None] = [None] * B
        # Placement candidates of the current piece: action a = rotation * W + leftmost col.
        self.mask = np.zeros((B, self.num_placements), dtype=bool)
        self.land = np.zeros((B, self.num_placements), dtype=np.int64)
        cols = np.arange(W)
        self._cols = cols
        self._a_rot = np.arange(self.num_placements) // W
        self._a_col = np.arange(self.num_placements) % W
        self._bag_tile = np.tile(np.arange(NUM_PIECES, dtype=np.int64), (self._seq_len // 7, 1))
        self._line_table = np.array((0.0, *self.rewards.line_rewards))
        # Static per-piece candidate tables (piece-indexed, shape (7, 4, W) or (7, 4, W, 4)).
        start = (self.spawn_x + MIN_COL)[:, :, None]  # (7, 4, 1)
        self._static_ok = (cols[None, None, :] + WIDTH[:, :, None] <= W) & DISTINCT_ROTATIONS[
            :, :, None
        ]
        self._fits_width = cols[None, None, :] + WIDTH[:, :, None] <= W
        self._left_of_start = cols[None, None, :] < start
        self._right_of_start = cols[None, None, :] > start
        self._at_or_right = cols[None, None, :] >= start
        self._start_flat = (np.arange(4)[None, :] * W + start[:, :, 0]).clip(0, 4 * W - 1)
        self._bottom1 = (BOTTOM + 1).astype(np.int16)  # (7, 4, 4)
        self._cell_flat = (CELLS[..., 0] + _PAD_ROWS) * self._pw + CELLS[..., 1] + _PAD_COLS
        # Static per (piece, candidate) tables for the candidate features, (7, A, 4).
        a_rot = self._a_rot
        self._a_x = self._a_col[None, :] - MIN_COL[:, a_rot]  # (7, A) box column
        self._a_cellrow = CELLS[:, a_rot][..., 0].astype(np.int16)
        self._a_same = (
            (self._a_cellrow[..., :, None] == self._a_cellrow[..., None, :])
            .sum(axis=3)
            .astype(np.int16)
        )
        self._a_inv_same = (1.0 / self._a_same).astype(np.float32)
        self._a_mean_row = CELLS[:, a_rot][..., 0].mean(axis=2).astype(np.float32)
        bottom = BOTTOM[:, a_rot]  # (7, A, 4)
        self._a_has = (bottom >= 0).astype(np.int16)
        self._a_bottom = np.where(bottom >= 0, bottom, 0).astype(np.int16)
        col4 = self._a_col[None, :, None] + np.arange(4)[None, None, :]
        self._a_col4 = np.minimum(np.where(bottom >= 0, col4, self._a_col[None, :, None]), W - 1)
        self._a_idx = np.arange(self.num_placements)[None, :, None]
        # Highest cell row (in the box) of the j-th covered column; 0 where none.
        self._topoff = np.zeros((NUM_PIECES, 4, 4), dtype=np.int64)
        for pp in range(NUM_PIECES):
            for rr in range(4):
                for jj in range(4):
                    rows_in_col = CELLS[pp, rr, CELLS[pp, rr, :, 1] - MIN_COL[pp, rr] == jj, 0]
                    self._topoff[pp, rr, jj] = rows_in_col.min() if rows_in_col.size else 0
        has = BOTTOM >= 0  # (7, 4, 4)
        self._lock_col = np.where(has, MIN_COL[:, :, None] + np.arange(4), MIN_COL[:, :, None])
        self._lock_topoff = np.where(has, self._topoff, self._topoff[..., :1]).astype(np.int16)
        topoff = self._topoff[:, a_rot]  # (7, A, 4); uncovered columns repeat column 0's
        self._a_topoff = np.where(bottom >= 0, topoff, topoff[..., :1]).astype(np.int16)
        self._colidx = np.minimum(cols[:, None] + np.arange(4)[None, :], W - 1)  # (W, 4)
        self._eye = np.eye(NUM_PIECES, dtype=np.uint8)
        # Python-int copies of the same tables for move_one() (one board, no numpy calls).
        self.cells_py: list[list[list[list[int]]]] = CELLS.tolist()
        self._cell_flat_py: list[list[list[int]]] = self._cell_flat.tolist()
        self._views: dict[int, memoryview] = {}
        self._try_counts = [int(k) for k in np.unique(MOVE_NUM_TRIES) if k]
        self._move_to_py: list[list[list[int]]] = MOVE_TO.tolist()
        self._move_tries_py = [
            [
                [MOVE_TRIES[p, r, a, : MOVE_NUM_TRIES[p, r, a]].tolist() for a in range(7)]
                for r in range(4)
            ]
            for p in range(NUM_PIECES)
        ]
        self._move_points_py: list[int] = MOVE_POINTS.tolist()
        self._move_locks_py: list[bool] = MOVE_LOCKS_IF_BLOCKED.tolist()
        self._full_row = b"\x01" * W

    # ------------------------------------------------------------------ pieces
    def _draw_bags(self, b: int, num_bags: int) -> np.ndarray:
        rng = self.rngs[b]
        if rng is None:
            raise RuntimeError(f"board {b} has no generator: reset it with a generator first")
        return rng.permuted(self._bag_tile[:num_bags], axis=1).ravel()

    def _next_piece(self, rows: np.ndarray) -> np.ndarray:
        pos = self.seq_pos[rows]
        nxt = self.seq[rows, pos]
        self.seq_pos[rows] = pos + 1
        for b in rows[pos + 1 >= self._refill_at]:  # rare: once per ~112 pieces a board
            self._refill(int(b))
        return nxt

    def _refill(self, b: int) -> None:
        """Shift board b's queue left by ``_refill_at`` and append fresh bags."""
        tail = self.seq[b, self._refill_at :].copy()
        self.seq[b, : tail.size] = tail
        self.seq[b, tail.size :] = self._draw_bags(b, _BAGS_PER_DRAW)
        self.seq_pos[b] -= self._refill_at

    def preview_pieces(self, rows: np.ndarray) -> np.ndarray:
        """(n, preview) ids of the next pieces, nearest first."""
        idx = self.seq_pos[rows][:, None] + np.arange(self.preview)[None, :]
        return self.seq[rows[:, None], idx]

    # ------------------------------------------------------------------ reset / spawn
    def reset_rows(self, rows: np.ndarray, rngs: list[np.random.Generator] | None = None) -> None:
        """Start new games on ``rows``.

        ``rngs`` (one per row) replaces their generators and refills their piece queues
        from them. Without it each board goes on with its own queue from the next bag
        boundary (as a single env's ``reset()`` without a seed does), so every game
        starts with a whole bag.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if rngs is not None:
            if len(rngs) != rows.size:
                raise ValueError(f"need one generator per row: {len(rngs)} for {rows.size} rows")
            for b, rng in zip(rows.tolist(), rngs, strict=True):
                self.rngs[b] = rng
                self.seq[b] = self._draw_bags(b, self._seq_len // 7)
            self.seq_pos[rows] = 0
        else:
            self.seq_pos[rows] = -(-self.seq_pos[rows] // 7) * 7  # next bag boundary
        self.board[rows] = 0
        self.top[rows] = self.height
        for name in ("gravity_count", "lines", "score", "pieces"):
            getattr(self, name)[rows] = 0
        self.game_over[rows] = False
        self._spawn(rows)

    def recompute_tops(self, rows: np.ndarray) -> None:
        """Recompute ``top`` of ``rows`` from their boards (after editing boards by hand)."""
        rows = np.asarray(rows, dtype=np.int64)
        self.top[rows] = self._with_floor[rows].argmax(axis=1)

    def _spawn(self, rows: np.ndarray) -> np.ndarray:
        """Bring the next piece in; returns the rows that topped out (spawn blocked)."""
        if rows.size == 0:
            return rows
        self.piece[rows] = self._next_piece(rows)
        self.rot[rows] = 0
        self.x[rows] = self.spawn_x
        self.y[rows] = self.spawn_y
        self.gravity_count[rows] = 0
        blocked = ~self._fits(rows, self.piece[rows], self.rot[rows], self.x[rows], self.y[rows])
        if self.placements:
            self._candidates(rows)
            # In placement mode a spawn with no legal placement left is a top out as well.
            blocked |= ~self.mask[rows].any(axis=1)
        out = rows[blocked]
        self.game_over[out] = True
        return out

    # ------------------------------------------------------------------ geometry
    def _fits(self, rows, p, r, x, y) -> np.ndarray:
        """Whether piece p in rotation r at box (y, x) is inside the board and free.

        ``p, r`` are (n,); ``x, y`` are (n,) or (n, k) for k positions per row. Positions
        may stick out of the board by up to 4 cells (the padding answers "blocked").
        """
        cells = self._cell_flat[p, r]  # (n, 4) flat offsets in the padded board
        base = y * self._pw + x
        if np.ndim(x) == 2:
            idx = base[:, :, None] + cells[:, None, :]
            b = rows[:, None, None]
        else:
            idx = base[:, None] + cells
            b = rows[:, None]
        return ~self._flat[b, idx].any(axis=-1)

    def _drop_y(self, rows, p, r, x, y) -> np.ndarray:
        """Lowest box row reachable by moving straight down from y."""
        ys = np.minimum(y[:, None] + np.arange(self.height + 1)[None, :], self.height)
        xs = np.broadcast_to(x[:, None], ys.shape)
        ok = self._fits(rows, p, r, xs, ys)
        return y + np.argmin(ok, axis=1) - 1  # ok[:, 0] is True for a live piece

    def _candidates(self, rows: np.ndarray) -> None:
        """Fill ``mask``/``land`` for the current piece of ``rows``.

        Candidate a = rotation * W + c places the piece, turned to ``rotation`` at the
        spawn position (one quarter turn, or two through the clockwise one), slid along
        the spawn rows until its leftmost cell is in column c, then hard-dropped. It is
        legal when that whole path is free: every column the piece covers has its
        highest block below the piece. Only one rotation of each distinct shape is
        offered (I/S/Z: 0 and R; O: 0).
        """
        W = self.width
        n = rows.size
        top = self.top[rows]  # (n, W), H if empty
        p = self.piece[rows]
        tops = top[:, self._colidx.T]  # (n, 4, W): top of column c + j
        b1 = self._bottom1[p]  # (n, 4 rotations, 4 j)
        land = tops[:, None, 0, :] - b1[:, :, 0, None]  # (n, 4, W) box row after the drop
        for jj in (1, 2, 3):  # (columns without a cell have BOTTOM = -100: no effect)
            np.minimum(land, tops[:, None, jj, :] - b1[:, :, jj, None], out=land)
        legal = self._fits_width[p] & (land >= self.spawn_y)
        right = np.logical_and.accumulate(legal | self._left_of_start[p], axis=2)
        left = np.logical_and.accumulate((legal | self._right_of_start[p])[:, :, ::-1], axis=2)
        reach = np.where(self._at_or_right[p], right, left[:, :, ::-1]) & legal
        reach = reach.reshape(n, 4 * W)
        at_spawn = reach[np.arange(n)[:, None], self._start_flat[p]]  # (n, 4)
        reach &= at_spawn[:, 0, None]  # every rotation starts from the spawn state
        reach[:, 2 * W : 3 * W] &= at_spawn[:, 1, None]  # the half turn goes through R
        reach &= self._static_ok[p].reshape(n, 4 * W)
        self.mask[rows] = reach
        self.land[rows] = land.reshape(n, 4 * W)

    # ------------------------------------------------------------------ locking
    def _lock(self, rows, p, r, x, y, drop_points) -> tuple[np.ndarray, np.ndarray]:
        """Lock pieces, clear rows, score, spawn the next. Returns (reward, cleared)."""
        self._flat[rows[:, None], (y * self._pw + x)[:, None] + self._cell_flat[p, r]] = 1
        # Column tops: covered columns (uncovered j repeat the first column, same value).
        cols = x[:, None] + self._lock_col[p, r]
        tops = self.top[rows[:, None], cols]
        self.top[rows[:, None], cols] = np.minimum(tops, y[:, None] + self._lock_topoff[p, r])
        self.pieces[rows] += 1
        cleared = self._clear_lines(rows, y[:, None] + CELLS[p, r, :, 0])
        gained, reward = self._lock_score(cleared, self.lines[rows], drop_points)
        self.score[rows] += gained
        self.lines[rows] += cleared
        out = self._spawn(rows)
        if out.size and self.rewards.game_over_penalty:
            reward[np.isin(rows, out)] += self.rewards.game_over_penalty
        return reward, cleared

    def _lock_score(self, cleared, lines_before, drop_points):
        """(score gained, reward before the game-over term) of locks that cleared
        ``cleared`` rows: arrays of any length, or plain ints for one board."""
        line_score = _GUIDELINE_LINE_SCORE[cleared] * (1 + lines_before // 10)
        if self.rewards.scheme == "lines":
            reward = self._line_table[cleared]
        else:
            reward = np.asarray(line_score + drop_points, dtype=np.float64)
        return line_score + drop_points, reward + self.rewards.piece_reward

    def _clear_lines(self, rows: np.ndarray, piece_rows: np.ndarray) -> np.ndarray:
        """Remove full rows; only the rows the piece just filled (n, 4) can be full."""
        cleared = np.zeros(rows.size, dtype=np.int64)
        touched_full = self.board[rows[:, None], piece_rows].all(axis=2)  # (n, 4)
        hit = np.flatnonzero(touched_full.any(axis=1))
        if hit.size:
            sub_rows = rows[hit]
            full = self.board[sub_rows].all(axis=2)  # (m, H)
            cleared[hit] = full.sum(axis=1)
            order = np.argsort(~full, axis=1, kind="stable")  # full rows first
            boards = np.take_along_axis(self.board[sub_rows], order[:, :, None], axis=1)
            boards[np.arange(self.height)[None, :] < cleared[hit][:, None]] = 0
            self.board[sub_rows] = boards
            self.recompute_tops(sub_rows)
        return cleared

    # ------------------------------------------------------------------ actions
    def place(self, rows: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Placement mode: play candidate ``actions`` (must be legal) on ``rows``."""
        W = self.width
        p = self.piece[rows]
        r = actions // W
        x = actions % W - MIN_COL[p, r]
        y = self.land[rows, actions]
        return self._lock(rows, p, r, x, y, 2 * (y - self.spawn_y))

    def move(self, rows: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-move mode: one input per row, then gravity. Returns (reward, cleared)."""
        n = rows.size
        p = self.piece[rows]
        r = self.rot[rows].copy()
        x = self.x[rows].copy()
        y = self.y[rows].copy()
        points = np.zeros(n, dtype=np.int64)
        lock = np.zeros(n, dtype=bool)

        present = np.bincount(actions, minlength=NUM_MOVE_ACTIONS)  # skip absent branches
        num = MOVE_NUM_TRIES[p, r, actions]
        for k in self._try_counts:  # shifts, rotations, soft drops: first fitting try
            s = np.flatnonzero(num == k)  # rows whose input has k tries
            if not s.size:
                continue
            a = actions[s]
            to = MOVE_TO[p[s], r[s], a]
            tries = MOVE_TRIES[p[s], r[s], a, :k]  # (m, k, 2)
            ys = y[s, None] + tries[:, :, 0]
            xs = x[s, None] + tries[:, :, 1]
            ok = self._fits(rows[s], p[s], to, xs, ys)  # (m, k)
            first = ok.argmax(axis=1)
            moved = ok.any(axis=1)
            t = s[moved]
            pick = first[moved]
            r[t] = to[moved]
            y[t] = ys[moved, pick]
            x[t] = xs[moved, pick]
            points[t] += MOVE_POINTS[a[moved]]
            lock[s[~moved]] = MOVE_LOCKS_IF_BLOCKED[a[~moved]]

        if present[HARD_DROP]:
            s = np.flatnonzero(actions == HARD_DROP)
            landing = self._drop_y(rows[s], p[s], r[s], x[s], y[s])
            points[s] += 2 * (landing - y[s])
            y[s] = landing
            lock[s] = True

        if self.gravity_interval:
            g = np.flatnonzero(~lock)
            count = self.gravity_count[rows[g]] + 1
            due = count >= self.gravity_interval
            count[due] = 0
            self.gravity_count[rows[g]] = count
            s = g[due]
            if s.size:
                ok = self._fits(rows[s], p[s], r[s], x[s], y[s] + 1)
                y[s[ok]] += 1
                lock[s[~ok]] = True

        self.rot[rows] = r
        self.x[rows] = x
        self.y[rows] = y
        reward = np.zeros(n, dtype=np.float64)
        cleared = np.zeros(n, dtype=np.int64)
        s = np.flatnonzero(lock)
        if s.size:
            reward[s], cleared[s] = self._lock(rows[s], p[s], r[s], x[s], y[s], points[s])
        if self.rewards.scheme == "score":
            reward[~lock] += points[~lock]
            self.score[rows[~lock]] += points[~lock]
        return reward, cleared

    def _fits_one(self, cells_flat: memoryview, p: int, r: int, x: int, y: int) -> bool:
        """:meth:`_fits` for one position of one board, on a view of its padded cells."""
        base = y * self._pw + x
        c0, c1, c2, c3 = self._cell_flat_py[p][r]
        return not (
            cells_flat[base + c0]
            or cells_flat[base + c1]
            or cells_flat[base + c2]
            or cells_flat[base + c3]
        )

    def move_one(self, b: int, action: int) -> tuple[float, int]:
        """:meth:`move` for a single board ``b`` and a single valid action (an int).

        The same transition as ``move(np.array([b]), np.array([action]))`` (the tests
        check it step by step) without per-call numpy overhead: the collision tests read
        the board through a memoryview of the padded cells, and locking goes through the
        shared :meth:`_lock`. Returns (reward, lines cleared).
        """
        view = self._views.get(b)
        if view is None:
            view = self._views[b] = memoryview(self._flat[b])
        fits = self._fits_one
        p = int(self.piece[b])
        r = int(self.rot[b])
        x = int(self.x[b])
        y = int(self.y[b])
        points = 0
        lock = False
        tries = self._move_tries_py[p][r][action]
        if tries:  # the first fitting try of the shared table (see _build_move_tries)
            to = self._move_to_py[p][r][action]
            for dy, dx in tries:
                if fits(view, p, to, x + dx, y + dy):
                    r, x, y = to, x + dx, y + dy
                    points += self._move_points_py[action]
                    break
            else:
                lock = self._move_locks_py[action]
        elif action == HARD_DROP:
            landing = y
            while fits(view, p, r, x, landing + 1):
                landing += 1
            points += 2 * (landing - y)
            y = landing
            lock = True

        if self.gravity_interval and not lock:
            count = int(self.gravity_count[b]) + 1
            due = count >= self.gravity_interval
            self.gravity_count[b] = 0 if due else count
            if due:
                if fits(view, p, r, x, y + 1):
                    y += 1
                else:
                    lock = True

        self.rot[b] = r
        self.x[b] = x
        self.y[b] = y
        if lock:
            return self._lock_one(b, view, p, r, x, y, points)
        if self.rewards.scheme == "score":
            self.score[b] += points
            return float(points), 0
        return 0.0, 0

    def _lock_one(
        self, b: int, view: memoryview, p: int, r: int, x: int, y: int, drop_points: int
    ) -> tuple[float, int]:
        """:meth:`_lock` for one board (plain ints); clears rows through the shared
        :meth:`_clear_lines` and scores through the shared :meth:`_lock_score`."""
        base = y * self._pw + x
        for off in self._cell_flat_py[p][r]:
            view[base + off] = 1
        top = self.top[b]
        cell_rows = []
        for cr, cc in self.cells_py[p][r]:
            if y + cr < top[x + cc]:
                top[x + cc] = y + cr
            cell_rows.append(y + cr)
        self.pieces[b] += 1
        cleared = 0
        W = self.width
        for row in cell_rows:
            start = (row + _PAD_ROWS) * self._pw + _PAD_COLS
            if view[start : start + W] == self._full_row:
                cleared = int(self._clear_lines(np.array([b]), np.array([cell_rows]))[0])
                break
        gained, reward = self._lock_score(cleared, int(self.lines[b]), drop_points)
        self.score[b] += gained
        self.lines[b] += cleared
        if self._spawn_one(b, view) and self.rewards.game_over_penalty:
            reward = reward + self.rewards.game_over_penalty
        return float(reward), cleared

    def _spawn_one(self, b: int, view: memoryview) -> bool:
        """:meth:`_spawn` for one board; returns whether it topped out."""
        if self.placements:
            return bool(self._spawn(np.array([b])).size)
        pos = int(self.seq_pos[b])
        piece = int(self.seq[b, pos])
        self.seq_pos[b] = pos + 1
        if pos + 1 >= self._refill_at:
            self._refill(b)
        self.piece[b] = piece
        self.rot[b] = 0
        self.x[b] = self.spawn_x
        self.y[b] = self.spawn_y
        self.gravity_count[b] = 0
        blocked = not self._fits_one(view, piece, 0, self.spawn_x, self.spawn_y)
        if blocked:
            self.game_over[b] = True
        return blocked

    # ------------------------------------------------------------------ observations
    def boards_visible(self, rows: np.ndarray) -> np.ndarray:
        """(n, height, W) uint8 occupancy of the visible rows."""
        return self.board[rows, self.hidden_rows :]

    def active_visible(self, rows: np.ndarray) -> np.ndarray:
        """(n, height, W) uint8 cells of the falling piece (per-move mode)."""
        n = rows.size
        out = np.zeros((n, self.height, self.width), dtype=np.uint8)
        cells = CELLS[self.piece[rows], self.rot[rows]]
        out[
            np.arange(n)[:, None],
            self.y[rows][:, None] + cells[:, :, 0],
            self.x[rows][:, None] + cells[:, :, 1],
        ] = 1
        return out[:, self.hidden_rows :]

    def piece_onehot(self, rows: np.ndarray) -> np.ndarray:
        return self._eye[self.piece[rows]]

    def preview_onehot(self, rows: np.ndarray) -> np.ndarray:
        return self._eye[self.preview_pieces(rows)]

    def candidate_features(self, rows: np.ndarray, *, exact: bool = False) -> np.ndarray:
        """(n, A, F) float32 features of the board after each candidate placement.

        F = 8 + W: the :data:`FEATURE_NAMES_BASE` (each divided by the scale in its
        name; heights count from the floor over the full height H incl. hidden rows,
        measured after the cleared rows are removed) followed by the W column heights / H.
        Masked candidates get all zeros.

        Candidates that clear no row are scored from the column tops alone (the piece
        only raises the columns it covers and adds the gaps under its lowest cells to
        the holes); those that clear rows get their afterstate board built and measured.
        ``exact=True`` builds every afterstate (slow; the tests compare both paths).
        """
        H, W, A = self.height, self.width, self.num_placements
        n = rows.size
        pp = self.piece[rows]
        mask = self.mask[rows]
        land = self.land[rows].astype(np.int16)  # (n, A)
        cr = land[..., None] + self._a_cellrow[pp]  # (n, A, 4) cell rows
        cr[~mask] = 0
        board = self.board[rows]  # (n, H, W) 0/1
        ni = np.arange(n)[:, None, None]
        rowcount = board.sum(axis=2, dtype=np.int16)  # (n, H)
        same = self._a_same[pp]  # (n, A, 4) cells of the piece sharing each cell's row
        full_cell = (rowcount[ni, cr] + same == W) & mask[..., None]
        lines = (full_cell * self._a_inv_same[pp]).sum(axis=2, dtype=np.float32)
        lines = np.rint(lines).astype(np.int16)
        eroded = lines * full_cell.sum(axis=2, dtype=np.int16)

        top = self.top[rows]  # (n, W), H if empty
        filled_below = np.logical_or.accumulate(board, axis=1)
        holes0 = (filled_below > board).sum(axis=(1, 2), dtype=np.int16)  # (n,)
        heights = np.repeat((H - top)[:, None, :], A, axis=1)  # (n, A, W)
        col = self._a_col4[pp]  # (n, A, 4) covered columns (repeats where none)
        piece_top = land[..., None] + self._a_topoff[pp]
        heights[np.broadcast_to(ni, col.shape), self._a_idx, col] = H - piece_top
        gaps = top[ni, col] - 1 - (land[..., None] + self._a_bottom[pp])
        holes = holes0[:, None] + (gaps * self._a_has[pp]).sum(axis=2, dtype=np.int16)

        redo = mask & ((lines > 0) | exact)
        if redo.any():
            bi, ai = np.nonzero(redo)
            h_ex, holes_ex, lines_ex, eroded_ex = self._afterstate_measures(
                board[bi], pp[bi], self._a_rot[ai], self._a_x[pp[bi], ai], self.land[rows][bi, ai]
            )
            heights[bi, ai] = h_ex
            holes[bi, ai] = holes_ex
            lines[bi, ai] = lines_ex
            eroded[bi, ai] = eroded_ex

        wall = np.full((n, A, 1), H, dtype=np.int16)
        padded = np.concatenate([wall, heights, wall], axis=2)
        bump = np.abs(np.diff(padded[..., 1:-1], axis=2)).sum(axis=2, dtype=np.int16)
        well = np.minimum(padded[..., :-2], padded[..., 2:]) - heights
        wells = np.maximum(well, 0).sum(axis=2, dtype=np.int16)
        landing_height = H - land - self._a_mean_row[pp]
        feats = np.empty((n, A, 8 + W), dtype=np.float32)
        feats[..., 0] = lines * np.float32(1 / 4)
        feats[..., 1] = holes * np.float32(1 / W)
        feats[..., 2] = bump * np.float32(1 / H)
        feats[..., 3] = heights.sum(axis=2, dtype=np.int16) * np.float32(1 / (H * W))
        feats[..., 4] = heights.max(axis=2) * np.float32(1 / H)
        feats[..., 5] = wells * np.float32(1 / H)
        feats[..., 6] = landing_height * np.float32(1 / H)
        feats[..., 7] = eroded * np.float32(1 / 16)
        np.multiply(heights, np.float32(1 / H), out=feats[..., 8:])
        feats[~mask] = 0.0
        return feats

    def _afterstate_measures(self, boards, p, r, x, y) -> tuple[np.ndarray, ...]:
        """Column heights (m, W), holes, lines and eroded cells (m,) after locking piece
        (p, r) at box (y, x) on each of ``boards`` (m, H, W) and clearing full rows."""
        H = self.height
        m = boards.shape[0]
        after = boards.astype(bool)
        cells = CELLS[p, r]
        cell_rows = y[:, None] + cells[..., 0]
        after[np.arange(m)[:, None], cell_rows, x[:, None] + cells[..., 1]] = True
        full = after.all(axis=2)
        lines = full.sum(axis=1)
        eroded = lines * full[np.arange(m)[:, None], cell_rows].sum(axis=1)
        order = np.argsort(~full, axis=1, kind="stable")  # full rows first, then the rest
        after = np.take_along_axis(after, order[:, :, None], axis=1)
        after[np.arange(H)[None, :] < lines[:, None]] = False
        heights = np.where(after.any(axis=1), H - after.argmax(axis=1), 0)
        holes = (np.logical_or.accumulate(after, axis=1) & ~after).sum(axis=(1, 2))
        return heights, holes, lines, eroded

    def ansi(self, b: int, *, show_active: bool) -> str:
        """Text picture of board ``b``: '#' locked, '@' falling piece, '.' empty."""
        grid = np.where(self.board[b] != 0, "#", ".").astype("<U1")
        if show_active and not self.game_over[b]:
            for rr, cc in CELLS[self.piece[b], self.rot[b]]:
                grid[self.y[b] + rr, self.x[b] + cc] = "@"
        lines = ["".join(row) for row in grid]
        lines.insert(self.hidden_rows, "-" * self.width)
        return "\n".join(lines)
