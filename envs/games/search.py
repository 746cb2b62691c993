"""Play-time search over a learned value: batched, full-width negamax for any two-player game.

A learned agent scores moves with action values ``Q(s, a)`` from the view of the player
to move in ``s`` (a negamax Q: +1 a win, −1 a loss). :class:`SearchPlayer` looks
``depth`` plies ahead with the game's exact rules before it trusts those values:

* every legal line of ``depth`` plies from each root is expanded, all roots at once,
  level by level (a handful of numpy calls per level, whatever the number of boards);
  a line that ends the game scores exactly (+1 for the side that made four / three in a
  row, 0 for a full board);
* each unfinished node at the horizon (a *leaf*) is scored for its player to move by
  ``max_a Q(leaf, a)`` over its legal moves — or +1 when one of them wins at once,
  which is checked with the rules (one more ply, no values);
* values back up by negamax: a move's value is +1 when it wins, 0 when it draws,
  else ``-discount * V(child)``, and ``V(node)`` is the best of its moves.

Every leaf of every root goes through ``action_values`` in one batched call.
``depth=0`` is greedy on the values alone (no rules). The tree has up to
``num_actions ** depth`` leaves per root (Connect Four: 343 at depth 3, 2,401 at 4), so
roots are searched in chunks of at most ``max_leaves`` leaves.

The search needs the states behind the observations a player is handed: the game's
optional ``from_observation`` (:data:`envs.games.core.FROM_OBSERVATION`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from envs.games.core import APPLY_UNCHECKED, FROM_OBSERVATION, TwoPlayerGame

#: ``{"board": (N, *obs_shape) uint8, "action_mask": (N, A) uint8} -> (N, A)`` values for
#: the player to move (masked moves may hold anything; they are never chosen).
ActionValues = Callable[[dict[str, np.ndarray]], np.ndarray]


def _expand(
    game: TwoPlayerGame, states: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every legal move of every state: (parent row, move, child, terminal, value)."""
    parent, move = np.nonzero(game.legal(states))
    apply = getattr(game, APPLY_UNCHECKED, None) or game.apply
    children = apply(states[parent], move)
    terminal, value = game.status(children)
    return parent, move, children, terminal, value


def _observation(game: TwoPlayerGame, states: np.ndarray) -> dict[str, np.ndarray]:
    return {"board": game.observe(states), "action_mask": game.legal(states).astype(np.uint8)}


def leaf_values(
    game: TwoPlayerGame, leaves: np.ndarray, action_values: ActionValues, win_check: bool = True
) -> np.ndarray:
    """``V(leaf)`` for its player to move: the best legal value, +1 where a move wins at once."""
    if len(leaves) == 0:
        return np.zeros(0, dtype=np.float64)
    obs = _observation(game, leaves)
    mask = obs["action_mask"].astype(bool)
    q = np.asarray(action_values(obs), dtype=np.float64).reshape(mask.shape)
    v = np.where(mask, q, -np.inf).max(axis=1)
    if win_check:
        parent, _, _, terminal, value = _expand(game, leaves)
        v[parent[terminal & (value < 0)]] = 1.0  # the child's mover lost: the leaf's mover won
    return v


def search_move_values(
    game: TwoPlayerGame,
    states: np.ndarray,
    depth: int,
    action_values: ActionValues,
    discount: float = 1.0,
    win_check: bool = True,
) -> np.ndarray:
    """``(N, A)`` negamax values of each root's moves (−inf where illegal); see the module doc."""
    if depth < 1:
        raise ValueError(f"search depth must be >= 1 here, got {depth!r}")
    levels = []
    frontier = states
    for _ in range(depth):
        parent, move, children, terminal, value = _expand(game, frontier)
        levels.append((parent, move, terminal, value, len(frontier)))
        frontier = children[~terminal]
    v_open = leaf_values(game, frontier, action_values, win_check)
    out = np.full((len(states), int(game.num_actions)), -np.inf)
    for level in reversed(range(depth)):
        parent, move, terminal, value, n_parents = levels[level]
        move_value = np.empty(len(parent), dtype=np.float64)
        move_value[terminal] = -value[terminal]  # value is the child mover's: −1 = we won
        move_value[~terminal] = -float(discount) * v_open
        if level == 0:
            out[parent, move] = move_value
            break
        v_open = np.full(n_parents, -np.inf)
        np.maximum.at(v_open, parent, move_value)
    return out


class SearchPlayer:
    """A :data:`~envs.games.core.Player` that searches ``depth`` plies over learned values.

    Promises: only legal moves; deterministic (ties go to the lowest move); a move that
    wins at once is always taken when ``depth >= 1``, and with ``depth >= 2`` a single
    immediate threat of the opponent is blocked (when a move blocks it).
    """

    def __init__(
        self,
        game: TwoPlayerGame,
        action_values: ActionValues,
        depth: int,
        discount: float = 1.0,
        win_check: bool = True,
        max_leaves: int = 200_000,
    ) -> None:
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 0:
            raise ValueError(f"search depth must be an int >= 0, got {depth!r}")
        if not 0.0 < float(discount) <= 1.0:
            raise ValueError(f"search discount must lie in (0, 1], got {discount!r}")
        if depth > 0 and not callable(getattr(game, FROM_OBSERVATION, None)):
            raise ValueError(
                f"search depth {depth} on game {game.name!r}: the game has no "
                f"{FROM_OBSERVATION}(obs) to recover states from observations (depth 0 only)"
            )
        self.game = game
        self.action_values = action_values
        self.depth = depth
        self.discount = float(discount)
        self.win_check = bool(win_check)
        self.chunk = max(1, int(max_leaves) // max(1, int(game.num_actions) ** max(1, depth)))

    def __repr__(self) -> str:
        return f"SearchPlayer({self.game.name}, depth={self.depth})"

    def move_values(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``(N, A)`` the values the player picks from (−inf where illegal)."""
        legal = np.asarray(mask).astype(bool)
        if self.depth == 0:
            q = self.action_values(
                {"board": np.asarray(obs), "action_mask": legal.astype(np.uint8)}
            )
            return np.where(legal, np.asarray(q, dtype=np.float64).reshape(legal.shape), -np.inf)
        states = getattr(self.game, FROM_OBSERVATION)(obs)
        parts = [
            search_move_values(
                self.game,
                states[i : i + self.chunk],
                self.depth,
                self.action_values,
                self.discount,
                self.win_check,
            )
            for i in range(0, len(states), self.chunk)
        ]
        values = np.concatenate(parts) if parts else np.zeros(legal.shape)
        return np.where(legal, values, -np.inf)

    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        legal = np.asarray(mask).astype(bool)
        if not legal.any(axis=1).all():
            rows = np.flatnonzero(~legal.any(axis=1)).tolist()
            raise ValueError(f"{self!r}: no legal move on boards {rows}")
        return np.argmax(self.move_values(obs, legal), axis=1).astype(np.int64)


def one_blas_thread() -> Any:
    """Limit numpy's BLAS to one thread in this process, for good (returns the limiter, whose
    ``restore_original_limits()`` undoes it). A search is thousands of small matrix products:
    BLAS threads only wait on each other, ~10x slower on a loaded 2-core box (measured)."""
    return threadpool_limits(limits=1, user_api="blas")


def greedy_values(action_values: ActionValues) -> Callable[[Any], np.ndarray]:
    """A Dict-observation policy that plays the best legal value (depth 0, for envs)."""

    def act(obs: Any) -> np.ndarray:
        mask = np.asarray(obs["action_mask"]).astype(bool)
        q = np.asarray(action_values(obs), dtype=np.float64).reshape(mask.shape)
        return np.argmax(np.where(mask, q, -np.inf), axis=1).astype(np.int64)

    return act


__all__ = [
    "ActionValues",
    "SearchPlayer",
    "greedy_values",
    "leaf_values",
    "one_blas_thread",
    "search_move_values",
]
