"""A depth-limited alpha-beta (negamax) Connect Four player: the bench's strong opponent.

Plain Python integers as bitboards (the layout of :mod:`envs.games.connect_four`), so
one search of depth 4 costs about a millisecond. At each node a move that wins at
once is taken (scored ``WIN + depth``, so quicker wins score higher); at depth 0 the
position is scored by :func:`heuristic`: open threats (empty cells that would complete
four) of the player to move minus the opponent's, times 8, plus stones in the centre
column, times 2. Moves are tried centre first (3, 2, 4, 1, 5, 0, 6) and ties go to the
earlier move, so the player is deterministic; the arena's random openings give variety.
"""

from __future__ import annotations

import numpy as np

from envs.games.connect_four import COLS, ROWS, bitboards_from_obs

_H = ROWS + 1
_BOTTOM = [1 << (c * _H) for c in range(COLS)]
_TOP = [1 << (c * _H + ROWS - 1) for c in range(COLS)]
_COLUMN = [((1 << ROWS) - 1) << (c * _H) for c in range(COLS)]
_FULL = sum(_COLUMN)
_CENTRE = _COLUMN[COLS // 2]
ORDER = (3, 2, 4, 1, 5, 0, 6)
WIN = 10_000
_INF = 1_000_000


def _four(p: int) -> bool:
    for s in (1, 7, 6, 8):
        m = p & (p >> s)
        if m & (m >> (2 * s)):
            return True
    return False


def winning_cells(p: int, every: int) -> int:
    """Empty cells where a stone of ``p`` would complete four in a row."""
    r = (p << 1) & (p << 2) & (p << 3)
    for s in (7, 6, 8):
        pp = (p << s) & (p << 2 * s)
        r |= pp & (p << 3 * s)
        r |= pp & (p >> s)
        pp = (p >> s) & (p >> 2 * s)
        r |= pp & (p << s)
        r |= pp & (p >> 3 * s)
    return r & (_FULL ^ every)


def heuristic(own: int, every: int) -> int:
    """Static score of a position for the player to move (stones ``own``)."""
    opp = own ^ every
    threats = winning_cells(own, every).bit_count() - winning_cells(opp, every).bit_count()
    centre = (own & _CENTRE).bit_count() - (opp & _CENTRE).bit_count()
    return 8 * threats + 2 * centre


def negamax(own: int, every: int, depth: int, alpha: int, beta: int) -> int:
    """Value of the position for the player to move, searched ``depth`` plies deep."""
    moves = [c for c in ORDER if not every & _TOP[c]]
    if not moves:
        return 0
    bits = [(every + _BOTTOM[c]) & _COLUMN[c] for c in moves]
    for bit in bits:
        if _four(own | bit):
            return WIN + depth
    if depth == 0:
        return heuristic(own, every)
    opp = own ^ every
    best = -_INF
    for bit in bits:
        score = -negamax(opp, every | bit, depth - 1, -beta, -alpha)
        if score > best:
            best = score
            if score > alpha:
                alpha = score
                if alpha >= beta:
                    break
    return best


def best_move(own: int, every: int, depth: int) -> int:
    """The column the search picks (the earliest in :data:`ORDER` among equals)."""
    moves = [c for c in ORDER if not every & _TOP[c]]
    if not moves:
        raise ValueError("no legal move: the board is full")
    best, best_score, alpha = moves[0], -_INF, -_INF
    opp = own ^ every
    for c in moves:
        bit = (every + _BOTTOM[c]) & _COLUMN[c]
        if _four(own | bit):
            return c
        score = -negamax(opp, every | bit, depth - 1, -_INF, -alpha)
        if score > best_score:
            best, best_score = c, score
            alpha = max(alpha, score)
    return best


class AlphaBetaPlayer:
    """Depth-``depth`` alpha-beta Connect Four player (a :data:`~envs.games.core.Player`).

    Promises: deterministic; takes a winning move when one exists, blocks a single
    immediate threat, and only plays legal moves.
    """

    def __init__(self, depth: int = 4) -> None:
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive int, got {depth!r}")
        self.depth = depth

    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        state = bitboards_from_obs(obs)
        out = np.empty(state.shape[0], dtype=np.int64)
        for i, (own, every) in enumerate(state.tolist()):
            out[i] = best_move(int(own), int(every), self.depth)
        return out


__all__ = ["ORDER", "WIN", "AlphaBetaPlayer", "best_move", "heuristic", "negamax", "winning_cells"]
