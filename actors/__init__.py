"""fsrl's actors: what the package promises.

* :mod:`actors.envs` — ``make_vector_env(env_cfg, num_envs, seed)``: any Gymnasium id
  or ``"module:Id"``, with kwargs and ``max_episode_steps``; our batched Tetris/Snake
  cores through their ``vector_entry_point``; autoreset mode always explicit
  (``SAME_STEP``; a ``NEXT_STEP`` env's reset steps are marked invalid and skipped).
* :mod:`actors.nstep` — ``NStepFolder``: n-step returns batched over the envs,
  terminated (no bootstrap) and truncated (bootstrap from the final observation)
  kept apart, nothing crossing an episode boundary.
* :mod:`actors.exploration` — the Ape-X ε ladder over every actor × env slot and
  (ε-)greedy actions that respect an ``action_mask``.
* :mod:`actors.policy` — the actor's Q-function (``make_actor_policy``): a numpy
  forward pass of the learner's exported ``mlp_dueling`` weights (the same Q-values as
  the torch module; an actor running it never imports torch), the learner's torch
  module for ``cnn_dueling`` / ``candidate_scorer``; weights that do not fit the
  configured network are refused with a ``ValueError`` naming the tensor.
* :mod:`actors.worker` — ``ActorWorker`` (plain class; its docstring is the contract
  the launcher codes against) and ``create_remote_actor`` (restartable Ray actor):
  transitions stamped with the policy version and written in chunks with initial
  priorities computed on the actor, weights polled with one GET, episodes and
  heartbeats reported in Redis as flat, protocol-versioned field maps (no pickle).
"""

from actors.envs import VectorStepper, make_single_env, make_vector_env
from actors.exploration import actor_epsilons, epsilon_greedy, epsilon_ladder, greedy_actions
from actors.nstep import NStepFolder
from actors.policy import ActorPolicy, NumpyDuelingPolicy, TorchPolicy, make_actor_policy

__all__ = [
    "ActorPolicy",
    "NStepFolder",
    "NumpyDuelingPolicy",
    "TorchPolicy",
    "VectorStepper",
    "actor_epsilons",
    "epsilon_greedy",
    "epsilon_ladder",
    "greedy_actions",
    "make_actor_policy",
    "make_single_env",
    "make_vector_env",
]
