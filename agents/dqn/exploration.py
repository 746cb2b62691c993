"""Ape-X exploration: a fixed epsilon per env slot, and (epsilon-)greedy actions under a mask.

Horgan et al. (2018) give actor i of N the constant ε_i = ε^(1 + α·i/(N−1)) with
ε = 0.4, α = 7, so the fleet spans ε = 0.4 down to 0.4^8 ≈ 0.00066. fsrl applies the
ladder over every *env slot* (actor × env of its vector env), slot i = actor_id ·
envs_per_actor + env_index, so a few actors with many envs still cover the whole range.
"""

from __future__ import annotations

import numpy as np


def epsilon_ladder(num_slots: int, epsilon: float = 0.4, alpha: float = 7.0) -> np.ndarray:
    """ε for each of ``num_slots`` slots; one slot gets ``epsilon`` itself."""
    if not isinstance(num_slots, int) or num_slots < 1:
        raise ValueError(f"num_slots must be a positive int, got {num_slots!r}")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must lie in [0, 1], got {epsilon!r}")
    if alpha < 0.0:
        raise ValueError(f"epsilon_alpha must be >= 0, got {alpha!r}")
    if num_slots == 1:
        return np.array([epsilon], dtype=np.float64)
    i = np.arange(num_slots, dtype=np.float64)
    return epsilon ** (1.0 + alpha * i / (num_slots - 1))


def actor_epsilons(
    actor_id: int, num_actors: int, envs_per_actor: int, epsilon: float = 0.4, alpha: float = 7.0
) -> np.ndarray:
    """The ``envs_per_actor`` epsilons of one actor's slots in the fleet-wide ladder."""
    if not 0 <= actor_id < num_actors:
        raise ValueError(f"actor_id must lie in [0, {num_actors}), got {actor_id!r}")
    ladder = epsilon_ladder(num_actors * envs_per_actor, epsilon, alpha)
    return ladder[actor_id * envs_per_actor : (actor_id + 1) * envs_per_actor]


def greedy_actions(q_values: np.ndarray, action_mask: np.ndarray | None = None) -> np.ndarray:
    """argmax_a Q(s, a) per row, over the allowed actions only when a mask is given."""
    q = np.asarray(q_values, dtype=np.float64)
    if action_mask is not None:
        mask = _check_mask(action_mask, q.shape)
        q = np.where(mask, q, -np.inf)
    return np.argmax(q, axis=1).astype(np.int64)


def epsilon_greedy(
    q_values: np.ndarray,
    epsilons: np.ndarray,
    rng: np.random.Generator,
    action_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Per row: with probability ε a uniformly random allowed action, else the greedy one."""
    q = np.asarray(q_values)
    num_rows, num_actions = q.shape
    greedy = greedy_actions(q, action_mask)
    explore = rng.random(num_rows) < np.asarray(epsilons)
    if action_mask is None:
        random = rng.integers(0, num_actions, size=num_rows)
    else:
        mask = _check_mask(action_mask, q.shape)
        # Uniform among allowed actions: argmax of uniform noise restricted to the mask.
        noise = np.where(mask, rng.random(mask.shape), -1.0)
        random = np.argmax(noise, axis=1)
    return np.where(explore, random, greedy).astype(np.int64)


def _check_mask(action_mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.asarray(action_mask).astype(bool)
    if mask.shape != shape:
        raise ValueError(f"action_mask has shape {mask.shape}, Q-values have shape {shape}")
    if not mask.any(axis=1).all():
        rows = np.flatnonzero(~mask.any(axis=1)).tolist()
        raise ValueError(f"action_mask allows no action in rows {rows}")
    return mask
