"""A scripted Snake policy that always fills the board, for reference figures and tests.

:func:`hamiltonian_policy` follows one fixed Hamiltonian cycle of the board (a
serpentine over columns 1..W-1, back up column 0), in the direction the snake starts
in, so the snake never meets its own body and eats every apple: it fills the board in
every game (``H * W - initial_length`` apples), slowly (on average half the free cells
per apple).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from envs.snake.core import DOWN, LEFT, RIGHT, UP


def hamiltonian_cycle(height: int, width: int) -> list[int]:
    """Cells (``row * width + col``) of a Hamiltonian cycle; ``height`` must be even.

    Walked backwards, row r is crossed rightwards when r is odd; the default start
    (middle row of an even board, heading right) lies on it in that direction.
    """
    if height % 2 or height < 2 or width < 2:
        raise ValueError(f"a serpentine cycle needs an even height >= 2, got {height}x{width}")
    order: list[int] = []
    for r in range(height):
        cols = range(1, width) if r % 2 == 0 else range(width - 1, 0, -1)
        order.extend(r * width + c for c in cols)
    order.extend(r * width for r in range(height - 1, -1, -1))
    return order


def hamiltonian_policy(height: int = 10, width: int = 10) -> Callable[[Any], np.ndarray]:
    """Absolute actions (0 up, 1 right, 2 down, 3 left) that walk :func:`hamiltonian_cycle`
    backwards, from a batch of ``[n, 3, H, W]`` grids (or ``{"grid": ...}``)."""
    order = hamiltonian_cycle(height, width)[::-1]
    nxt = np.zeros(height * width, dtype=np.int64)
    for i, cell in enumerate(order):
        nxt[cell] = order[(i + 1) % len(order)]
    step_to_action = {-width: UP, 1: RIGHT, width: DOWN, -1: LEFT}
    action_of = np.array([step_to_action[int(nxt[c] - c)] for c in range(height * width)])

    def act(obs: Any) -> np.ndarray:
        grid = np.asarray(obs["grid"] if isinstance(obs, dict) else obs)
        head = grid[:, 0].reshape(len(grid), -1).argmax(axis=1)
        return action_of[head]

    return act


__all__ = ["hamiltonian_cycle", "hamiltonian_policy"]
