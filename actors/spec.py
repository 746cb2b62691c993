"""What one actor worker is handed across Ray: typed config sections, not dicts.

Promises: :class:`ActorSpec` holds the dataclass sections the actor reads (``env``,
``actors``, ``algo``, ``model``) plus where the run lives; it is validated when made
(an ``actor_id`` outside ``[0, actors.num)`` raises :class:`ActorConfigError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import conf
from actors.envs import probe_spaces
from agents import Agent, resolve_agent
from conf.schema import ActorsConfig, Config, EnvConfig, ModelConfig


class ActorConfigError(ValueError):
    """The actor's config holds a value it cannot use (the message names it)."""


@dataclass(frozen=True)
class ActorSpec:
    """One actor's typed view of the run."""

    actor_id: int
    env: EnvConfig
    actors: ActorsConfig
    algo: Any  # the agent's own section (conf.schema.AlgoConfig or a subclass)
    model: ModelConfig
    seed: int
    table: str
    replay_url: str
    namespace: str
    model_tag: str

    def __post_init__(self) -> None:
        num = int(self.actors.num)
        if not isinstance(self.actor_id, int) or not 0 <= self.actor_id < num:
            raise ActorConfigError(f"actor_id={self.actor_id!r} outside [0, actors.num={num})")

    @classmethod
    def from_config(
        cls, cfg: Config | dict[str, Any], actor_id: int, replay_url: str, namespace: str, tag: str
    ) -> ActorSpec:
        """The spec for actor ``actor_id`` of a (validated) run config."""
        if isinstance(cfg, dict):  # e.g. a config that went through conf.to_container
            cfg = conf.from_container(cfg)
        try:
            conf.validate(cfg)
        except ValueError as exc:
            raise ActorConfigError(f"actor {actor_id}: {exc}") from exc
        return cls(
            actor_id=actor_id,
            env=cfg.env,
            actors=cfg.actors,
            algo=cfg.algo,
            model=cfg.model,
            seed=int(cfg.seed),
            table=cfg.replay.table,
            replay_url=replay_url,
            namespace=namespace,
            model_tag=tag,
        )


def build_agent(cfg: Any) -> Agent:
    """The run's agent for its env's spaces (one env made and closed: cheap, so a launcher
    calls it before anything starts and an agent that cannot handle the env fails first)."""
    obs_space, action_space = probe_spaces(cfg.env)
    return resolve_agent(cfg.algo.name)(cfg.algo, cfg.model, obs_space, action_space)


__all__ = ["ActorConfigError", "ActorSpec", "build_agent"]
