"""A numpy sum-tree (with a min-tree beside it) for proportional prioritized sampling.

Every operation is vectorized over a batch; parents are recomputed from their
children (never updated by deltas), so no floating-point drift accumulates.
"""

from __future__ import annotations

import numpy as np


class SumTree:
    """Leaves hold finite non-negative weights; :meth:`sample` draws leaves with
    probability ``weight / total`` (stratified over the batch) and never returns a leaf of
    weight 0, whatever the float round-off; :meth:`min` is the smallest positive weight.
    Capacity is fixed at construction; NaN, infinite or negative weights are refused."""

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
        w = np.broadcast_to(np.asarray(weights, dtype=np.float64), pos.shape)
        if pos.min() < 0 or pos.max() >= self.capacity:
            raise IndexError(f"SumTree positions must lie in [0, {self.capacity})")
        bad = ~(np.isfinite(w) & (w >= 0))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"SumTree weights must be finite and >= 0: position {int(pos[i])} got "
                f"{float(w[i])!r} ({int(bad.sum())} bad of {pos.size})"
            )
        idx = pos + self._leaves
        self._sum[idx] = w
        self._min[idx] = np.where(w > 0, w, np.inf)
        # Level by level up to the root. Repeated parents are recomputed from the same
        # children to the same value, so no de-duplication (np.unique sorts: it cost
        # more than the repeats).
        s, m = self._sum, self._min
        for _ in range(self._depth):
            idx = idx >> 1
            left = idx << 1
            s[idx] = s[left] + s[left + 1]
            m[idx] = np.minimum(m[left], m[left + 1])

    def sample(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` leaf positions, leaf i with probability ``w_i / total``.

        Stratified: draw j falls in ``[j, j+1) * total / batch_size``, which lowers the
        variance of a batch without changing the marginal probabilities.
        """
        total = self.total
        if not total > 0:
            raise ValueError("cannot sample from an empty SumTree")
        u = (np.arange(batch_size) + rng.random(batch_size)) * (total / batch_size)
        return self._descend_live(u)

    def _descend_live(self, u: np.ndarray) -> np.ndarray:
        """Prefix-sum search that only ever enters subtrees of positive weight.

        Round-off can leave ``u`` at or past the weight of everything to its right (a
        draw ``u == total``, or the residue after subtracting left sums); the plain search
        then walks into zero leaves (evicted slots, the padding). Here a step goes right
        only if the right child has weight, and left whenever the left one has none, so
        from a positive root every step stays in a positive subtree: a zero leaf cannot
        be reached (a sum of non-negative numbers is positive only if one of them is)."""
        u = np.array(u, dtype=np.float64)
        idx = np.ones(u.shape[0], dtype=np.int64)
        s = self._sum
        for _ in range(self._depth):
            left = 2 * idx
            lv = s[left]
            right = ((u >= lv) & (s[left + 1] > 0)) | (lv <= 0)
            u -= np.where(right, lv, 0.0)
            idx = left + right
        return idx - self._leaves
