"""A user's own environment module, shipped to the Ray workers by a runtime env
(``ray job submit --working-dir``): it is in no image. CartPole with a marker in info."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv


class UserCartPole(CartPoleEnv):
    """CartPole-v1 under the user's own id; ``info["user_env"]`` says it is this one."""

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = super().step(action)
        info["user_env"] = True
        return obs, reward, terminated, truncated, info


gym.register("E2EUser/CartPole-v0", entry_point=f"{__name__}:UserCartPole", max_episode_steps=500)
