"""fsrl's actors: what the package promises.

* :mod:`actors.envs` — ``make_vector_env(env, num_envs, seed)``: any Gymnasium id or
  ``"module:Id"``, with kwargs and ``max_episode_steps``; our batched Tetris/Snake
  cores through their ``vector_entry_point``; autoreset mode always explicit
  (``SAME_STEP``; a ``NEXT_STEP`` env's reset steps are marked invalid and skipped).
* :mod:`actors.nstep` — ``NStepFolder``: n-step returns batched over the envs,
  terminated (no bootstrap) and truncated (bootstrap from the final observation)
  kept apart, nothing crossing an episode boundary.
* :mod:`actors.spec` — ``ActorSpec``: the typed config sections one actor is handed.
* :mod:`actors.worker` — ``ActorWorker`` (plain class; its docstring is the contract
  the launcher codes against): acts with the agent's ``ActorPolicy``, stamps every
  transition with the policy version, writes chunks with the policy's initial
  priorities, polls weights with one GET; :mod:`actors.remote` — the Ray actor.
* :mod:`actors.reporting` — episodes, weight switches and heartbeats in Redis as
  flat, protocol-versioned field maps (no pickle).
"""

from actors.envs import VectorStepper, make_single_env, make_vector_env
from actors.nstep import NStepFolder
from actors.spec import ActorConfigError, ActorSpec, build_agent

__all__ = [
    "ActorConfigError",
    "ActorSpec",
    "NStepFolder",
    "VectorStepper",
    "build_agent",
    "make_single_env",
    "make_vector_env",
]
