"""The seven tetrominoes and the Super Rotation System (SRS) tables.

Everything here is a constant derived once at import: cell offsets of each piece in
each rotation (inside its SRS bounding box), the wall-kick offsets, and per-column
profiles that the placement enumerator uses. Coordinates are ``(row, col)`` with rows
growing downwards, as in the board array.
"""

from __future__ import annotations

import numpy as np

PIECE_NAMES = "IOTSZJL"
NUM_PIECES = 7
NUM_ROTATIONS = 4

# Spawn orientation of each piece inside its SRS bounding box ("X" = cell).
_SPAWN_SHAPES: dict[str, tuple[str, ...]] = {
    "I": ("....", "XXXX", "....", "...."),
    "O": (".XX", ".XX", "..."),
    "T": (".X.", "XXX", "..."),
    "S": (".XX", "XX.", "..."),
    "Z": ("XX.", ".XX", "..."),
    "J": ("X..", "XXX", "..."),
    "L": ("..X", "XXX", "..."),
}

# SRS wall kicks as (x, y) with y pointing UP, for the transition from -> to.
_KICKS_JLSTZ: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {
    (0, 1): ((0, 0), (-1, 0), (-1, 1), (0, -2), (-1, -2)),
    (1, 0): ((0, 0), (1, 0), (1, -1), (0, 2), (1, 2)),
    (1, 2): ((0, 0), (1, 0), (1, -1), (0, 2), (1, 2)),
    (2, 1): ((0, 0), (-1, 0), (-1, 1), (0, -2), (-1, -2)),
    (2, 3): ((0, 0), (1, 0), (1, 1), (0, -2), (1, -2)),
    (3, 2): ((0, 0), (-1, 0), (-1, -1), (0, 2), (-1, 2)),
    (3, 0): ((0, 0), (-1, 0), (-1, -1), (0, 2), (-1, 2)),
    (0, 3): ((0, 0), (1, 0), (1, 1), (0, -2), (1, -2)),
}
_KICKS_I: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {
    (0, 1): ((0, 0), (-2, 0), (1, 0), (-2, -1), (1, 2)),
    (1, 0): ((0, 0), (2, 0), (-1, 0), (2, 1), (-1, -2)),
    (1, 2): ((0, 0), (-1, 0), (2, 0), (-1, 2), (2, -1)),
    (2, 1): ((0, 0), (1, 0), (-2, 0), (1, -2), (-2, 1)),
    (2, 3): ((0, 0), (2, 0), (-1, 0), (2, 1), (-1, -2)),
    (3, 2): ((0, 0), (-2, 0), (1, 0), (-2, -1), (1, 2)),
    (3, 0): ((0, 0), (1, 0), (-2, 0), (1, -2), (-2, 1)),
    (0, 3): ((0, 0), (-1, 0), (2, 0), (-1, 2), (2, -1)),
}


def _build_cells() -> tuple[np.ndarray, np.ndarray]:
    cells = np.zeros((NUM_PIECES, NUM_ROTATIONS, 4, 2), dtype=np.int64)
    box = np.zeros(NUM_PIECES, dtype=np.int64)
    for p, name in enumerate(PIECE_NAMES):
        shape = _SPAWN_SHAPES[name]
        n = len(shape)
        box[p] = n
        pts = [(r, c) for r in range(n) for c in range(len(shape[r])) if shape[r][c] == "X"]
        for rot in range(NUM_ROTATIONS):
            cells[p, rot] = sorted(pts)
            if name != "O":  # O does not move when rotated
                pts = [(c, n - 1 - r) for r, c in pts]  # clockwise quarter turn
    return cells, box


CELLS, BOX_SIZE = _build_cells()
"""CELLS[p, r] -> (4, 2) cell offsets (row, col) in the bounding box; BOX_SIZE[p]."""


def _build_kicks() -> np.ndarray:
    """KICKS[p, r_from, d] -> (5, 2) offsets (drow, dcol); d=0 clockwise, d=1 counter."""
    kicks = np.zeros((NUM_PIECES, NUM_ROTATIONS, 2, 5, 2), dtype=np.int64)
    for p, name in enumerate(PIECE_NAMES):
        if name == "O":
            continue  # all five tests are the null offset
        table = _KICKS_I if name == "I" else _KICKS_JLSTZ
        for r in range(NUM_ROTATIONS):
            for d, to in enumerate(((r + 1) % 4, (r - 1) % 4)):
                kicks[p, r, d] = [(-y, x) for x, y in table[(r, to)]]
    return kicks


KICKS = _build_kicks()

# Per (piece, rotation) horizontal profile, relative to the leftmost occupied column.
MIN_COL = CELLS[..., 1].min(axis=2)  # (7, 4)
WIDTH = CELLS[..., 1].max(axis=2) - MIN_COL + 1  # (7, 4)
_NO_CELL = -100
BOTTOM = np.full((NUM_PIECES, NUM_ROTATIONS, 4), _NO_CELL, dtype=np.int64)
"""BOTTOM[p, r, j]: lowest cell row (in the box) in the j-th occupied column, or -100."""
for _p in range(NUM_PIECES):
    for _r in range(NUM_ROTATIONS):
        for _row, _col in CELLS[_p, _r]:
            _j = _col - MIN_COL[_p, _r]
            BOTTOM[_p, _r, _j] = max(BOTTOM[_p, _r, _j], _row)

# Rotations that give distinct final placements once indexed by leftmost column:
# I, S and Z look the same after a half turn, O after any turn.
DISTINCT_ROTATIONS = np.ones((NUM_PIECES, NUM_ROTATIONS), dtype=bool)
for _name in "ISZ":
    DISTINCT_ROTATIONS[PIECE_NAMES.index(_name), 2:] = False
DISTINCT_ROTATIONS[PIECE_NAMES.index("O"), 1:] = False
