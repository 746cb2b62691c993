"""A scripted placement policy for reference figures and tests (no learning).

:func:`linear_placement_policy` scores every legal placement by a weighted sum of its
``candidate_features`` (the env's afterstate features) and plays the best one. With
:data:`HEIGHT_HOLES_BUMPS` — aggregate height, lines, holes and bumpiness weighted as in
a well-known hand-tuned controller — it survives thousands of placements on 7-bag 10x20
Tetris; it is what the evaluation-protocol tests and ``bench/agent_eval.py --scripted``
play.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from envs.tetris.core import FEATURE_NAMES_BASE

#: Weights per unscaled feature (lines cleared, holes, bumpiness, aggregate height).
HEIGHT_HOLES_BUMPS = {
    "lines_cleared": 0.760666,
    "holes": -0.35663,
    "bumpiness": -0.184483,
    "aggregate_height": -0.510066,
}


def linear_placement_policy(
    weights: Mapping[str, float] = HEIGHT_HOLES_BUMPS, width: int = 10, height: int = 22
) -> Callable[[Any], np.ndarray]:
    """Greedy on ``sum_k w_k * feature_k`` (features unscaled back to counts) over the
    legal placements of a batched observation (``candidate_features``, ``action_mask``).

    ``height`` counts the hidden rows (the features' scale H); ``weights`` keys are the
    base feature names without their scale suffix (``lines_cleared``, ``holes``, ...).
    """
    names = [n.split("/")[0] for n in FEATURE_NAMES_BASE]
    scales = {
        "lines_cleared": 4.0,
        "holes": float(width),
        "bumpiness": float(height),
        "aggregate_height": float(height * width),
        "max_height": float(height),
        "well_depth_sum": float(height),
        "landing_height": float(height),
        "eroded_cells": 16.0,
    }
    w = np.zeros(len(FEATURE_NAMES_BASE) + width, dtype=np.float32)
    for key, value in weights.items():
        if key not in names:
            raise ValueError(f"unknown feature {key!r}: choose from {names}")
        w[names.index(key)] = float(value) * scales[key]

    def act(obs: Any) -> np.ndarray:
        q = np.asarray(obs["candidate_features"]) @ w
        q = np.where(np.asarray(obs["action_mask"]).astype(bool), q, -np.inf)
        return q.argmax(axis=1)

    return act


__all__ = ["HEIGHT_HOLES_BUMPS", "linear_placement_policy"]
