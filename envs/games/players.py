"""Players for any :class:`~envs.games.core.TwoPlayerGame`: uniform random, first legal."""

from __future__ import annotations

import numpy as np


class RandomPlayer:
    """Uniformly random legal moves from its own generator.

    Promises: the same seed (constructor or :meth:`seed`) gives the same moves for the
    same sequence of calls.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        legal = np.asarray(mask, dtype=bool)
        if not legal.any(axis=1).all():
            rows = np.flatnonzero(~legal.any(axis=1)).tolist()
            raise ValueError(f"no legal move on boards {rows}")
        noise = np.where(legal, self.rng.random(legal.shape), -1.0)
        return np.argmax(noise, axis=1).astype(np.int64)


class FirstLegalPlayer:
    """Always the lowest-numbered legal move (deterministic; a weak scripted opponent)."""

    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.argmax(np.asarray(mask, dtype=bool), axis=1).astype(np.int64)


__all__ = ["FirstLegalPlayer", "RandomPlayer"]
