"""Connect Four (6 rows × 7 columns) on batched numpy bitboards.

Each board is two ``uint64`` bitboards, the usual layout: bit ``col * 7 + row`` (row 0
at the bottom; the 7th bit of each column is an always-empty sentinel, so shifted
lines never wrap from one column into the next). State ``(N, 2)`` uint64 holds

* ``state[:, 0]`` — the stones of the player to move,
* ``state[:, 1]`` — every stone on the board.

A move drops a stone in column ``c`` with one add: ``all | (all + bottom(c))``; the
player to move then becomes the other one, whose stones are ``all ^ own``. Four in a
row is ``p & (p >> s)`` twice, for ``s`` in 1 (vertical), 7 (horizontal), 6 and 8
(diagonals). Every operation is a handful of vectorised integer ops over all N
boards, so thousands of boards step at once (see ``bench/games.py``).
"""

from __future__ import annotations

import numpy as np

from envs.games.core import check_moves

ROWS, COLS = 6, 7
_H = ROWS + 1  # bits per column (with the sentinel)
_U = np.uint64
BOTTOM = np.array([1 << (c * _H) for c in range(COLS)], dtype=np.uint64)
TOP = np.array([1 << (c * _H + ROWS - 1) for c in range(COLS)], dtype=np.uint64)
FULL = _U(sum(((1 << ROWS) - 1) << (c * _H) for c in range(COLS)))
# Observation order: (row from the top, column) -> bit index.
_CELL_SHIFTS = np.array(
    [c * _H + (ROWS - 1 - r) for r in range(ROWS) for c in range(COLS)], dtype=np.uint64
)
_CELL_BITS = _CELL_SHIFTS.astype(np.intp)
_FULL_INT = int(FULL)
_MIRROR_MOVES = np.arange(COLS - 1, -1, -1, dtype=np.int64)
_DIRECTIONS = tuple((_U(s), _U(2 * s)) for s in (1, _H, _H - 1, _H + 1))


def four_in_a_row(p: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: does bitboard ``p`` hold four in a row?"""
    out = np.zeros(p.shape, dtype=bool)
    for s, s2 in _DIRECTIONS:
        m = p & (p >> s)
        out |= (m & (m >> s2)) != 0
    return out


def _four_int(p: int) -> bool:
    for s in (1, _H, _H - 1, _H + 1):
        m = p & (p >> s)
        if m & (m >> (2 * s)):
            return True
    return False


class ConnectFour:
    """Connect Four as a :class:`~envs.games.core.TwoPlayerGame` (7 moves: the columns).

    Promises: states are ``(N, 2)`` uint64 arrays never modified in place; ``observe``
    gives ``(N, 2, 6, 7)`` uint8 planes (own stones, opponent's stones; row 0 is the
    top); a board ends when the last mover makes four in a row (value −1 for the player
    to move) or the board is full (0). Only states reached by :meth:`apply` from
    :meth:`initial` are meaningful (the player to move never holds four in a row).
    """

    name = "connect_four"
    num_actions: int = COLS
    obs_shape: tuple[int, ...] = (2, ROWS, COLS)

    def initial(self, n: int) -> np.ndarray:
        return np.zeros((int(n), 2), dtype=np.uint64)

    def status(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Only the player who just moved can have four in a row (the game stops there).
        if state.shape[0] == 1:  # one board: Python ints beat a dozen tiny numpy calls
            own, every = int(state[0, 0]), int(state[0, 1])
            won_last = _four_int(own ^ every)
            terminal = won_last or every == _FULL_INT
            return np.array([terminal]), np.array([-1.0 if won_last else 0.0], dtype=np.float32)
        lost = four_in_a_row(state[:, 0] ^ state[:, 1])
        return lost | (state[:, 1] == FULL), -lost.astype(np.float32)

    def legal(self, state: np.ndarray) -> np.ndarray:
        every = state[:, 1]
        legal = (every[:, None] & TOP[None, :]) == 0
        terminal, _ = self.status(state)
        legal[terminal] = False
        return legal

    def apply(self, state: np.ndarray, moves: np.ndarray) -> np.ndarray:
        m = check_moves(self, state, moves)
        return self.apply_unchecked(state, m)

    def apply_unchecked(self, state: np.ndarray, moves: np.ndarray) -> np.ndarray:
        """:meth:`apply` for moves known to be legal (the hot path of self-play)."""
        own, every = state[:, 0], state[:, 1]
        out = np.empty_like(state)
        out[:, 0] = own ^ every
        out[:, 1] = every | (every + BOTTOM[moves])
        return out

    def pass_turn(self, state: np.ndarray) -> np.ndarray:
        """The same boards with the other player to move (for the final observation)."""
        out = state.copy()
        out[:, 0] = state[:, 0] ^ state[:, 1]
        return out

    def observe(self, state: np.ndarray) -> np.ndarray:
        n = state.shape[0]
        raw = np.ascontiguousarray(state, dtype="<u8").view(np.uint8).reshape(n, 2, 8)
        bits = np.unpackbits(raw, axis=2, bitorder="little")[:, :, _CELL_BITS]
        bits[:, 1] ^= bits[:, 0]  # every stone minus own = the opponent's
        return bits.reshape(n, 2, ROWS, COLS)

    def from_observation(self, obs: np.ndarray) -> np.ndarray:
        """The ``(N, 2)`` states behind canonical observations (inverse of :meth:`observe`)."""
        return bitboards_from_obs(obs)

    def symmetries(
        self, boards: np.ndarray, masks: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The left-right mirror: columns reversed, move ``c`` becomes ``6 - c``."""
        return [(boards[..., ::-1], masks[:, ::-1], _MIRROR_MOVES)]

    def from_moves(self, moves: list[int] | str) -> np.ndarray:
        """One board (``(1, 2)``) after playing ``moves`` (columns, e.g. ``"3342"``) from empty."""
        state = self.initial(1)
        for ch in moves:
            state = self.apply(state, np.array([int(ch)]))
        return state

    def render(self, state: np.ndarray, row: int = 0) -> str:
        planes = self.observe(state[row : row + 1])[0]
        lines = [
            " ".join(
                "X" if planes[0, r, c] else "O" if planes[1, r, c] else "." for c in range(COLS)
            )
            for r in range(ROWS)
        ]
        return "\n".join(lines + [" ".join(str(c) for c in range(COLS))])


__all__ = ["COLS", "ROWS", "ConnectFour", "four_in_a_row"]


def bitboards_from_obs(obs: np.ndarray) -> np.ndarray:
    """The ``(N, 2)`` state behind canonical observations ``(N, 2, 6, 7)`` (inverse of observe)."""
    flat = np.asarray(obs).reshape(-1, 2, ROWS * COLS).astype(np.uint64)
    own = np.bitwise_or.reduce(flat[:, 0] << _CELL_SHIFTS, axis=1)
    opp = np.bitwise_or.reduce(flat[:, 1] << _CELL_SHIFTS, axis=1)
    return np.stack([own, own | opp], axis=1)


__all__ += ["bitboards_from_obs"]
