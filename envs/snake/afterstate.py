"""Per-action afterstate features of Snake, for a scorer that rates each move (like Tetris'
``candidate_features``): what the board looks like one step after each action.

For every board and action the move is played on a copy of the state and measured
(:data:`ACTION_FEATURE_NAMES`, all in [0, 1]):

* ``dies`` — the move hits a wall or the body (every other feature is 0 then);
* ``eats`` — the head lands on the apple;
* ``apple_distance`` — Manhattan distance from the new head to the apple / (H + W - 2)
  (0 when eaten);
* ``closer`` — 1 when the move brings the head closer to the apple, 0.5 when it keeps
  the distance, 0 when it moves away;
* ``reachable`` — the cells the new head can still reach / all cells, by a breadth-first
  fill that knows when the body moves away: a body cell that vacates in k steps is
  passable to a head arriving k or more steps later (:func:`flood_reach`);
* ``tail_reachable`` — the fill reaches a cell of the body (arriving after it vacated):
  the snake can slip behind its tail and follow it, so the move is no dead end;
* ``exits`` — free neighbours of the new head one step later / 3;
* ``length`` — snake length after the move / all cells (the same for every action);
* ``hunger`` — steps since the last apple / the starvation limit (the same for every action);
* ``reachable_waiting``, ``tail_reachable_waiting`` — the same two by a hopeful fill
  (:func:`stall_reach`) in which the snake may spend as many steps as the region has
  cells before it leaves: an upper bound where the breadth-first fill is a lower one
  (a move can look like a dead end to the first and open to the second: the apple in a
  pocket of the body that will open if the snake waits);
* ``tail_distance`` — Manhattan distance from the new head to the tail's cell after the
  move / (H + W - 2) (following its tail closely is how a long snake opens a pocket).
"""

from __future__ import annotations

import numpy as np

from envs.snake.core import SnakeCore

ACTION_FEATURE_NAMES = (
    "dies",
    "eats",
    "apple_distance",
    "closer",
    "reachable",
    "tail_reachable",
    "exits",
    "length",
    "hunger",
    "reachable_waiting",
    "tail_reachable_waiting",
    "tail_distance",
)
NUM_ACTION_FEATURES = len(ACTION_FEATURE_NAMES)
_DROW = np.array([-1, 0, 1, 0], dtype=np.int64)
_DCOL = np.array([0, 1, 0, -1], dtype=np.int64)
_WALL = np.int32(1 << 20)  # life of a wall cell: never passable


def flood_reach(life: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Breadth-first reach from ``start`` through cells that are free when the head arrives.

    ``life`` is (m, H + 2, W + 2) int32 with a wall border (``_WALL``): 0 for a free cell,
    k for a body cell that vacates in k steps; ``start`` (m, H+2, W+2) bool. A cell at
    distance d joins when its life is at most d (the snake never waits: every cell found
    has a path the head can really take, so a region found is never larger than the true
    one). Returns (reachable cells (m, H+2, W+2) bool, start included; whether a body cell
    was reached, (m,) bool: the snake can then slip behind its own tail and follow it).
    """
    reach = start.copy()
    frontier = start
    behind = np.zeros(len(start), dtype=bool)
    step = 0
    while frontier.any():
        step += 1
        grown = np.zeros_like(frontier)
        grown[:, 1:-1, 1:-1] = (
            frontier[:, :-2, 1:-1]
            | frontier[:, 2:, 1:-1]
            | frontier[:, 1:-1, :-2]
            | frontier[:, 1:-1, 2:]
        )
        grown &= (life <= step) & ~reach
        behind |= (grown & (life > 0)).any(axis=(1, 2))
        reach |= grown
        frontier = grown
    return reach, behind


def stall_reach(life: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`flood_reach`, but a cell next to the region joins once its life is at
    most the region's size (the steps the snake could spend inside before leaving):
    hopeful, since a path cannot always wind through every cell and come back out."""
    reach = start.copy()
    behind = np.zeros(len(start), dtype=bool)
    while True:
        size = reach.sum(axis=(1, 2), dtype=np.int32)[:, None, None]
        grown = np.zeros_like(reach)
        grown[:, 1:-1, 1:-1] = (
            reach[:, :-2, 1:-1] | reach[:, 2:, 1:-1] | reach[:, 1:-1, :-2] | reach[:, 1:-1, 2:]
        )
        grown &= (life <= size) & ~reach
        if not grown.any():
            return reach, behind
        behind |= (grown & (life > 0)).any(axis=(1, 2))
        reach |= grown


def action_features(c: SnakeCore, rows: np.ndarray) -> np.ndarray:
    """(n, A, :data:`NUM_ACTION_FEATURES`) float32 for the boards ``rows`` of a
    :class:`~envs.snake.core.SnakeCore` (A = 3 relative or 4 absolute actions)."""
    H, W = c.height, c.width
    cells = H * W
    n = rows.size
    rel = bool(c.relative_actions)
    num_actions = 3 if rel else 4
    d = c.direction[rows]
    if rel:
        new_d = (d[:, None] + np.array([0, 1, -1])[None, :]) % 4
    else:
        acts = np.arange(4)[None, :]
        new_d = np.where(acts == ((d + 2) % 4)[:, None], d[:, None], acts)
    head = c.head[rows]
    hr, hc = np.divmod(head, W)
    nr = hr[:, None] + _DROW[new_d]
    nc = hc[:, None] + _DCOL[new_d]
    wall = (nr < 0) | (nr >= H) | (nc < 0) | (nc >= W)
    new_head = np.where(wall, head[:, None], nr * W + nc)
    apple = c.apple[rows]
    ate = (new_head == apple[:, None]) & ~wall
    length = c.length[rows]
    t = c.t[rows]
    life = c.placed[rows] - (t - length)[:, None]
    life = np.maximum(life, 0).astype(np.int32)  # (n, cells) steps until each cell is free
    # after the move every body cell ages one step, except when the snake grows
    life_after = np.maximum(life[:, None, :] - (~ate)[:, :, None].astype(np.int32), 0)
    idx = np.arange(n)[:, None]
    hit = ~wall & (life_after[idx, np.arange(num_actions)[None, :], new_head] > 0)
    dies = wall | hit
    new_len = length[:, None] + ate

    out = np.zeros((n, num_actions, NUM_ACTION_FEATURES), dtype=np.float32)
    out[..., 0] = dies
    live = ~dies
    if live.any():
        bi, ai = np.nonzero(live)
        m = bi.size
        grid = np.full((m, H + 2, W + 2), _WALL, dtype=np.int32)
        la = life_after[bi, ai].copy()
        nh = new_head[bi, ai]
        la[np.arange(m), nh] = new_len[bi, ai]
        grid[:, 1:-1, 1:-1] = la.reshape(m, H, W)
        start = np.zeros((m, H + 2, W + 2), dtype=bool)
        r0, c0 = np.divmod(nh, W)
        start[np.arange(m), r0 + 1, c0 + 1] = True
        reach_grid, tail_ok = flood_reach(grid, start)
        reach = reach_grid[:, 1:-1, 1:-1].reshape(m, cells)
        ar, ac = np.divmod(apple[bi], W)
        has = apple[bi] >= 0
        before = np.abs(ar - hr[bi]) + np.abs(ac - hc[bi])
        after = np.abs(ar - r0) + np.abs(ac - c0)
        eaten = ate[bi, ai]
        dist = np.where(has & ~eaten, after, 0) / float(H + W - 2)
        closer = np.where(eaten | (after < before), 1.0, np.where(after == before, 0.5, 0.0))
        exits = np.zeros(m, dtype=np.float32)
        for k in range(4):
            rr, cc = r0 + 1 + _DROW[k], c0 + 1 + _DCOL[k]
            exits += grid[np.arange(m), rr, cc] <= 1
        out[bi, ai, 1] = eaten
        out[bi, ai, 2] = dist
        out[bi, ai, 3] = closer
        out[bi, ai, 4] = reach.sum(axis=1) / float(cells)
        out[bi, ai, 5] = tail_ok
        out[bi, ai, 6] = exits / 3.0
        out[bi, ai, 7] = new_len[bi, ai] / float(cells)
        since = c.since_apple[rows][bi]
        starve = float(c.starvation_steps)
        out[bi, ai, 8] = np.where(eaten, 0.0, np.minimum((since + 1) / starve, 1.0))
        tail = np.where(la == 1, np.arange(cells)[None, :], -1).max(axis=1)
        tr, tc = np.divmod(np.maximum(tail, 0), W)
        tail_far = np.where(tail >= 0, np.abs(tr - r0) + np.abs(tc - c0), 0)
        out[bi, ai, 11] = tail_far / float(H + W - 2)
        hopeful, hopeful_tail = stall_reach(grid, start)
        out[bi, ai, 9] = hopeful[:, 1:-1, 1:-1].reshape(m, cells).sum(axis=1) / float(cells)
        out[bi, ai, 10] = hopeful_tail | tail_ok
    return out


__all__ = [
    "ACTION_FEATURE_NAMES",
    "NUM_ACTION_FEATURES",
    "action_features",
    "flood_reach",
    "stall_reach",
]
