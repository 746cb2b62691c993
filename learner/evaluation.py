"""Greedy evaluation on fixed seeds, for any agent.

:func:`evaluate_greedy` plays ``episodes`` episodes at once (one env per episode, seeds
``seed, seed+1, …``) with batched calls of the agent's greedy policy
(``AgentLearner.greedy``), so a CartPole evaluation of 20 full episodes costs well
under a second of CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from actors.envs import make_single_env


def stack_observations(observations: list[Any]) -> Any:
    """A batch from single observations (arrays, or dicts of arrays)."""
    first = observations[0]
    if isinstance(first, Mapping):
        return {k: np.stack([np.asarray(o[k]) for o in observations]) for k in first}
    return np.stack([np.asarray(o) for o in observations])


def evaluate_greedy(
    act: Callable[[Any], np.ndarray],
    env_cfg: Any,
    episodes: int,
    seed: int,
    max_steps: int = 1_000_000,
) -> np.ndarray:
    """Returns of ``episodes`` episodes with seeds ``seed + i`` (order kept)."""
    envs = [make_single_env(env_cfg) for _ in range(episodes)]
    try:
        obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
        returns = np.zeros(episodes, dtype=np.float64)
        active = list(range(episodes))
        steps = 0
        while active and steps < max_steps:
            actions = np.asarray(act(stack_observations([obs[i] for i in active])))
            still = []
            for i, a in zip(active, actions, strict=True):
                o, r, terminated, truncated, _ = envs[i].step(a.item() if a.ndim == 0 else a)
                returns[i] += float(r)
                obs[i] = o
                if not (terminated or truncated):
                    still.append(i)
            active = still
            steps += 1
        return returns
    finally:
        for env in envs:
            env.close()


__all__ = ["evaluate_greedy", "stack_observations"]
