"""Gymnasium ``VectorEnv`` over a batched game core (used by Tetris and Snake).

:class:`BatchedGameVectorEnv` steps all ``num_envs`` boards with one call into the
numpy core, handles time limits per board and autoresets finished boards.

Autoreset (``metadata["autoreset_mode"]``):

* ``AutoresetMode.SAME_STEP`` (default): a board whose episode ends is reset inside
  the same ``step``; the returned observation is the new episode's first one, and
  ``info["final_obs"]`` (object array, ``None`` elsewhere; mask ``info["_final_obs"]``)
  and ``info["final_info"]`` (dict of arrays; mask ``info["_final_info"]``) hold the
  last observation/info of the finished episode — the layout of Gymnasium's
  ``SyncVectorEnv`` in the same mode.
* ``AutoresetMode.NEXT_STEP``: Gymnasium's default; the step after an episode end
  resets that board, ignores its action and returns reward 0, not done.

Seeding: ``reset(seed=s)`` gives board i the generator
``gymnasium.utils.seeding.np_random(s + i)``, exactly what a single env gets from
``reset(seed=s + i)``; later resets (autoresets included) continue each board's own
generator, as a single env's ``reset()`` without a seed does. So board i of a vector
env seeded s plays the same game as a single env seeded s + i under the same actions.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

logger = logging.getLogger(__name__)


class BatchedGame(Protocol):
    """What the vector env needs from a game (``TetrisGame``, ``SnakeGame``)."""

    core: Any
    observation_space: spaces.Space
    action_space: spaces.Discrete

    def observe(self, rows: np.ndarray) -> Any: ...
    def info(self, rows: np.ndarray) -> dict[str, np.ndarray]: ...
    def check_actions(self, actions: Any, n: int) -> np.ndarray: ...
    def step(
        self, rows: np.ndarray, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]: ...


def _take(batch: Any, i: int) -> Any:
    if isinstance(batch, dict):
        return {k: v[i] for k, v in batch.items()}
    return batch[i]


class BatchedGameVectorEnv(VectorEnv):
    """``num_envs`` boards of one game stepped together by its vectorized core.

    Promises: board i behaves exactly as a single env seeded ``seed + i``; finished
    boards are reset per ``metadata["autoreset_mode"]``; a bad action batch raises
    ``ValueError`` before any board changes.
    """

    metadata: dict[str, Any] = {
        "render_modes": ["ansi", "rgb_array"],
        "render_fps": 30,
        "autoreset_mode": AutoresetMode.SAME_STEP,
    }

    def __init__(
        self,
        game: BatchedGame,
        num_envs: int,
        *,
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
        render_mode: str | None = None,
    ) -> None:
        mode = AutoresetMode(autoreset_mode)
        if mode == AutoresetMode.DISABLED:
            raise ValueError("autoreset_mode DISABLED is not supported: use SAME_STEP or NEXT_STEP")
        if max_episode_steps is not None and int(max_episode_steps) < 1:
            raise ValueError(f"max_episode_steps must be >= 1 or None, got {max_episode_steps!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.metadata = {**type(self).metadata, "autoreset_mode": mode}
        self.game = game
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self.single_observation_space = game.observation_space
        self.single_action_space = game.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._rows = np.arange(self.num_envs, dtype=np.int64)
        self._elapsed = np.zeros(self.num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._seeded = False
        self.default_seed: int | None = None  # used by the first reset() without a seed

    # ------------------------------------------------------------------ API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if seed is None and not self._seeded:
            seed = self.default_seed
        if seed is not None or not self._seeded:
            super().reset(seed=seed)
            base = seed
            rngs = [
                seeding.np_random(None if base is None else int(base) + i)[0]
                for i in range(self.num_envs)
            ]
            self._seeded = True
        else:
            rngs = None
        self.game.core.reset_rows(self._rows, rngs)
        self._elapsed[:] = 0
        self._needs_reset[:] = False
        return self.game.observe(self._rows), self._with_masks(self.game.info(self._rows))

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._seeded:
            raise RuntimeError("step() before reset()")
        acts = self.game.check_actions(actions, self.num_envs)
        rows = self._rows
        reward = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        live = rows
        if self.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP and self._needs_reset.any():
            stale = rows[self._needs_reset]
            self.game.core.reset_rows(stale)
            self._elapsed[stale] = 0
            live = rows[~self._needs_reset]
        step_reward, step_term, step_info = self.game.step(live, acts[live])
        if live.size == self.num_envs:
            reward, terminated, info = step_reward, step_term, step_info
        else:
            reward[live] = step_reward
            terminated[live] = step_term
            info = self.game.info(rows)
            for key, val in step_info.items():
                if key not in info:
                    full = np.zeros((self.num_envs, *val.shape[1:]), dtype=val.dtype)
                    full[live] = val
                    info[key] = full
        self._elapsed[live] += 1
        if self.max_episode_steps is not None:
            truncated = (self._elapsed >= self.max_episode_steps) & ~terminated
            if live.size != self.num_envs:
                truncated[self._needs_reset] = False
        done = terminated | truncated
        if self.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP:
            self._needs_reset = done
            return self.game.observe(rows), reward, terminated, truncated, self._with_masks(info)

        finished = rows[done]
        if finished.size:
            final_obs_batch = self.game.observe(finished)
            final_obs = np.full(self.num_envs, None, dtype=object)
            for j, b in enumerate(finished.tolist()):
                final_obs[b] = _take(final_obs_batch, j)
            final_info = self._with_masks({k: v.copy() for k, v in info.items()}, done)
            self.game.core.reset_rows(finished)
            self._elapsed[finished] = 0
            fresh = self.game.info(finished)
            for key, val in fresh.items():
                info[key][finished] = val
        obs = self.game.observe(rows)
        out = self._with_masks(info)
        if finished.size:
            out["final_obs"], out["_final_obs"] = final_obs, done.copy()
            out["final_info"], out["_final_info"] = final_info, done.copy()
        return obs, reward, terminated, truncated, out

    def render(self) -> tuple[Any, ...] | None:
        """A tuple with one frame (ansi text or RGB array) per board."""
        if self.render_mode is None:
            return None
        return tuple(self._render_board(b) for b in range(self.num_envs))

    def _render_board(self, b: int) -> Any:  # overridden per game
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers
    def _with_masks(
        self, info: dict[str, np.ndarray], mask: np.ndarray | None = None
    ) -> dict[str, Any]:
        m = np.ones(self.num_envs, dtype=bool) if mask is None else mask
        out: dict[str, Any] = dict(info)
        for key in info:
            out[f"_{key}"] = m
        return out
