"""A scripted GoPiGo policy, for reference figures: drive forward, turn away from walls.

:func:`wall_turn_policy` turns left in place while the newest distance reading is below
``threshold`` of the sensor's range and drives forward otherwise. On the simulated arena
it reaches the 200-step time limit without a bump in ~95% of episodes at a threshold of
0.35 (``bench/agent_eval.py --scripted --experiment gopigo``, docs/benchmarks.md): the
bar the learned policies are measured against.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from robot_edge.task import ForwardTask

FORWARD, LEFT = 0, 1


def wall_turn_policy(threshold: float = 0.35) -> Callable[[Any], np.ndarray]:
    """Actions for a batch of ``[n, 3 * history]`` observations (the newest reading last)."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold={threshold} must be a fraction of the sensor's range")
    newest_distance = -ForwardTask.reading_dim  # the window's last reading starts here

    def act(obs: Any) -> np.ndarray:
        batch = np.asarray(obs, dtype=np.float32)
        batch = batch.reshape(batch.shape[0], -1)
        near = batch[:, newest_distance] < threshold
        return np.where(near, LEFT, FORWARD).astype(np.int64)

    return act
