"""The agent contract: what an algorithm is to fsrl, in one screen.

fsrl supplies the environment loop, the Redis replay (chunks, priorities, rate
limiting), versioned weights, the edge and the cluster. An *agent* supplies the
algorithm, as three small pieces that never talk to each other directly:

* :class:`Agent` — the builder. Made from its typed config section (``algo``), the
  ``model`` section and the env's spaces; says what each transition holds
  (:meth:`Agent.transition_spec`), how actors fold rewards (``n_step``, ``gamma``),
  and builds the two halves below. ``algo=dqn``, ``algo=sac`` or a user's own
  ``algo=package.module:Name`` (found on the Python path, like env ids).
* :class:`ActorPolicy` — acting on an actor: numpy observations in, actions out
  (exploration included), initial priorities for a chunk of transitions, and
  loading a published version. It should not need torch where the network allows
  it (the numpy forward of :mod:`robot_edge.policy` is what the Pi runs too).
* :class:`AgentLearner` — learning on the learner: one update from a sampled batch,
  returning new priorities and metrics; the weights exported as a versioned blob
  (safetensors tensors + string metadata: what actors, the relay and the Pi load);
  its whole state for checkpoints; a greedy policy for evaluation.

Data path::

    env ─obs→ ActorPolicy.act ─action→ env ─(n-step fold)→ transitions
        ─ActorPolicy.priorities→ replay writer (chunks) → Redis replay
        → sampler → AgentLearner.prepare → AgentLearner.update ─priorities→ replay
        AgentLearner.export → weight store (version v) → ActorPolicy.load / relay / Pi

A batch is the replay's columns as numpy arrays with one leading dimension
(``obs`` or ``obs/<key>`` for Dict observations, ``action``, ``reward``,
``discount`` = γⁿ or 0 at termination, ``next_obs``, ``policy_version``, ...).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from conf.sections import ModelConfig
from replay.schema import TransitionSpec

Observation = Any  # np.ndarray, or a mapping of them for Dict observation spaces
Batch = Mapping[str, np.ndarray]
Tensors = dict[str, np.ndarray]
Metadata = dict[str, str]
#: What :meth:`AgentLearner.policy_module`'s network returns: Q-values ``[B, A]`` (the greedy
#: action is their argmax; masked actions are -inf) or the actions ``[B, *action_shape]``.
POLICY_OUTPUTS = ("q_values", "actions")


class AgentError(ValueError):
    """An agent cannot be built for this config or these spaces (the message says why)."""


@dataclass(frozen=True)
class ActorSlot:
    """Which actor (and which of its envs) a policy serves: exploration ladders use it."""

    actor_id: int
    num_actors: int
    envs_per_actor: int
    seed: int
    #: Intra-op threads for a torch forward on the actor (numpy policies ignore it).
    torch_threads: int = 1


@runtime_checkable
class ActorPolicy(Protocol):
    """Acts for one actor's vectorised envs; cheap, numpy in and out, never blocks."""

    def act(self, obs: Observation) -> np.ndarray:
        """Behaviour actions (exploration included), one row per env."""

    def priorities(self, batch: Batch) -> np.ndarray | None:
        """Initial replay priorities of these transitions (finite, >= 0), or None for the default."""

    def load(self, tensors: Tensors, metadata: Metadata) -> None:
        """Act with a published version; raise ValueError if it does not fit (kept: the old)."""

    def ensure_weights(self) -> None:
        """Have some weights: the seeded initial network when nothing was published."""


class AgentLearner(ABC):
    """Learns from sampled batches; owns its networks and optimizers.

    Promises: :meth:`update` takes one optimizer step (or a fixed number of them) and
    returns one finite priority > 0 per transition; :meth:`export` is what actors and
    the edge load; :meth:`state` restores exactly through :meth:`load_state`.
    """

    #: Updates done so far (restored from checkpoints).
    updates: int = 0

    def prepare(self, batch: Batch, weights: np.ndarray) -> Any:
        """Move a numpy batch (and importance weights) to the device; may run in a thread."""
        return batch, weights

    @abstractmethod
    def update(self, prepared: Any) -> tuple[np.ndarray, dict[str, float]]:
        """One learning step; returns (new priorities, metrics named ``losses/...``)."""

    @abstractmethod
    def export(self) -> tuple[Tensors, Metadata]:
        """The acting weights as numpy tensors plus metadata saying how to run them."""

    def load_export(self, tensors: Tensors, metadata: Metadata) -> None:
        """Start from a published version (cold start / adopt); ValueError if it does not fit
        (the default: this agent cannot start from its export, e.g. a lossy one)."""
        raise ValueError(f"{type(self).__name__} cannot start from a published version")

    @abstractmethod
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Everything a checkpoint needs: (flat tensors, JSON-able extras)."""

    @abstractmethod
    def load_state(self, tensors: Mapping[str, Any], extras: Mapping[str, Any]) -> None:
        """Restore what :meth:`state` returned."""

    @abstractmethod
    def greedy(self) -> Callable[[Observation], np.ndarray]:
        """A deterministic policy for evaluation (batched obs in, actions out)."""

    def policy_module(self) -> tuple[Any, str]:
        """The network :meth:`greedy` runs, as ``(torch module, output)`` for ONNX and
        TorchScript export (``fsrl export``): ``forward`` takes a batch as :meth:`greedy`
        does, as tensors (a dict of them for Dict observations), and returns what ``output``
        (one of :data:`POLICY_OUTPUTS`) says. The default: ValueError, nothing to export."""
        raise ValueError(f"{type(self).__name__} has no policy network to export")


class Agent(ABC):
    """Builds an algorithm's pieces for one run. Subclass it for a new algorithm.

    Class attributes: ``name`` (what ``algo.name`` says), ``config_class`` (the typed
    ``algo`` section: a dataclass with at least ``name``, ``gamma``, ``n_step``,
    ``batch_size``).
    """

    name: ClassVar[str]
    config_class: ClassVar[type]

    def __init__(
        self,
        algo: Any,
        model: Any,
        observation_space: gym.Space,
        action_space: gym.Space,
    ) -> None:
        self.algo = algo
        self.model = model
        self.observation_space = observation_space
        self.action_space = action_space
        self.check_spaces(observation_space, action_space)

    def check_spaces(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        """Raise :class:`AgentError` naming the space this agent cannot handle (default: any)."""
        return None

    @property
    def n_step(self) -> int:
        return int(self.algo.n_step)

    @property
    def gamma(self) -> float:
        return float(self.algo.gamma)

    def tag_suffix(self) -> str:
        """What a default model tag says after the env id (``CartPole-v1-<this>``)."""
        return self.name

    def transition_spec(self) -> TransitionSpec:
        """The replay columns this agent learns from (the standard ones by default)."""
        return TransitionSpec.from_spaces(self.observation_space, self.action_space)

    @classmethod
    def for_export(
        cls, metadata: Metadata, observation_space: gym.Space, action_space: gym.Space
    ) -> Agent:
        """An agent whose networks fit a published version with this ``metadata`` (the
        leaderboard, ``load_policy`` and ``fsrl export`` of a weights file, where no run config
        is at hand). The default: the agent's default ``algo`` and ``model`` sections; an
        agent whose export says its sizes overrides it to read them."""
        return cls(cls.config_class(), ModelConfig(), observation_space, action_space)

    def evaluation_policy(
        self, tensors: Tensors, metadata: Metadata
    ) -> Callable[[Any], np.ndarray]:
        """The greedy policy of a published version (leaderboards, the arena, ``play``):
        by default the learner's, started from the export (ValueError if it cannot be)."""
        learner = self.learner("cpu", 0)
        learner.load_export(tensors, metadata)
        return learner.greedy()

    def action_values(self, tensors: Tensors, metadata: Metadata) -> Callable[[Any], np.ndarray]:
        """Per-action values ``(N, A)`` of a published version for the player to act, higher
        better (what a play-time search over a two-player game scores its leaves with,
        :mod:`envs.games.search`); :class:`AgentError` when the agent has none (default)."""
        raise AgentError(f"algo={self.name} exposes no action values to search over")

    @abstractmethod
    def actor_policy(self, slot: ActorSlot) -> ActorPolicy:
        """The acting half for one actor (built inside the actor's process)."""

    @abstractmethod
    def learner(self, device: Any, seed: int) -> AgentLearner:
        """The learning half (built inside the learner's process)."""


__all__ = [
    "ActorPolicy",
    "ActorSlot",
    "Agent",
    "AgentError",
    "AgentLearner",
    "Batch",
    "Metadata",
    "Observation",
    "POLICY_OUTPUTS",
    "Tensors",
]
