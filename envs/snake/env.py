"""The single-board Snake environment (Gymnasium API) on the batched core with B = 1."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from envs.snake.game import SnakeGame

_ROW0 = np.zeros(1, dtype=np.int64)
CELL_PX = 16
_COLOURS = np.array([(20, 20, 28), (40, 200, 60), (20, 120, 40), (220, 40, 40)], dtype=np.uint8)


def rgb_frame(game: SnakeGame, b: int) -> np.ndarray:
    """(H * CELL_PX, W * CELL_PX, 3) uint8 picture of board b."""
    grid = game.core.grid(np.array([b]))[0]
    idx = np.zeros(grid.shape[1:], dtype=np.int64)
    idx[grid[1] > 0] = 2
    idx[grid[0] > 0] = 1
    idx[grid[2] > 0] = 3
    img = _COLOURS[idx]
    return np.repeat(np.repeat(img, CELL_PX, axis=0), CELL_PX, axis=1)


def _first(batch: Any) -> Any:
    if isinstance(batch, dict):
        return {k: v[0] for k, v in batch.items()}
    return batch[0]


class SnakeEnv(gym.Env):
    """Snake on a walled board (default 10x10).

    ## Description
    The snake starts with ``initial_length`` cells in the middle row, heading right.
    Each step it moves one cell; eating the apple grows it by one and a new apple
    appears uniformly on a free cell (drawn from the env's generator). Hitting a wall
    or its own body ends the game; filling the whole board is a win.

    ## Action Space
    ``actions="absolute"`` (default), ``Discrete(4)``: 0 up, 1 right, 2 down, 3 left
    (the reverse of the current heading is ignored: the snake keeps going).
    ``actions="relative"``, ``Discrete(3)``: 0 straight, 1 turn right, 2 turn left.

    ## Observation Space
    ``Box(0, 255, (3, H, W), uint8)``: channel 0 the head; channel 1 the body with its
    remaining life (1 = tail, growing towards the head, so direction is readable);
    channel 2 the apple. With ``features=True`` a Dict ``{"grid": ..., "features":
    Box(0, 1, (11,), uint8)}``: danger straight/right/left, heading one-hot (4), apple
    above/right/below/left of the head. With ``action_features=True`` a Dict of
    ``grid`` (and ``features``) and ``candidate_features``: ``Box(0, 1, (A, 14), float32)``, the afterstate of each of the
    A actions (:mod:`envs.snake.afterstate`: dies, eats, distance to the apple, cells and
    tail still reachable, the path to the apple and whether the tail is in reach once it
    is eaten, ...), which ``model.arch=candidate_scorer`` scores move by move.

    ## Rewards
    ``apple_reward`` (1) per apple, ``death_reward`` (-1) on a collision,
    ``step_reward`` (0) every step, ``win_reward`` (0) on a full board, and
    ``distance_shaping`` (0, off) x (distance before - distance after) to the apple.
    ``info``: ``apples``, ``length``, ``win``, ``ate``, ``starved``.

    ## Episode End
    Terminated on a collision or a win. Truncated after ``starvation_steps`` steps
    without an apple (default H*W); with that, episodes are finite and no extra
    ``max_episode_steps`` is registered. With ``starvation_terminates=True`` starvation
    is a termination instead (a rule of the game that an agent seeing how long it has
    gone hungry, e.g. through ``action_features``, should learn to avoid; a time limit
    would be bootstrapped through).

    ## Arguments
    ``render_mode`` (``ansi``, ``rgb_array``), ``height=10``, ``width=10``,
    ``actions``, ``initial_length=3``, ``starvation_steps=None``,
    ``starvation_terminates=False``, ``features=False``, ``action_features=False``,
    ``apple_reward``, ``death_reward``, ``step_reward``, ``win_reward``,
    ``distance_shaping``.

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 15}

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.game = SnakeGame(1, **kwargs)
        self.render_mode = render_mode
        self.observation_space = self.game.observation_space
        self.action_space = self.game.action_space
        self._over = True

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        fresh = seed is not None or self.game.core.rngs[0] is not self.np_random
        self.game.core.reset_rows(_ROW0, [self.np_random] if fresh else None)
        self._over = False
        return _first(self.game.observe(_ROW0)), _first(self.game.info(_ROW0))

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._over:
            raise RuntimeError("step() outside an episode: call reset() first")
        acts = self.game.check_actions(np.reshape(np.asarray(action), (1,)), 1)
        reward, terminated, info = self.game.step(_ROW0, acts)
        info = {k: (v[0].item() if v.ndim == 1 else v[0]) for k, v in info.items()}
        starved = bool(info["starved"])
        truncated = starved and not self.game.starvation_terminates
        terminated = terminated | (starved and self.game.starvation_terminates)
        self._over = bool(terminated[0]) or truncated
        return (
            _first(self.game.observe(_ROW0)),
            float(reward[0]),
            bool(terminated[0]),
            truncated,
            info,
        )

    def render(self) -> Any:
        if self.render_mode == "ansi":
            c = self.game.core
            return c.ansi(0) + f"\napples {int(c.apples[0])}  length {int(c.length[0])}\n"
        if self.render_mode == "rgb_array":
            return rgb_frame(self.game, 0)
        return None
