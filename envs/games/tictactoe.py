"""Tic-tac-toe (3×3) on batched bitboards: small enough to check by hand in tests.

State ``(N, 2)`` uint16: the stones of the player to move, and every stone; cell
``r * 3 + c`` is bit ``r * 3 + c``; moves are cell indices 0..8.
"""

from __future__ import annotations

import numpy as np

from envs.games.core import check_moves

_LINES = np.array(
    [
        sum(1 << i for i in cells)
        for cells in (
            (0, 1, 2), (3, 4, 5), (6, 7, 8),  # rows
            (0, 3, 6), (1, 4, 7), (2, 5, 8),  # columns
            (0, 4, 8), (2, 4, 6),  # diagonals
        )
    ],
    dtype=np.uint16,
)  # fmt: skip
_FULL = np.uint16(0x1FF)
_BITS = np.array([1 << i for i in range(9)], dtype=np.uint16)


def _line(p: np.ndarray) -> np.ndarray:
    return ((p[:, None] & _LINES[None, :]) == _LINES[None, :]).any(axis=1)


class TicTacToe:
    """Tic-tac-toe as a :class:`~envs.games.core.TwoPlayerGame` (9 moves: the cells).

    Promises: ``observe`` gives ``(N, 2, 3, 3)`` uint8 planes (own, opponent); a board
    ends on three in a row (value −1 for the player to move) or when full (0).
    """

    name = "tictactoe"
    num_actions: int = 9
    obs_shape: tuple[int, ...] = (2, 3, 3)

    def initial(self, n: int) -> np.ndarray:
        return np.zeros((int(n), 2), dtype=np.uint16)

    def status(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        own, every = state[:, 0], state[:, 1]
        lost, won = _line(own ^ every), _line(own)
        value = won.astype(np.float32) - lost.astype(np.float32)
        return lost | won | (every == _FULL), value

    def legal(self, state: np.ndarray) -> np.ndarray:
        legal = (state[:, 1, None] & _BITS[None, :]) == 0
        legal[self.status(state)[0]] = False
        return legal

    def apply(self, state: np.ndarray, moves: np.ndarray) -> np.ndarray:
        m = check_moves(self, state, moves)
        out = np.empty_like(state)
        out[:, 0] = state[:, 0] ^ state[:, 1]
        out[:, 1] = state[:, 1] | _BITS[m]
        return out

    def pass_turn(self, state: np.ndarray) -> np.ndarray:
        """The same boards with the other player to move (for the final observation)."""
        out = state.copy()
        out[:, 0] = state[:, 0] ^ state[:, 1]
        return out

    def observe(self, state: np.ndarray) -> np.ndarray:
        own = (state[:, 0, None] & _BITS) != 0
        opp = ((state[:, 1] ^ state[:, 0])[:, None] & _BITS) != 0
        return np.stack([own, opp], axis=1).astype(np.uint8).reshape(-1, 2, 3, 3)

    def from_observation(self, obs: np.ndarray) -> np.ndarray:
        """The ``(N, 2)`` states behind canonical observations (inverse of :meth:`observe`)."""
        planes = np.asarray(obs).reshape(-1, 2, 9).astype(np.uint16)
        own = (planes[:, 0] * _BITS).sum(axis=1).astype(np.uint16)
        opp = (planes[:, 1] * _BITS).sum(axis=1).astype(np.uint16)
        return np.stack([own, own | opp], axis=1)

    def render(self, state: np.ndarray, row: int = 0) -> str:
        p = self.observe(state[row : row + 1])[0]
        return "\n".join(
            "".join("X" if p[0, r, c] else "O" if p[1, r, c] else "." for c in range(3))
            for r in range(3)
        )


__all__ = ["TicTacToe"]
