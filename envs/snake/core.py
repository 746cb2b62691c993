"""The Snake rules, vectorized over a batch of B boards (numpy only).

:class:`SnakeCore` owns every rule: moving, growing, wall and self collisions, apple
placement, starvation and the full-board win. The single env (B = 1) and the vector
env (B = num_envs) both drive this one class.

State per board, cells flattened (``cell = row * W + col``): ``placed[b, cell]`` is
the time step at which the head entered that cell. A cell is part of the snake iff
``placed > t - length``, so the tail leaves without any per-step bookkeeping and
growth is just ``length += 1``.

Randomness: apples are the only random draw; board b takes uniform numbers from its
own generator (``rngs[b]``, buffered 64 at a time) and puts the apple on the k-th free
cell, ``k = floor(u * free_cells)``. A batched board seeded like a single env
therefore plays the same game.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

UP, RIGHT, DOWN, LEFT = range(4)
_DROW = np.array([-1, 0, 1, 0], dtype=np.int64)
_DCOL = np.array([0, 1, 0, -1], dtype=np.int64)
_NEVER = np.iinfo(np.int32).min // 2
_DRAWS_PER_FILL = 64
NUM_FEATURES = 11
FEATURE_NAMES = (
    "danger_straight",
    "danger_right",
    "danger_left",
    "dir_up",
    "dir_right",
    "dir_down",
    "dir_left",
    "apple_up",
    "apple_right",
    "apple_down",
    "apple_left",
)


@dataclass(frozen=True)
class SnakeRewardConfig:
    """Reward terms (all add up): ``apple`` per apple eaten, ``death`` on a wall or
    self collision, ``step`` every step, ``win`` when the board fills, and
    ``distance_shaping * (d_before - d_after)`` with d the Manhattan distance from the
    head to the apple (off by default)."""

    apple: float = 1.0
    death: float = -1.0
    step: float = 0.0
    win: float = 0.0
    distance_shaping: float = 0.0


class SnakeCore:
    """B Snake boards stepped together; every method works on a subset ``rows``.

    Promises: boards never interact; an apple is always on a free cell (none once the
    board is full); a dead board keeps its last state until reset.
    """

    def __init__(
        self,
        num_boards: int,
        *,
        height: int = 10,
        width: int = 10,
        initial_length: int = 3,
        starvation_steps: int | None = None,
        relative_actions: bool = False,
        rewards: SnakeRewardConfig | None = None,
    ) -> None:
        if int(num_boards) < 1:
            raise ValueError(f"num_boards must be >= 1, got {num_boards!r}")
        if not 4 <= int(height) <= 128 or not 4 <= int(width) <= 128:
            raise ValueError(f"height and width must be in [4, 128], got {height!r}x{width!r}")
        if not 1 <= int(initial_length) <= int(width) // 2:
            raise ValueError(
                f"initial_length must be in [1, width // 2 = {int(width) // 2}], "
                f"got {initial_length!r}"
            )
        if starvation_steps is not None and int(starvation_steps) < 1:
            raise ValueError(f"starvation_steps must be >= 1 or None, got {starvation_steps!r}")
        self.num_boards = B = int(num_boards)
        self.height = H = int(height)
        self.width = W = int(width)
        self.cells = H * W
        self.initial_length = int(initial_length)
        self.starvation_steps = H * W if starvation_steps is None else int(starvation_steps)
        self.relative_actions = bool(relative_actions)
        self.rewards = rewards if rewards is not None else SnakeRewardConfig()

        self.placed = np.full((B, H * W), _NEVER, dtype=np.int32)
        self.t = np.zeros(B, dtype=np.int64)
        self.length = np.zeros(B, dtype=np.int64)
        self.head = np.zeros(B, dtype=np.int64)
        self.direction = np.zeros(B, dtype=np.int64)
        self.apple = np.zeros(B, dtype=np.int64)  # -1: no apple (board full)
        self.since_apple = np.zeros(B, dtype=np.int64)
        self.apples = np.zeros(B, dtype=np.int64)
        self.dead = np.zeros(B, dtype=bool)
        self.won = np.zeros(B, dtype=bool)
        self.rngs: list[np.random.Generator | None] = [None] * B
        self._u = np.zeros((B, _DRAWS_PER_FILL), dtype=np.float64)
        self._u_pos = np.zeros(B, dtype=np.int64)

    # ------------------------------------------------------------------ randomness
    def _uniform(self, rows: np.ndarray) -> np.ndarray:
        for b in rows[self._u_pos[rows] >= _DRAWS_PER_FILL].tolist():
            rng = self.rngs[b]
            if rng is None:
                raise RuntimeError(f"board {b} has no generator: reset it with one first")
            self._u[b] = rng.random(_DRAWS_PER_FILL)
            self._u_pos[b] = 0
        pos = self._u_pos[rows]
        self._u_pos[rows] = pos + 1
        return self._u[rows, pos]

    def body_mask(self, rows: np.ndarray) -> np.ndarray:
        """(n, H*W) bool: cells of the snake (head included)."""
        return self.placed[rows] > (self.t[rows] - self.length[rows])[:, None]

    def _place_apples(self, rows: np.ndarray) -> None:
        if rows.size == 0:
            return
        free = ~self.body_mask(rows)
        nfree = free.sum(axis=1)
        u = self._uniform(rows)
        k = np.minimum((u * nfree).astype(np.int64), np.maximum(nfree - 1, 0))
        cell = (np.cumsum(free, axis=1) > k[:, None]).argmax(axis=1)
        self.apple[rows] = np.where(nfree > 0, cell, -1)

    # ------------------------------------------------------------------ reset
    def reset_rows(self, rows: np.ndarray, rngs: list[np.random.Generator] | None = None) -> None:
        """New games on ``rows``: a snake of ``initial_length`` in the middle row, head
        at the centre column, heading right. ``rngs`` (one per row) replaces their
        generators and drops their buffered draws; without it each board goes on with
        its own stream (as a single env's ``reset()`` without a seed does)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rngs is not None:
            if len(rngs) != rows.size:
                raise ValueError(f"need one generator per row: {len(rngs)} for {rows.size} rows")
            for b, rng in zip(rows.tolist(), rngs, strict=True):
                self.rngs[b] = rng
            self._u_pos[rows] = _DRAWS_PER_FILL  # draw afresh from the new generators
        r0, c0 = self.height // 2, self.width // 2
        L = self.initial_length
        self.placed[rows] = _NEVER
        body = r0 * self.width + c0 - np.arange(L)  # head first
        self.placed[rows[:, None], body[None, :]] = -np.arange(L, dtype=np.int32)[None, :]
        self.t[rows] = 0
        self.length[rows] = L
        self.head[rows] = body[0]
        self.direction[rows] = RIGHT
        self.since_apple[rows] = 0
        self.apples[rows] = 0
        self.dead[rows] = False
        self.won[rows] = False
        self._place_apples(rows)

    # ------------------------------------------------------------------ step
    def step(
        self, rows: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Move every snake in ``rows`` one cell.

        Absolute actions: 0 up, 1 right, 2 down, 3 left; asking for the reverse of the
        current heading keeps the heading. Relative: 0 straight, 1 turn right, 2 turn left.
        Returns (reward, terminated, truncated, ate).
        """
        cfg = self.rewards
        d = self.direction[rows]
        if self.relative_actions:
            new_d = (d + np.array([0, 1, -1])[actions]) % 4
        else:
            new_d = np.where(actions == (d + 2) % 4, d, actions)
        head = self.head[rows]
        hr, hc = np.divmod(head, self.width)
        nr = hr + _DROW[new_d]
        nc = hc + _DCOL[new_d]
        wall = (nr < 0) | (nr >= self.height) | (nc < 0) | (nc >= self.width)
        new_head = np.where(wall, head, nr * self.width + nc)
        apple = self.apple[rows]
        ate = (new_head == apple) & ~wall
        t_next = self.t[rows] + 1
        length = self.length[rows] + ate
        hit_self = ~wall & (self.placed[rows, new_head] > t_next - length)
        dead = wall | hit_self
        live = ~dead
        lr = rows[live]
        self.t[lr] = t_next[live]
        self.length[lr] = length[live]
        self.head[lr] = new_head[live]
        self.direction[lr] = new_d[live]
        self.placed[lr, new_head[live]] = t_next[live]
        self.dead[rows[dead]] = True

        since = np.where(ate, 0, self.since_apple[rows] + 1)
        self.since_apple[rows] = since
        self.apples[rows] += ate
        won = ate & (length >= self.cells)
        self.won[rows[won]] = True
        self.apple[rows[won]] = -1
        self._place_apples(rows[ate & ~won])

        reward = np.full(rows.size, cfg.step, dtype=np.float64)
        reward += cfg.apple * ate + cfg.death * dead + cfg.win * won
        if cfg.distance_shaping:
            ar, ac = np.divmod(apple, self.width)
            before = np.abs(ar - hr) + np.abs(ac - hc)
            after = np.abs(ar - nr) + np.abs(ac - nc)
            reward += cfg.distance_shaping * np.where(live & ~ate, before - after, 0)
        terminated = dead | won
        truncated = ~terminated & (since >= self.starvation_steps)
        return reward, terminated, truncated, ate

    # ------------------------------------------------------------------ observations
    def grid(self, rows: np.ndarray) -> np.ndarray:
        """(n, 3, H, W) uint8: head; body with remaining life (1 = tail, increasing
        towards the head; the head cell is 0 here); apple."""
        n = rows.size
        out = np.zeros((n, 3, self.cells), dtype=np.uint8)
        life = self.placed[rows] - (self.t[rows] - self.length[rows])[:, None].astype(np.int32)
        np.clip(life, 0, 255, out=life)
        out[:, 1] = life
        idx = np.arange(n)
        head = self.head[rows]
        out[idx, 1, head] = 0
        out[idx, 0, head] = 1
        apple = self.apple[rows]
        has = apple >= 0
        out[idx[has], 2, apple[has]] = 1
        return out.reshape(n, 3, self.height, self.width)

    def features(self, rows: np.ndarray) -> np.ndarray:
        """(n, 11) uint8 compact features, named by :data:`FEATURE_NAMES` (danger is
        relative to the heading: the cell ahead / to the right / to the left is a wall
        or a body cell that is still there next step)."""
        n = rows.size
        out = np.zeros((n, NUM_FEATURES), dtype=np.uint8)
        d = self.direction[rows]
        hr, hc = np.divmod(self.head[rows], self.width)
        body = self.placed[rows] > (self.t[rows] + 1 - self.length[rows])[:, None]
        for j, turn in enumerate((0, 1, -1)):
            nd = (d + turn) % 4
            r = hr + _DROW[nd]
            c = hc + _DCOL[nd]
            wall = (r < 0) | (r >= self.height) | (c < 0) | (c >= self.width)
            cell = np.where(wall, 0, r * self.width + c)
            out[:, j] = wall | body[np.arange(n), cell]
        out[np.arange(n), 3 + d] = 1
        apple = self.apple[rows]
        ar, ac = np.divmod(apple, self.width)
        has = apple >= 0
        out[:, 7] = has & (ar < hr)
        out[:, 8] = has & (ac > hc)
        out[:, 9] = has & (ar > hr)
        out[:, 10] = has & (ac < hc)
        return out

    def ansi(self, b: int) -> str:
        """Text picture of board b: 'H' head, 'o' body, '*' apple, '.' empty."""
        rows = np.array([b])
        cells = np.full(self.cells, ".", dtype="<U1")
        cells[self.body_mask(rows)[0]] = "o"
        if self.apple[b] >= 0:
            cells[self.apple[b]] = "*"
        cells[self.head[b]] = "H"
        grid = cells.reshape(self.height, self.width)
        border = "+" + "-" * self.width + "+"
        return "\n".join([border, *("|" + "".join(r) + "|" for r in grid), border])
