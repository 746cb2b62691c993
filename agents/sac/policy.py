"""SAC's acting half: numpy only (no torch), the same forward the Pi runs."""

from __future__ import annotations

import logging

import numpy as np

from agents.core import ActorSlot, Batch, Metadata, Observation, Tensors
from agents.sac.spec import SACSpaces, initial_actor
from conf.schema import SACConfig
from robot_edge.policy import GaussianPolicy, PolicyError

logger = logging.getLogger(__name__)


class SACActorPolicy:
    """Samples ``a = tanh(N(μ, σ)) * scale + bias`` for one actor's envs, in numpy.

    Promises: actions are float32 ``[num_envs, *action_shape]`` inside the action
    bounds; the first ``random_warmup_steps`` env steps of this actor are uniform
    random; :meth:`load` keeps the old network when a version does not fit these
    spaces (ValueError naming what); the random stream is seeded by the slot.
    """

    def __init__(self, cfg: SACConfig, spaces: SACSpaces, slot: ActorSlot) -> None:
        self.cfg = cfg
        self.spaces = spaces
        self.slot = slot
        self.rng = np.random.default_rng([int(slot.seed), int(slot.actor_id)])
        self.network: GaussianPolicy | None = None
        self.env_steps = 0

    def ensure_weights(self) -> None:
        """The seeded initial actor (the same for every actor of a run) if none is loaded."""
        if self.network is None:
            self.load(
                initial_actor(self.spaces, self.cfg, self.slot.seed), self.spaces.metadata(self.cfg)
            )

    def load(self, tensors: Tensors, metadata: Metadata) -> None:
        network = GaussianPolicy(tensors, metadata)  # PolicyError (a ValueError) if malformed
        if network.obs_dim != self.spaces.obs_dim or network.action_dim != self.spaces.action_dim:
            raise PolicyError(
                f"the published actor maps {network.obs_dim} observation values to "
                f"{network.action_dim} actions; this env has {self.spaces.obs_dim} and "
                f"{self.spaces.action_dim}"
            )
        if network.log_std is None:
            raise PolicyError("the published actor has no log_std head: actors cannot sample")
        self.network = network

    def act(self, obs: Observation) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float32)
        num_envs = x.shape[0]
        x = x.reshape(num_envs, self.spaces.obs_dim)
        if self.env_steps < self.cfg.random_warmup_steps:
            u = self.rng.uniform(-1.0, 1.0, (num_envs, self.spaces.action_dim))
            actions = (u * self.spaces.action_scale + self.spaces.action_bias).astype(np.float32)
        else:
            if self.network is None:
                self.ensure_weights()
            assert self.network is not None
            actions = self.network.sample(x, self.rng)
        self.env_steps += num_envs
        return actions.reshape(num_envs, *self.spaces.action_shape)

    def greedy(self, obs: Observation) -> np.ndarray:
        """The deterministic action ``tanh(μ) * scale + bias`` (evaluation on an actor)."""
        if self.network is None:
            self.ensure_weights()
        assert self.network is not None
        x = np.asarray(obs, dtype=np.float32)
        num_envs = x.shape[0]
        out = self.network.act(x.reshape(num_envs, self.spaces.obs_dim))
        return out.reshape(num_envs, *self.spaces.action_shape)

    def priorities(self, batch: Batch) -> np.ndarray | None:
        """None: new transitions enter at the replay's current maximum priority (no critic here)."""
        return None


__all__ = ["SACActorPolicy"]
