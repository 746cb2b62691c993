"""What one actor worker is handed across Ray: typed config sections, not dicts.

Promises: :class:`ActorSpec` holds the dataclass sections the actor reads (``env``,
``actors``, ``algo``, ``model``, ``replay``, ``logging``, ``selfplay``) plus where the run lives; it is validated when made
(an ``actor_id`` outside ``[0, actors.num)`` raises :class:`ActorConfigError`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import conf
from actors.envs import probe_spaces
from agents import Agent, resolve_agent
from conf.schema import (
    ActorsConfig,
    Config,
    EnvConfig,
    LoggingConfig,
    ModelConfig,
    ReplayConfig,
    SelfPlayConfig,
)
from replay.frames import FrameStackLayout
from replay.schema import TransitionSpec


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
    replay: ReplayConfig  # the table and the writer's chunking
    logging: LoggingConfig  # level, JSON format, log shipping
    replay_url: str
    namespace: str
    model_tag: str
    selfplay: SelfPlayConfig = field(default_factory=SelfPlayConfig)  # game: null = no self-play

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
            replay=cfg.replay,
            logging=cfg.logging,
            replay_url=replay_url,
            namespace=namespace,
            model_tag=tag,
            selfplay=cfg.selfplay,
        )


def frame_layout(agent: Agent, env: EnvConfig) -> FrameStackLayout | None:
    """How the run's replay stores stacked frames (``env.frame_stack`` >= 2 and an agent
    whose transitions hold ``obs``/``next_obs`` stacks: each frame once per record); None:
    the agent's columns as they are. The learner, which creates the table, and every actor
    use this same function."""
    return FrameStackLayout.for_spec(agent.transition_spec(), int(env.frame_stack), agent.n_step)


def unpacking(layout: FrameStackLayout | None, priorities: Callable[[Any], Any]) -> Callable:
    """``priorities`` (an actor policy's, called by the writer on each stored chunk's
    columns) fed the standard columns again where ``layout`` packed the frames."""
    if layout is None:
        return priorities
    return lambda cols: priorities(layout.unpack(cols))


def table_spec(agent: Agent, env: EnvConfig) -> TransitionSpec:
    """The replay table's columns: the agent's, with :func:`frame_layout` applied."""
    layout = frame_layout(agent, env)
    spec = agent.transition_spec()
    return spec if layout is None else layout.spec(spec)


def build_agent(cfg: Any) -> Agent:
    """The run's agent for its env's spaces (one env made and closed: cheap, so a launcher
    calls it before anything starts and an agent that cannot handle the env fails first)."""
    obs_space, action_space = probe_spaces(cfg.env)
    return resolve_agent(cfg.algo.name)(cfg.algo, cfg.model, obs_space, action_space)


__all__ = [
    "ActorConfigError",
    "ActorSpec",
    "build_agent",
    "frame_layout",
    "table_spec",
    "unpacking",
]
