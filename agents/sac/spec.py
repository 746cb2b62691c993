"""What SAC needs from the spaces, and the format of its exported actor (numpy only).

The actor is exported in the edge's ``mlp_gaussian`` format (see
:class:`robot_edge.policy.GaussianPolicy`): tensors ``torso.{i}``, ``mean.0``,
``log_std.0``; metadata says the observation shape, the action bounds and the
log-std range, so actors, the relay and the Pi run it with the same numpy forward.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from agents.core import AgentError, Metadata, Tensors
from conf.schema import SACConfig

ARCH = "mlp_gaussian"


@dataclass(frozen=True)
class SACSpaces:
    """The flat observation size and the action bounds SAC acts within.

    Promises: built only from a ``Box`` observation and a bounded ``Box`` action
    (anything else raises :class:`AgentError` naming the space).
    """

    obs_shape: tuple[int, ...]
    obs_dim: int
    action_shape: tuple[int, ...]
    action_dim: int
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def from_spaces(cls, observation_space: gym.Space, action_space: gym.Space) -> SACSpaces:
        if not isinstance(action_space, gym.spaces.Box):
            raise AgentError(
                f"algo=sac needs a continuous Box action space, the env has {action_space!r} "
                "(use algo=dqn for discrete actions)"
            )
        low = np.asarray(action_space.low, dtype=np.float32).reshape(-1)
        high = np.asarray(action_space.high, dtype=np.float32).reshape(-1)
        if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low < high)):
            raise AgentError(
                f"algo=sac needs finite action bounds with low < high, the env has {action_space!r}"
            )
        if not isinstance(observation_space, gym.spaces.Box):
            raise AgentError(
                f"algo=sac needs a Box observation space, the env has {observation_space!r}"
            )
        obs_shape = tuple(int(d) for d in observation_space.shape)
        return cls(
            obs_shape=obs_shape,
            obs_dim=int(np.prod(obs_shape)),
            action_shape=tuple(int(d) for d in action_space.shape),
            action_dim=int(low.size),
            low=low,
            high=high,
        )

    @property
    def action_scale(self) -> np.ndarray:
        return ((self.high - self.low) / 2.0).astype(np.float32)

    @property
    def action_bias(self) -> np.ndarray:
        return ((self.high + self.low) / 2.0).astype(np.float32)

    def metadata(self, cfg: SACConfig) -> Metadata:
        """The export metadata of an actor for these spaces."""
        return {
            "arch": ARCH,
            "activation": "relu",
            "agent": "sac",
            "input_scale": "1.0",
            "obs_shape": json.dumps(list(self.obs_shape)),
            "action_dim": json.dumps(self.action_dim),
            "action_scale": json.dumps([float(x) for x in self.action_scale]),
            "action_bias": json.dumps([float(x) for x in self.action_bias]),
            "log_std_min": json.dumps(float(cfg.log_std_min)),
            "log_std_max": json.dumps(float(cfg.log_std_max)),
            "hidden_sizes": json.dumps([int(h) for h in cfg.hidden_sizes]),
        }


def initial_actor(spaces: SACSpaces, cfg: SACConfig, seed: int) -> Tensors:
    """A seeded actor in the export format, initialised as torch's ``nn.Linear`` does
    (weights and biases uniform in ±1/sqrt(fan_in))."""
    rng = np.random.default_rng(seed)
    tensors: Tensors = {}

    def linear(name: str, fan_in: int, fan_out: int) -> None:
        bound = 1.0 / np.sqrt(fan_in)
        tensors[f"{name}.weight"] = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        tensors[f"{name}.bias"] = rng.uniform(-bound, bound, fan_out).astype(np.float32)

    width = spaces.obs_dim
    for i, hidden in enumerate(cfg.hidden_sizes):
        linear(f"torso.{i}", width, int(hidden))
        width = int(hidden)
    linear("mean.0", width, spaces.action_dim)
    linear("log_std.0", width, spaces.action_dim)
    return tensors


__all__ = ["ARCH", "SACSpaces", "initial_actor"]
