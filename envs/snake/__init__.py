"""fsrl's Snake: rules in a batched numpy core, as Gymnasium envs.

Registered id (on import of this package): ``fsrl/Snake-v0`` with a vector entry
point; ``gymnasium.make("envs.snake:fsrl/Snake-v0", actions="relative")`` works from
anywhere. :func:`make_vector` builds the batched env for the actors.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from envs.snake.core import SnakeCore, SnakeRewardConfig
from envs.snake.env import SnakeEnv, rgb_frame
from envs.snake.game import SnakeGame
from envs.tetris.vector import BatchedGameVectorEnv

__all__ = [
    "ENV_IDS",
    "SnakeCore",
    "SnakeEnv",
    "SnakeGame",
    "SnakeRewardConfig",
    "SnakeVectorEnv",
    "make_vector",
]

ENV_IDS = ("fsrl/Snake-v0",)


class SnakeVectorEnv(BatchedGameVectorEnv):
    """``num_envs`` Snake boards stepped by one vectorized core (autoreset and seeding:
    :class:`~envs.tetris.vector.BatchedGameVectorEnv`; keywords: :class:`SnakeEnv`).

    Starvation (``info["starved"]``) is reported as truncation (as termination under
    ``starvation_terminates=True``)."""

    def __init__(
        self,
        num_envs: int = 1,
        *,
        max_episode_steps: int | None = None,
        autoreset_mode: Any = "SameStep",
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.snake = _StarvationAsTruncation(SnakeGame(num_envs, **kwargs))
        super().__init__(
            self.snake,
            num_envs,
            max_episode_steps=max_episode_steps,
            autoreset_mode=autoreset_mode,
            render_mode=render_mode,
        )

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(actions)
        starved = self.snake.last_starved
        if self.snake.game.starvation_terminates:
            return obs, reward, terminated, truncated, info
        if starved is not None and starved.any():
            # Starvation already triggered the autoreset through the game's "terminated";
            # report it as the truncation it is.
            terminated = terminated & ~starved
            truncated = truncated | starved
        return obs, reward, terminated, truncated, info

    def _render_board(self, b: int) -> Any:
        game = self.snake.game
        if self.render_mode == "ansi":
            return game.core.ansi(b)
        return rgb_frame(game, b)


class _StarvationAsTruncation:
    """Adapter: the vector base only knows "terminated"; starvation must also end the
    episode, so it is folded in there and split out again by :class:`SnakeVectorEnv`."""

    def __init__(self, game: SnakeGame) -> None:
        self.game = game
        self.core = game.core
        self.observation_space = game.observation_space
        self.action_space = game.action_space
        self.last_starved: np.ndarray | None = None

    def observe(self, rows: np.ndarray) -> Any:
        return self.game.observe(rows)

    def info(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return self.game.info(rows)

    def check_actions(self, actions: Any, n: int) -> np.ndarray:
        return self.game.check_actions(actions, n)

    def step(self, rows, actions):
        reward, terminated, info = self.game.step(rows, actions)
        starved = info["starved"]
        if rows.size == self.core.num_boards:
            self.last_starved = starved
        else:
            full = np.zeros(self.core.num_boards, dtype=bool)
            full[rows] = starved
            self.last_starved = full
        return reward, terminated | starved, info


def make_vector(
    env_id: str = "fsrl/Snake-v0", num_envs: int = 1, seed: int | None = None, **kwargs: Any
) -> BatchedGameVectorEnv:
    """Build the batched Snake VectorEnv (same contract as :func:`envs.tetris.make_vector`)."""
    from envs.tetris import make_vector as _make

    return _make(env_id, num_envs=num_envs, seed=seed, **kwargs)


def _register() -> None:
    if "fsrl/Snake-v0" in gym.envs.registration.registry:
        return
    gym.register(
        id="fsrl/Snake-v0",
        entry_point="envs.snake.env:SnakeEnv",
        vector_entry_point="envs.snake:SnakeVectorEnv",
    )


_register()
