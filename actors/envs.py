"""Vector environments for the actors, with an explicit autoreset mode.

:func:`make_vector_env` builds a Gymnasium ``VectorEnv`` from the ``env`` config
section: any registered id, or ``"module:Id"`` (the module is imported first and
registers ``Id``, e.g. ``envs.tetris:FsrlTetrisPlacement-v0``), with ``kwargs`` and
``max_episode_steps``. Ids whose spec has a ``vector_entry_point`` outside Gymnasium
itself (our batched Tetris/Snake cores) are built through it; every other id becomes a
``SyncVectorEnv`` in ``AutoresetMode.SAME_STEP``.

Why SAME_STEP: the step that ends an episode returns the *reset* observation and puts
the final one in ``info["final_obs"]``, so every call is a real transition and the
n-step folder never sees a dummy step. (Under Gymnasium 1.x's default NEXT_STEP the
step after an episode end is a reset step whose action is ignored; code written for
0.x then learns from a transition that never happened — cleanrl#499.) Batched envs that
only offer NEXT_STEP are still supported: :class:`VectorStepper` marks their reset
steps ``valid=False`` and the folder skips them.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv

from conf import as_section
from conf.sections import EnvConfig

logger = logging.getLogger(__name__)


def _import_module_of(env_id: str) -> None:
    if ":" not in env_id:
        return
    module = env_id.split(":", 1)[0]
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ValueError(f"env.id={env_id!r}: cannot import module {module!r}: {exc}") from exc


def _spec(env_id: str) -> gym.envs.registration.EnvSpec:
    _import_module_of(env_id)
    name = env_id.split(":", 1)[1] if ":" in env_id else env_id
    try:
        return gym.spec(name)
    except gym.error.Error as exc:
        raise ValueError(f"env.id={env_id!r} is not a registered Gymnasium id: {exc}") from exc


def _uses_own_vector_env(spec: gym.envs.registration.EnvSpec) -> bool:
    entry = spec.vector_entry_point
    if entry is None:
        return False
    name = entry if isinstance(entry, str) else getattr(entry, "__module__", "")
    return not name.startswith("gymnasium")


def env_section(env_cfg: EnvConfig | Mapping[str, Any]) -> EnvConfig:
    """The typed ``env`` section (a plain mapping, e.g. from YAML or a test, is converted)."""
    return as_section(EnvConfig, dict(env_cfg) if isinstance(env_cfg, Mapping) else env_cfg)


def _make_kwargs(env: EnvConfig) -> dict[str, Any]:
    kwargs = dict(env.kwargs or {})
    if env.max_episode_steps is not None:
        kwargs["max_episode_steps"] = int(env.max_episode_steps)
    return kwargs


def make_single_env(env_cfg: EnvConfig | Mapping[str, Any], **extra: Any) -> gym.Env:
    """One environment from the ``env`` section (used by evaluation and by the vector env);
    ``extra`` keyword arguments (e.g. ``render_mode``) go to ``gymnasium.make``."""
    env = env_section(env_cfg)
    env_id = str(env.id)
    spec = _spec(env_id)
    kwargs = {**_make_kwargs(env), **extra}
    try:
        return gym.make(spec.id, **kwargs)
    except TypeError as exc:
        raise ValueError(f"env.kwargs={kwargs!r} rejected by {env_id!r}: {exc}") from exc


def probe_spaces(env_cfg: EnvConfig | Mapping[str, Any]) -> tuple[gym.Space, gym.Space]:
    """The observation and action space of the configured env (one env made and closed)."""
    env = make_single_env(env_cfg)
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


def make_vector_env(
    env_cfg: EnvConfig | Mapping[str, Any], num_envs: int, seed: int | None = None
) -> VectorEnv:
    """A vector env of ``num_envs`` copies of the ``env`` section's id (any action space).

    ``seed`` seeds the action spaces; the caller resets with ``reset(seed=seed)`` (env i
    gets ``seed + i``) — :class:`VectorStepper` does both.
    """
    if not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"actors.envs_per_actor must be a positive int, got {num_envs!r}")
    section = env_section(env_cfg)
    env_id = str(section.id)
    spec = _spec(env_id)
    env: VectorEnv
    if _uses_own_vector_env(spec):
        kwargs = _make_kwargs(section)
        try:  # ask for SAME_STEP explicitly; an env without the keyword keeps its own mode
            env = gym.make_vec(
                spec.id,
                num_envs=num_envs,
                vectorization_mode="vector_entry_point",
                autoreset_mode=AutoresetMode.SAME_STEP,
                **kwargs,
            )
        except TypeError as exc:
            if "autoreset_mode" not in str(exc):
                raise ValueError(f"env.kwargs={kwargs!r} rejected by {env_id!r}: {exc}") from exc
            try:
                env = gym.make_vec(
                    spec.id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs
                )
            except TypeError as exc2:
                raise ValueError(f"env.kwargs={kwargs!r} rejected by {env_id!r}: {exc2}") from exc2
    else:
        env = SyncVectorEnv(
            [lambda: make_single_env(section) for _ in range(num_envs)],
            autoreset_mode=AutoresetMode.SAME_STEP,
        )
    if seed is not None:
        env.action_space.seed(seed)
    return env


@dataclass
class VectorStep:
    """One vector-env step, normalised across autoreset modes.

    ``obs`` is what the policy acts on next; ``next_obs`` is the transition target (the
    final observation where an episode ended); ``valid`` is False for reset-only steps.
    """

    obs: Any
    next_obs: Any
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    valid: np.ndarray


def _replace_rows(obs: Any, rows: np.ndarray, finals: list[Any]) -> Any:
    if isinstance(obs, Mapping):
        return {k: _replace_rows(obs[k], rows, [f[k] for f in finals]) for k in obs}
    out = np.array(obs, copy=True)
    out[rows] = np.stack([np.asarray(f) for f in finals])
    return out


class VectorStepper:
    """Steps a vector env and hands back :class:`VectorStep` whatever its autoreset mode.

    Promises: with SAME_STEP every step is valid and ``next_obs`` carries the final
    observation of the envs that just ended; with NEXT_STEP the step after an end is
    reported ``valid=False`` (its reward and flags are not real). DISABLED is refused.
    """

    def __init__(self, env: VectorEnv, seed: int | None) -> None:
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if isinstance(mode, str):
            mode = AutoresetMode(mode)
        if mode not in (AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP):
            raise ValueError(
                f"vector env autoreset_mode={mode!r} not supported (SAME_STEP, NEXT_STEP)"
            )
        self.env = env
        self.mode = mode
        self.num_envs = env.num_envs
        self._seed = seed
        self._prev_done = np.zeros(self.num_envs, dtype=bool)

    def reset(self) -> Any:
        obs, _ = self.env.reset(seed=self._seed)
        self._prev_done[:] = False
        return obs

    def step(self, actions: np.ndarray) -> VectorStep:
        obs, reward, terminated, truncated, info = self.env.step(actions)
        reward = np.asarray(reward, dtype=np.float64)
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.asarray(truncated, dtype=bool)
        if self.mode == AutoresetMode.SAME_STEP:
            valid = np.ones(self.num_envs, dtype=bool)
            next_obs = obs
            ended = np.flatnonzero(np.asarray(info.get("_final_obs", np.zeros(0, bool))))
            if ended.size:
                finals = [info["final_obs"][i] for i in ended]
                next_obs = _replace_rows(obs, ended, finals)
        else:
            valid = ~self._prev_done
            next_obs = obs
            self._prev_done = (terminated | truncated) & valid
        return VectorStep(obs, next_obs, reward, terminated, truncated, valid)

    def close(self) -> None:
        self.env.close()
