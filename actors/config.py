"""The ``actors`` section of the root config: how many actors, how they explore and write.

``conf/schema.py`` composes this dataclass into the root schema (``cfg.actors``). The
worker itself receives the root config as a *plain* dict (``OmegaConf.to_container``)
and reads these keys through :func:`actors.settings.ActorSettings.from_root`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ActorsConfig:
    """Actor fleet settings; every field is documented where it is declared."""

    # Number of Ray actor workers (a deployment knob: actors.num=16).
    num: int = 2
    # Environments stepped by each actor as one vector env (one batched forward per step).
    envs_per_actor: int = 4
    # Ape-X exploration ladder over all actor x env slots: eps_i = epsilon ** (1 + alpha * i / (N - 1)).
    epsilon: float = 0.4
    epsilon_alpha: float = 7.0
    # n in the n-step return folded on the actor (reward = sum_k gamma^k r, discount = gamma^n).
    n_step: int = 3
    # Transitions per replay chunk (one Redis pipeline per chunk).
    chunk_size: int = 64
    # Longest a folded transition waits on the actor before being written, in seconds.
    flush_interval_s: float = 0.5
    # How often the actor checks the weight store's latest version (one GET each time).
    weight_poll_interval_s: float = 0.1
    # How often the actor refreshes its heartbeat key; the key expires after 3 intervals.
    heartbeat_interval_s: float = 1.0
    # Env steps per actor before run() returns on its own (0 = until stopped).
    max_env_steps: int = 0
    # Ray fault tolerance: restarts of a crashed actor (-1 = unlimited) and retries of its tasks.
    max_restarts: int = -1
    max_task_retries: int = -1
    # CPUs Ray reserves for each actor (fractions let many actors share a small machine).
    num_cpus: float = 1.0
    # Torch intra-op threads for the actor's CPU inference.
    torch_threads: int = 1
    # Entries kept in the fsrl:{ns}:episodes stream (approximate MAXLEN).
    episodes_stream_maxlen: int = 100_000
