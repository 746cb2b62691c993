"""Stacked-frame observations stored once per transition.

With frame stacking (``env.frame_stack=K``) a transition's ``next_obs`` repeats most of
``obs``: after ``m`` env steps (``n_steps``, m <= n) the stack has moved by m frames, so
``next_obs[:K-m] == obs[m:]``. :class:`FrameStackLayout` stores ``obs`` ``[K, ...]`` and
only the frames ``next_obs`` adds, ``next_frames`` ``[F, ...]`` with ``F = min(n, K)``
(the first ``min(m, K)`` rows used, the rest zero), instead of ``next_obs`` ``[K, ...]``:

=============================  ==============  ==================
84×84 uint8 frames, K = 4       frames stored   bytes / record
=============================  ==============  ==================
obs + next_obs (no layout)      8               56,488
n = 3 (Ape-X, experiment=atari) 7               49,432 (-12.5 %)
n = 1 (CleanRL's DQN)           5               35,320 (-37.5 %)
=============================  ==============  ==================

What Redis holds follows its allocator's size classes: pick ``replay.chunk_size`` so a
chunk's bytes sit just under one (``experiment=atari``: 53 records, 2.5 MiB), else the
smaller records may land in the same block (docs/benchmarks.md, "Atari").

Records stay fixed-size and self-contained, so the sampler still reads one record per
draw (``GETRANGE``); a layout that stored one frame per step and rebuilt stacks from the
neighbouring records would save more (8 → 1 + n frames) but needs several reads per draw
across chunk and eviction boundaries (docs/benchmarks.md, "Atari").

Promises: :meth:`FrameStackLayout.unpack` of :meth:`FrameStackLayout.pack` gives back
exactly the ``next_obs`` that went in; :meth:`pack` refuses (``ValueError`` naming the row)
a batch whose ``next_obs`` does not continue its ``obs`` that way, so nothing is lost
silently.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from replay.schema import FieldSpec, TransitionSpec

logger = logging.getLogger(__name__)

#: The column that replaces ``next_obs`` in a frame-stack table.
NEXT_FRAMES = "next_frames"


@dataclass(frozen=True)
class FrameStackLayout:
    """Stores ``obs`` ``[K, ...]`` plus the ``F = min(n_step, K)`` frames ``next_obs`` adds."""

    stack: int
    n_step: int
    frame_shape: tuple[int, ...]
    dtype: str

    def __post_init__(self) -> None:
        if self.stack < 2:
            raise ValueError(f"a frame-stack layout needs env.frame_stack >= 2, got {self.stack}")
        if self.n_step < 1:
            raise ValueError(f"algo.n_step must be >= 1, got {self.n_step}")

    @property
    def new_frames(self) -> int:
        """F: frames kept of each ``next_obs``."""
        return min(self.n_step, self.stack)

    @classmethod
    def for_spec(cls, spec: TransitionSpec, stack: int, n_step: int) -> FrameStackLayout | None:
        """The layout for an agent's standard ``spec`` when ``stack >= 2`` and the spec has
        ``obs``/``next_obs`` ``[stack, ...]`` and ``n_steps`` columns; else None (stored as is)."""
        if stack < 2:
            return None
        names = spec.names
        if not {"obs", "next_obs", "n_steps"} <= set(names):
            logger.info("frame_stack=%d: the transition spec has no obs/next_obs pair", stack)
            return None
        obs, nxt = spec["obs"], spec["next_obs"]
        if obs.shape != nxt.shape or obs.dtype != nxt.dtype or obs.shape[:1] != (stack,):
            logger.info("frame_stack=%d: obs %s is not a stack of %d frames", stack, obs, stack)
            return None
        return cls(int(stack), int(n_step), tuple(obs.shape[1:]), obs.dtype)

    def spec(self, standard: TransitionSpec) -> TransitionSpec:
        """``standard`` with ``next_obs`` replaced by ``next_frames`` ``[F, ...]``."""
        fields = [
            FieldSpec(NEXT_FRAMES, (self.new_frames, *self.frame_shape), self.dtype)
            if f.name == "next_obs"
            else f
            for f in standard.fields
        ]
        return TransitionSpec(tuple(fields))

    def _kept(self, n_steps: Any) -> np.ndarray:
        m = np.asarray(n_steps).astype(np.int64).reshape(-1)
        if m.size and m.min() < 1:
            raise ValueError(f"n_steps must be >= 1, got {int(m.min())}")
        return np.minimum(m, self.stack)

    def pack(self, batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The standard columns (``obs``, ``next_obs``, ``n_steps``, ...) → the stored ones."""
        out = {k: np.asarray(v) for k, v in batch.items() if k != "next_obs"}
        obs, nxt = out["obs"], np.asarray(batch["next_obs"])
        k, f = self.stack, self.new_frames
        kept = self._kept(out["n_steps"])
        frames = np.zeros((len(obs), f, *self.frame_shape), dtype=nxt.dtype)
        for j in np.unique(kept):  # rows with the same shift, one slice each (j = n mostly)
            rows = np.flatnonzero(kept == j)
            if j < k and not np.array_equal(nxt[rows, : k - j], obs[rows, j:]):
                same = (nxt[rows, : k - j] == obs[rows, j:]).reshape(len(rows), -1).all(axis=1)
                row = int(rows[np.argmin(same)])
                raise ValueError(
                    f"frame_stack={k}: next_obs of row {row} (n_steps={j}) does not continue "
                    f"its obs by {j} frame(s); is the observation a stack of {k} frames on "
                    "its first axis (env.frame_stack)?"
                )
            frames[rows, :j] = nxt[rows, k - j :]
        out[NEXT_FRAMES] = frames
        return out

    def unpack(self, batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The stored columns → the standard ones (``next_obs`` rebuilt, ``next_frames`` gone)."""
        out = {k: v for k, v in batch.items() if k != NEXT_FRAMES}
        obs = np.asarray(batch["obs"])
        frames = np.asarray(batch[NEXT_FRAMES])
        kept = self._kept(batch["n_steps"])
        both = np.concatenate([obs, frames], axis=1)  # [B, K + F, ...]
        index = kept[:, None] + np.arange(self.stack)[None, :]  # next_obs = both[j : j + K]
        out["next_obs"] = both[np.arange(len(obs))[:, None], index]
        return out


__all__ = ["NEXT_FRAMES", "FrameStackLayout"]
