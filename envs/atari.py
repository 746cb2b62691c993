"""Atari through ale-py: id registration and the standard DQN preprocessing, built from
Gymnasium's own wrappers.

Ids: ``ALE/<Game>-v5`` (and the v0/v4 ids ale-py registers) resolve once ale-py is
installed (``pip install 'fsrl[atari]'``, which ships the ROMs): :func:`ensure_registered`
registers them with Gymnasium the first time such an id is looked up, so no ``ale_py:``
prefix is needed; without ale-py it raises :class:`AtariUnavailableError`, one line naming
the id and the extra.

:func:`wrap_atari` stacks, around an ALE env made with ``frameskip=1``:

1. ``gymnasium.wrappers.AtariPreprocessing`` — up to ``noop_max`` random no-ops at reset,
   ``frame_skip`` frames per agent step with a max-pool over the last two, a resize to
   ``screen_size``², grayscale, uint8 ``[H, W]``;
2. ``gymnasium.wrappers.TimeLimit`` — ``max_episode_steps`` counted in agent steps;
3. training only: :class:`EpisodicLife` (a lost life ends the learner's episode, the game
   goes on) and ``gymnasium.wrappers.ClipReward`` to ``[-1, 1]``.

Frame stacking (``FrameStackObservation``) is applied by the caller
(:func:`actors.envs.make_single_env`), for any env.

Why a wrapper of our own for episodic life: Gymnasium's nearest,
``AtariPreprocessing(terminal_on_life_loss=True)``, ends the episode on a lost life *and*
the next ``reset()`` restarts the whole game, so an agent trained with it only ever plays
its first life. The DQN setting (Mnih et al. 2015; SB3's ``EpisodicLifeEnv``) signals the
end to the learner but carries on with the remaining lives.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, SupportsFloat

import gymnasium as gym
from gymnasium.wrappers import AtariPreprocessing, ClipReward, TimeLimit

logger = logging.getLogger(__name__)

#: What to install for Atari ids.
ATARI_EXTRA = "pip install 'fsrl[atari]'"
_registered = False


class AtariUnavailableError(ValueError):
    """An Atari id (or ``env.atari``) was asked for but ale-py is not installed."""


def is_ale_id(name: str) -> bool:
    """True for ids in ale-py's ``ALE/`` namespace (``ALE/Pong-v5``)."""
    return name.split(":")[-1].startswith("ALE/")


def register_ale() -> bool:
    """Register ale-py's envs with Gymnasium (once); False when ale-py is not installed."""
    global _registered
    if _registered:
        return True
    try:
        ale_py = importlib.import_module("ale_py")
    except ImportError:
        return False
    gym.register_envs(ale_py)
    _registered = True
    return True


def ensure_registered(env_id: str, atari: bool = False) -> None:
    """Make ``env_id`` resolvable: ale-py's ids are registered when it names one (or when
    ``atari`` preprocessing is asked for). Raises :class:`AtariUnavailableError` naming
    the id and the extra when ale-py is missing."""
    if not (is_ale_id(env_id) or atari):
        return
    if not register_ale():
        what = "env.atari=true" if atari and not is_ale_id(env_id) else "it"
        raise AtariUnavailableError(
            f"env.id={env_id!r} is an Atari id and {what} needs ale-py (not installed): "
            f"{ATARI_EXTRA}"
        )


def lookup_with_ale(name: str) -> gym.envs.registration.EnvSpec:
    """``gymnasium.spec(name)``, registering ale-py's ids first where the plain lookup fails
    (v4 ids such as ``PongNoFrameskip-v4`` live outside the ``ALE/`` namespace)."""
    try:
        return gym.spec(name)
    except gym.error.Error:
        if _registered or not register_ale():
            raise
    return gym.spec(name)


class EpisodicLife(gym.Wrapper):
    """A lost life ends the episode for the learner while the game goes on.

    Promises: :meth:`step` returns ``terminated=True`` when the lives counter drops (and
    stays above 0: the last life ends with the game's own termination); the ``reset()``
    that follows such an end continues the same game with one no-op step (a further
    no-op-free reset is the game's); a real game over, a truncation or a seeded reset
    resets the emulator. Games without lives (Pong) are untouched.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._lives = 0
        self._game_over = True

    def _ale_lives(self) -> int:
        return int(self.env.unwrapped.ale.lives())  # type: ignore[attr-defined]

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._game_over = bool(terminated or truncated)
        lives = self._ale_lives()
        if 0 < lives < self._lives:
            terminated = True
        self._lives = lives
        return obs, reward, terminated, truncated, info

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if self._game_over or seed is not None:
            obs, info = self.env.reset(seed=seed, options=options)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:  # the no-op lost the game: a real reset after all
                obs, info = self.env.reset(options=options)
        self._lives = self._ale_lives()
        self._game_over = False
        return obs, info


def wrap_atari(
    env: gym.Env,
    *,
    noop_max: int = 30,
    frame_skip: int = 4,
    screen_size: int = 84,
    max_episode_steps: int | None = None,
    episodic_life: bool = False,
    clip_rewards: bool = False,
) -> gym.Env:
    """The standard preprocessing around an ALE env made with ``frameskip=1`` (module
    docstring); ``episodic_life`` and ``clip_rewards`` are for training envs only."""
    skip = int(env.unwrapped.spec.kwargs.get("frameskip", 1)) if env.unwrapped.spec else 1
    if skip != 1 and frame_skip > 1:
        raise ValueError(
            f"env.kwargs.frameskip={skip} with env.atari_frame_skip={frame_skip}: frames would be "
            "skipped twice; set env.kwargs.frameskip=1"
        )
    out: gym.Env = AtariPreprocessing(
        env,
        noop_max=int(noop_max),
        frame_skip=int(frame_skip),
        screen_size=int(screen_size),
        terminal_on_life_loss=False,
        grayscale_obs=True,
        scale_obs=False,
    )
    if max_episode_steps is not None:
        out = TimeLimit(out, int(max_episode_steps))
    if episodic_life:
        out = EpisodicLife(out)
    if clip_rewards:
        out = ClipReward(out, -1.0, 1.0)
    return out


__all__ = [
    "ATARI_EXTRA",
    "AtariUnavailableError",
    "EpisodicLife",
    "ensure_registered",
    "is_ale_id",
    "lookup_with_ale",
    "register_ale",
    "wrap_atari",
]
