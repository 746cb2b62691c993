"""Action validation shared by fsrl's batched games (Tetris, Snake)."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_discrete_actions(actions: Any, n: int, num_actions: int) -> np.ndarray:
    """Return ``actions`` as an int64 array of shape ``(n,)`` with every value in
    ``[0, num_actions)``, or raise ValueError naming the offending values and rows."""
    arr = np.asarray(actions)
    if arr.shape != (n,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"expected {n} integer action(s), got {actions!r}")
    bad = (arr < 0) | (arr >= num_actions)
    if bad.any():
        raise ValueError(
            f"action(s) {arr[bad].tolist()} outside [0, {num_actions}) "
            f"at index {np.flatnonzero(bad).tolist()}"
        )
    return arr.astype(np.int64)
