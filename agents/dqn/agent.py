"""Ape-X DQN as an fsrl agent: the builder that the launcher, actors and learner use.

Acting: the Ape-X ε ladder over every actor × env slot, greedy on the actor's copy of
the Q-network (numpy for ``mlp_dueling``, so such an actor never imports torch), and
initial priorities ``|r + d · max_a Q(s', a) − Q(s, a)|`` over each chunk in one
batched forward. Learning: :class:`agents.dqn.learner.DQN` (double Q, dueling,
n-step targets from the stored discount, importance weights).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from agents.core import ActorSlot, Agent, AgentError, Batch, Metadata, Observation, Tensors
from agents.dqn.actor import QFunction, make_actor_policy
from agents.dqn.archs import model_config_from_metadata, resolve_arch
from agents.dqn.exploration import actor_epsilons, epsilon_greedy
from conf.schema import DQNConfig
from conf.sections import ModelConfig
from replay.schema import TransitionSpec


def unflatten(batch: Mapping[str, np.ndarray], prefix: str) -> Observation:
    """``batch[prefix]``, or ``{key: batch[prefix/key]}`` for a flattened Dict observation."""
    if prefix in batch:
        return batch[prefix]
    head = prefix + "/"
    return {k[len(head) :]: v for k, v in batch.items() if k.startswith(head)}


class DQNActorPolicy:
    """ε-greedy acting and Ape-X initial priorities on one actor's Q-function copy.

    Promises: :meth:`act` returns one valid action per env row (masked actions never
    chosen); :meth:`priorities` is finite and > 0 for every row; :meth:`load` refuses
    weights that do not fit with a ``ValueError`` and keeps acting with the old ones.
    """

    def __init__(self, q: QFunction, epsilons: np.ndarray, seed: int) -> None:
        self.q = q
        self.epsilons = epsilons
        self.rng = np.random.default_rng(seed)

    def act(self, obs: Observation) -> np.ndarray:
        mask = obs.get("action_mask") if isinstance(obs, Mapping) else None
        return epsilon_greedy(self.q.q_values(obs), self.epsilons, self.rng, mask)

    def priorities(self, batch: Batch) -> np.ndarray:
        q = self.q.q_values(unflatten(batch, "obs")).astype(np.float64)
        q_next = self.q.q_values(unflatten(batch, "next_obs")).astype(np.float64)
        q_sa = q[np.arange(len(q)), np.asarray(batch["action"]).astype(np.int64)]
        with np.errstate(invalid="ignore"):
            boot = np.max(q_next, axis=1)
        discount = np.asarray(batch["discount"], dtype=np.float64)
        # a negative discount is a two-player game's (−γ per move: the negamax target)
        boot = np.where(np.isfinite(boot) & (discount != 0), boot, 0.0)
        td = np.asarray(batch["reward"], dtype=np.float64) + discount * boot - q_sa
        return np.nan_to_num(np.abs(td), nan=1.0, posinf=1.0).astype(np.float32)

    def load(self, tensors: Tensors, metadata: Metadata) -> None:
        self.q.load(tensors, metadata)

    def ensure_weights(self) -> None:
        self.q.ensure_weights()


class DQNAgent(Agent):
    """Ape-X DQN for ``Discrete`` action spaces (Box or Dict observations)."""

    name = "dqn"
    config_class = DQNConfig

    def check_spaces(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        if not isinstance(action_space, gym.spaces.Discrete):
            raise AgentError(
                f"algo=dqn needs a Discrete action space, the env has {action_space}; "
                "use algo=sac for continuous actions"
            )
        self.arch = resolve_arch(str(self.model.arch), observation_space)

    @property
    def num_actions(self) -> int:
        return int(self.action_space.n)  # type: ignore[attr-defined]

    def tag_suffix(self) -> str:
        return self.arch

    def model_section(self) -> dict[str, Any]:
        """The ``model`` section with ``arch`` resolved (what actors and learner build)."""
        fields = self.model.__dict__ if not isinstance(self.model, Mapping) else self.model
        return {**fields, "arch": self.arch}

    def transition_spec(self) -> TransitionSpec:
        return TransitionSpec.from_spaces(self.observation_space, self.action_space)

    def actor_policy(self, slot: ActorSlot) -> DQNActorPolicy:
        q = make_actor_policy(
            self.model_section(),
            self.observation_space,
            self.num_actions,
            slot.seed,
            slot.torch_threads,
        )
        eps = actor_epsilons(
            slot.actor_id,
            slot.num_actors,
            slot.envs_per_actor,
            float(self.algo.eps_base),
            float(self.algo.eps_alpha),
        )
        return DQNActorPolicy(q, eps, slot.seed)

    @classmethod
    def for_export(
        cls, metadata: Metadata, observation_space: gym.Space, action_space: gym.Space
    ) -> DQNAgent:
        """The default ``algo`` section and the network the export's metadata describes."""
        model = ModelConfig(**model_config_from_metadata(metadata))
        return cls(DQNConfig(), model, observation_space, action_space)

    def action_values(self, tensors: Tensors, metadata: Metadata) -> Any:
        """Q-values of the exported network, rebuilt from its own metadata (numpy for
        ``mlp_dueling``; −inf where ``action_mask`` is 0): any DQN-layout export fits,
        whatever this run's model section."""
        model = {**model_config_from_metadata(metadata), "arch": metadata.get("arch", self.arch)}
        q = make_actor_policy(model, self.observation_space, self.num_actions, seed=0)
        q.load(tensors, metadata)
        return q.q_values

    def evaluation_policy(self, tensors: Tensors, metadata: Metadata) -> Any:
        """Greedy on :meth:`action_values`."""
        values = self.action_values(tensors, metadata)
        return lambda obs: np.argmax(values(obs), axis=1)

    def network(self) -> Any:
        """A fresh torch Q-network of this run's architecture (imports torch)."""
        from agents.dqn.networks import build_q_network

        return build_q_network(self.model_section(), self.observation_space, self.num_actions)

    def learner(self, device: Any, seed: int) -> Any:
        from agents.dqn.learner import DQN

        return DQN(
            self.model_section(), self.algo, self.observation_space, self.num_actions, device, seed
        )


__all__ = ["DQNActorPolicy", "DQNAgent", "unflatten"]
