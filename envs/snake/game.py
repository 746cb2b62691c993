"""One Snake configuration bound to a :class:`SnakeCore`: spaces, observations, steps."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from envs.actions import check_discrete_actions
from envs.snake.afterstate import NUM_ACTION_FEATURES, action_features
from envs.snake.core import NUM_FEATURES, SnakeCore, SnakeRewardConfig

ACTION_MODES = ("absolute", "relative")


class SnakeGame:
    """Validated configuration + core for B boards; see :class:`~envs.snake.env.SnakeEnv`
    for the meaning of every keyword."""

    def __init__(
        self,
        num_boards: int,
        *,
        height: int = 10,
        width: int = 10,
        actions: str = "absolute",
        initial_length: int = 3,
        starvation_steps: int | None = None,
        starvation_terminates: bool = False,
        features: bool = False,
        action_features: bool = False,
        apple_reward: float = 1.0,
        death_reward: float = -1.0,
        step_reward: float = 0.0,
        win_reward: float = 0.0,
        distance_shaping: float = 0.0,
    ) -> None:
        if actions not in ACTION_MODES:
            raise ValueError(f"actions must be one of {ACTION_MODES}, got {actions!r}")
        self.core = SnakeCore(
            num_boards,
            height=height,
            width=width,
            initial_length=initial_length,
            starvation_steps=starvation_steps,
            relative_actions=actions == "relative",
            rewards=SnakeRewardConfig(
                apple=float(apple_reward),
                death=float(death_reward),
                step=float(step_reward),
                win=float(win_reward),
                distance_shaping=float(distance_shaping),
            ),
        )
        self.starvation_terminates = bool(starvation_terminates)
        self.with_features = bool(features)
        self.with_action_features = bool(action_features)
        self.num_actions = 3 if actions == "relative" else 4
        self.action_space = spaces.Discrete(self.num_actions)
        grid = spaces.Box(0, 255, (3, self.core.height, self.core.width), np.uint8)
        parts: dict[str, spaces.Space] = {"grid": grid}
        if self.with_features:
            parts["features"] = spaces.Box(0, 1, (NUM_FEATURES,), np.uint8)
        if self.with_action_features:
            parts["candidate_features"] = spaces.Box(
                0.0, 1.0, (self.num_actions, NUM_ACTION_FEATURES), np.float32
            )
        self.observation_space: spaces.Space = spaces.Dict(parts) if len(parts) > 1 else grid

    def observe(self, rows: np.ndarray) -> Any:
        grid = self.core.grid(rows)
        if not (self.with_features or self.with_action_features):
            return grid
        obs = {"grid": grid}
        if self.with_features:
            obs["features"] = self.core.features(rows)
        if self.with_action_features:
            obs["candidate_features"] = action_features(self.core, rows)
        return obs

    def info(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        c = self.core
        return {
            "apples": c.apples[rows].copy(),
            "length": c.length[rows].copy(),
            "win": c.won[rows].copy(),
        }

    def check_actions(self, actions: Any, n: int) -> np.ndarray:
        return check_discrete_actions(actions, n, self.num_actions)

    def step(
        self, rows: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        reward, terminated, starved, ate = self.core.step(rows, actions)
        info = self.info(rows)
        info["ate"] = ate
        info["starved"] = starved
        return reward, terminated, info
