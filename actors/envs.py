"""Vector environments for the actors, with an explicit autoreset mode.

:func:`make_vector_env` builds a Gymnasium ``VectorEnv`` from the ``env`` config
section: any registered id, or ``"module:Id"`` (the module is imported first and
registers ``Id``, e.g. ``envs.tetris:FsrlTetrisPlacement-v0``; ``ALE/<Game>-v5`` once
ale-py is installed), with ``kwargs``, ``max_episode_steps`` and the section's wrappers
(Atari preprocessing, frame stack; episodic life and reward clipping for training only). Ids whose spec has a ``vector_entry_point`` outside Gymnasium
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
from gymnasium.wrappers import ClipReward, FrameStackObservation

from conf import as_section
from conf.sections import EnvConfig
from envs.atari import ensure_registered, lookup_with_ale, wrap_atari

logger = logging.getLogger(__name__)


def _import_module_of(env_id: str) -> None:
    if ":" not in env_id:
        return
    module = env_id.split(":", 1)[0]
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ValueError(f"env.id={env_id!r}: cannot import module {module!r}: {exc}") from exc


def _spec(env_id: str, atari: bool = False) -> gym.envs.registration.EnvSpec:
    _import_module_of(env_id)
    ensure_registered(env_id, atari)  # ALE/... ids: ale-py registers them (or a clear error)
    name = env_id.split(":", 1)[1] if ":" in env_id else env_id
    try:
        return lookup_with_ale(name)
    except gym.error.Error as exc:
        raise ValueError(f"env.id={env_id!r} is not a registered Gymnasium id: {exc}") from exc


def spec_of(env_cfg: EnvConfig | Mapping[str, Any]) -> gym.envs.registration.EnvSpec:
    """The registered spec of the ``env`` section's id ("module:Id" imports the module
    first; ``ALE/...`` with ``env.atari``); ``ValueError`` naming the id if unregistered."""
    section = env_section(env_cfg)
    return _spec(str(section.id), bool(section.atari))


def has_own_vector_env(env_cfg: EnvConfig | Mapping[str, Any]) -> bool:
    """Whether the ``env`` section's envs are stepped by their own batched vector env
    (fsrl's games, without per-env wrappers)."""
    section = env_section(env_cfg)
    return _uses_own_vector_env(spec_of(section)) and not _wrapped(section)


def _uses_own_vector_env(spec: gym.envs.registration.EnvSpec) -> bool:
    entry = spec.vector_entry_point
    if entry is None:
        return False
    name = entry if isinstance(entry, str) else getattr(entry, "__module__", "")
    return not name.startswith("gymnasium")


def _wrapped(env: EnvConfig) -> bool:
    """Whether the section asks for wrappers around each env (then no batched vector core)."""
    return bool(env.atari or env.clip_rewards or env.frame_stack > 1)


def env_section(env_cfg: EnvConfig | Mapping[str, Any]) -> EnvConfig:
    """The typed ``env`` section (a plain mapping, e.g. from YAML or a test, is converted)."""
    return as_section(EnvConfig, dict(env_cfg) if isinstance(env_cfg, Mapping) else env_cfg)


def _make_kwargs(env: EnvConfig) -> dict[str, Any]:
    kwargs = dict(env.kwargs or {})
    if env.max_episode_steps is not None and not env.atari:  # atari: agent steps, wrapped later
        kwargs["max_episode_steps"] = int(env.max_episode_steps)
    if env.atari:
        kwargs.setdefault("frameskip", 1)  # AtariPreprocessing skips frames itself
    return kwargs


def make_single_env(
    env_cfg: EnvConfig | Mapping[str, Any], training: bool = False, **extra: Any
) -> gym.Env:
    """One environment from the ``env`` section; ``extra`` keyword arguments (e.g.
    ``render_mode``) go to ``gymnasium.make``.

    ``env.atari`` wraps it in :func:`envs.atari.wrap_atari` and ``env.frame_stack`` in
    ``FrameStackObservation``; ``training=True`` (the actors' envs) adds the training-only
    wrappers (``env.episodic_life``, ``env.clip_rewards``), which evaluation never sees.
    """
    env = env_section(env_cfg)
    env_id = str(env.id)
    spec = _spec(env_id, bool(env.atari))
    kwargs = {**_make_kwargs(env), **extra}
    try:
        made = gym.make(spec.id, **kwargs)
    except TypeError as exc:
        raise ValueError(f"env.kwargs={kwargs!r} rejected by {env_id!r}: {exc}") from exc
    if env.atari:
        made = wrap_atari(
            made,
            noop_max=env.atari_noop_max,
            frame_skip=env.atari_frame_skip,
            screen_size=env.atari_screen_size,
            max_episode_steps=env.max_episode_steps,
            episodic_life=training and env.episodic_life,
            clip_rewards=training and env.clip_rewards,
        )
    elif training and env.clip_rewards:
        made = ClipReward(made, -1.0, 1.0)
    if env.frame_stack > 1:
        made = FrameStackObservation(made, int(env.frame_stack))
    return made


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
    spec = _spec(env_id, bool(section.atari))
    env: VectorEnv
    if _uses_own_vector_env(spec) and not _wrapped(section):
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
            [lambda: make_single_env(section, training=True) for _ in range(num_envs)],
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
    A self-play stepper (:mod:`actors.selfplay`) also says which moves were ``played``
    (a pool opponent's replace the policy's on its turns) and what the episode book
    credits: ``credit`` (rewards from the acting version's side) on ``credited`` rows.
    """

    obs: Any
    next_obs: Any
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    valid: np.ndarray
    played: np.ndarray | None = None
    credit: np.ndarray | None = None
    credited: np.ndarray | None = None

    def booked(self) -> tuple[np.ndarray, np.ndarray]:
        """(rewards, rows) the episode book counts: every valid row, or ``credit`` on the
        valid ``credited`` rows where a self-play stepper says so."""
        if self.credit is None or self.credited is None:
            return self.reward, self.valid
        return self.credit, self.valid & self.credited


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
    The hooks a self-play stepper fills (``alternating``, :meth:`augment`,
    :meth:`on_weights`, :meth:`stats`) do nothing here.
    """

    #: Consecutive steps of one env are moves of alternating players (self-play) or not.
    alternating = False

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

    @property
    def observation_space(self) -> gym.Space:
        return self.env.single_observation_space

    @property
    def action_space(self) -> gym.Space:
        return self.env.single_action_space

    def augment(self, transitions: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return transitions

    def on_weights(self, version: int, tensors: Any, metadata: Any) -> None:
        return None

    def stats(self) -> dict[str, Any]:
        return {}

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
