"""A numpy sum-tree (with a min-tree beside it) for proportional prioritized sampling.

Every operation is vectorized over a batch; parents are recomputed from their
children (never updated by deltas), so no floating-point drift accumulates.
"""

from __future__ import annotations

import numpy as np


class SumTree:
    """Leaves hold non-negative weights; :meth:`sample` draws leaves with probability
    ``weight / total`` (stratified over the batch), :meth:`min` is the smallest positive
    weight. Capacity is fixed at construction."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"SumTree capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self._leaves = 1 << max(0, (self.capacity - 1).bit_length())
        self._depth = self._leaves.bit_length() - 1
        self._sum = np.zeros(2 * self._leaves, dtype=np.float64)
        self._min = np.full(2 * self._leaves, np.inf, dtype=np.float64)

    @property
    def total(self) -> float:
        return float(self._sum[1])

    def min(self) -> float:
        """Smallest positive leaf weight (``inf`` when empty)."""
        return float(self._min[1])

    def get(self, positions: np.ndarray) -> np.ndarray:
        return self._sum[np.asarray(positions, dtype=np.int64) + self._leaves]

    def clear(self) -> None:
        self._sum.fill(0.0)
        self._min.fill(np.inf)

    def update(self, positions: np.ndarray, weights: np.ndarray) -> None:
        """Set the leaves at ``positions`` to ``weights`` (0 removes a leaf)."""
        pos = np.asarray(positions, dtype=np.int64)
        if pos.size == 0:
            return
        w = np.asarray(weights, dtype=np.float64)
        if pos.min() < 0 or pos.max() >= self.capacity:
            raise IndexError(f"SumTree positions must lie in [0, {self.capacity})")
        idx = pos + self._leaves
        self._sum[idx] = w
        self._min[idx] = np.where(w > 0, w, np.inf)
        idx = np.unique(idx >> 1)
        while idx[0] >= 1:
            left = 2 * idx
            self._sum[idx] = self._sum[left] + self._sum[left + 1]
            self._min[idx] = np.minimum(self._min[left], self._min[left + 1])
            if idx[0] == 1:
                break
            idx = np.unique(idx >> 1)

    def sample(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` leaf positions, leaf i with probability ``w_i / total``.

        Stratified: draw j falls in ``[j, j+1) * total / batch_size``, which lowers the
        variance of a batch without changing the marginal probabilities.
        """
        total = self.total
        if not total > 0:
            raise ValueError("cannot sample from an empty SumTree")
        u = (np.arange(batch_size) + rng.random(batch_size)) * (total / batch_size)
        idx = self._descend(u)
        bad = self._sum[idx + self._leaves] <= 0  # float round-off at the right edge
        while bad.any():
            idx[bad] = self._descend(rng.random(int(bad.sum())) * total)
            bad = self._sum[idx + self._leaves] <= 0
        return idx

    def _descend(self, u: np.ndarray) -> np.ndarray:
        u = u.copy()
        idx = np.ones(u.shape[0], dtype=np.int64)
        s = self._sum
        for _ in range(self._depth):
            left = 2 * idx
            lv = s[left]
            right = u >= lv
            u -= np.where(right, lv, 0.0)
            idx = left + right
        return idx - self._leaves
