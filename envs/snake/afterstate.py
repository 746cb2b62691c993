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
  move / (H + W - 2) (following its tail closely is how a long snake opens a pocket);
* ``apple_path`` — steps of the shortest path the head can take to the apple by that
  fill (:func:`flood_steps`) / all cells (0 when eaten, 1 when the fill never gets there);
* ``apple_safe`` — the "virtual snake" check (:func:`virtual_snake`): a snake that
  follows that path, its body moving and growing by one on the apple, can still reach
  its tail from there; 0 when there is no path. For a move that eats, ``tail_reachable``
  (where the next apple lands is not known yet).
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
    "apple_path",
    "apple_safe",
)
NUM_ACTION_FEATURES = len(ACTION_FEATURE_NAMES)
_DROW = np.array([-1, 0, 1, 0], dtype=np.int64)
_DCOL = np.array([0, 1, 0, -1], dtype=np.int64)
_WALL = np.int32(1 << 20)  # life of a wall cell: never passable


def flood_steps(
    life: np.ndarray, start: np.ndarray, *, until_behind: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Breadth-first reach from ``start`` through cells that are free when the head arrives.

    ``life`` is (m, H + 2, W + 2) int32 with a wall border (``_WALL``): 0 for a free cell,
    k for a body cell that vacates in k steps; ``start`` (m, H+2, W+2) bool. A cell at
    distance d joins when its life is at most d (the snake never waits: every cell found
    has a path the head can really take, so a region found is never larger than the true
    one). Returns (the step at which the head first arrives at each cell, (m, H+2, W+2)
    int32, 0 at the start, -1 where it never does; whether a body cell was reached, (m,)
    bool: the snake can then slip behind its own tail and follow it). A cell reached at
    step d > 0 has a neighbour reached at step d - 1: walking those back gives a shortest
    path the head can take. ``until_behind`` stops a board's fill once it has reached a
    body cell (when only that answer is wanted; its arrival steps are then partial).
    """
    steps = np.where(start, 0, -1).astype(np.int32)
    reach = start.copy()
    frontier = start
    behind = np.zeros(len(start), dtype=bool)
    body = life > 0
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
        behind |= (grown & body).any(axis=(1, 2))
        reach |= grown
        np.copyto(steps, step, where=grown)
        frontier = grown
        if until_behind:
            frontier &= ~behind[:, None, None]
    return steps, behind


def flood_reach(life: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`flood_steps` as (reachable cells (m, H+2, W+2) bool, start included; whether
    a body cell was reached, (m,) bool)."""
    steps, behind = flood_steps(life, start)
    return steps >= 0, behind


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


def virtual_snake(
    life: np.ndarray, steps: np.ndarray, target: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The "virtual snake" check of hand-written solvers: send the snake along a shortest
    path to the apple, the body moving as it goes and growing by one on eating, and ask
    whether from there it can still reach its own tail.

    ``life`` (m, H+2, W+2) as in :func:`flood_steps`, the head's cell holding ``length``;
    ``steps`` that fill's arrival steps from the head; ``target`` (m,) the apple's cell in
    the padded grid (row * (W + 2) + col); ``length`` (m,) the snake's length now. The path
    is walked back from the apple to a neighbour reached one step earlier (up, right, down,
    left first: deterministic). Returns (the path's length, (m,) int, -1 when the fill
    never reaches the apple; whether the virtual snake reaches its tail, (m,) bool, False
    without a path).
    """
    m = len(life)
    rows = np.arange(m)
    flat_steps = steps.reshape(m, -1)
    dist = flat_steps[rows, target].astype(np.int64)
    safe = np.zeros(m, dtype=bool)
    go = np.flatnonzero(dist > 0)
    if go.size == 0:
        return dist, safe
    wp = life.shape[2]
    dgo = dist[go]
    d = dgo[:, None]
    vlife = life[go].reshape(go.size, -1).astype(np.int64)
    # D steps on, the apple eaten on the last one: every body cell is D - 1 steps older
    inner = vlife < _WALL
    vlife = np.where(inner, np.maximum(vlife - d + 1, 0), vlife)
    sub_steps = flat_steps[go]
    idx = np.arange(go.size)
    cur = target[go].copy()
    s = dgo.copy()
    grown = length[go] + 1
    offsets = np.array([-wp, 1, wp, -1], dtype=np.int64)
    while (s > 0).any():
        live = s > 0
        li, lc, ls = idx[live], cur[live], s[live]
        # the head entered this cell at step s: it vacates L + 1 - (D - s) steps later
        vlife[li, lc] = np.maximum(grown[live] - (dgo[live] - ls), 0)
        nbr = lc[:, None] + offsets[None, :]
        prev = sub_steps[li[:, None], nbr] == (ls - 1)[:, None]
        cur[live] = nbr[np.arange(li.size), prev.argmax(axis=1)]
        s[live] = ls - 1
    head = np.zeros(vlife.shape, dtype=bool)
    head[idx, target[go]] = True
    shape = (go.size, *life.shape[1:])
    _, behind = flood_steps(
        vlife.astype(np.int32).reshape(shape), head.reshape(shape), until_behind=True
    )
    cells = int(inner[0].sum())
    safe[go] = behind | (grown >= cells)
    return dist, safe


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
        arrive, tail_ok = flood_steps(grid, start)
        reach_grid = arrive >= 0
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
        # the virtual snake: along a shortest path to the apple, then is the tail in reach?
        target = np.where(has, (ar + 1) * (W + 2) + ac + 1, 0)
        path, path_safe = virtual_snake(grid, arrive, target, new_len[bi, ai])
        no_path = ~has | (path < 0)
        out[bi, ai, 12] = np.where(
            eaten, 0.0, np.where(no_path, 1.0, np.minimum(path / cells, 1.0))
        )
        out[bi, ai, 13] = np.where(eaten, tail_ok, path_safe & has)
    return out


__all__ = [
    "ACTION_FEATURE_NAMES",
    "NUM_ACTION_FEATURES",
    "action_features",
    "flood_reach",
    "flood_steps",
    "stall_reach",
    "virtual_snake",
]
