"""fsrl's Tetris: guideline rules in a batched numpy core, as Gymnasium envs.

Registered ids (on import of this package):

| id | mode | vector entry point |
|---|---|---|
| ``fsrl/Tetris-v0`` | per-move (7 actions, gravity) | yes |
| ``fsrl/TetrisPlacement-v0`` | one action per legal final placement | yes |

``gymnasium.make("envs.tetris:fsrl/TetrisPlacement-v0", candidate_features=True)``
works from anywhere (the "module:Id" form imports this package first).
:func:`make_vector` builds the batched env for the actors.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from envs.tetris.core import TetrisCore, TetrisRewardConfig
from envs.tetris.env import TetrisEnv
from envs.tetris.game import InvalidPlacementError, TetrisGame
from envs.tetris.vector import BatchedGameVectorEnv

__all__ = [
    "ENV_IDS",
    "InvalidPlacementError",
    "TetrisCore",
    "TetrisEnv",
    "TetrisGame",
    "TetrisRewardConfig",
    "TetrisVectorEnv",
    "make_vector",
]

ENV_IDS = ("fsrl/Tetris-v0", "fsrl/TetrisPlacement-v0")


class TetrisVectorEnv(BatchedGameVectorEnv):
    """``num_envs`` Tetris boards stepped by one vectorized core (see
    :class:`~envs.tetris.vector.BatchedGameVectorEnv` for autoreset and seeding and
    :class:`~envs.tetris.env.TetrisEnv` for the game keywords)."""

    def __init__(
        self,
        num_envs: int = 1,
        mode: str = "placement",
        *,
        max_episode_steps: int | None = None,
        autoreset_mode: Any = "SameStep",
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.tetris = TetrisGame(num_envs, mode=mode, **kwargs)
        super().__init__(
            self.tetris,
            num_envs,
            max_episode_steps=max_episode_steps,
            autoreset_mode=autoreset_mode,
            render_mode=render_mode,
        )

    def _render_board(self, b: int) -> Any:
        from envs.tetris.render import rgb_frame

        core = self.tetris.core
        moves = self.tetris.mode == "moves"
        if self.render_mode == "ansi":
            return core.ansi(b, show_active=moves)
        return rgb_frame(core, b, show_active=moves)


def make_vector(
    env_id: str = "fsrl/TetrisPlacement-v0",
    num_envs: int = 1,
    seed: int | None = None,
    **kwargs: Any,
) -> BatchedGameVectorEnv:
    """Build the batched VectorEnv for a registered id of this package (or Snake's).

    ``env_id`` may carry the "module:" prefix. ``kwargs`` go to the env (game keywords,
    ``max_episode_steps``, ``autoreset_mode``, ``render_mode``). ``seed`` becomes the
    seed of the first ``reset()`` called without one, so board i is seeded ``seed + i``.
    """
    env = gym.make_vec(
        env_id, num_envs=int(num_envs), vectorization_mode="vector_entry_point", **kwargs
    )
    env.unwrapped.default_seed = seed  # type: ignore[attr-defined]
    return env  # type: ignore[return-value]


def _register() -> None:
    registry = gym.envs.registration.registry
    entries = (
        ("fsrl/Tetris-v0", "moves", 50_000),
        ("fsrl/TetrisPlacement-v0", "placement", 10_000),
    )
    for env_id, mode, limit in entries:
        if env_id in registry:
            continue
        gym.register(
            id=env_id,
            entry_point="envs.tetris.env:TetrisEnv",
            vector_entry_point="envs.tetris:TetrisVectorEnv",
            max_episode_steps=limit,
            kwargs={"mode": mode},
        )


_register()
