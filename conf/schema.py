"""The typed configuration of an fsrl run: one dataclass per section, composed into :class:`Config`.

The sections live in :mod:`conf.sections` (what is learned) and :mod:`conf.infra`
(where and how long); every field is documented where it is declared, with its unit
in its name, and every default is what the default run uses. The dataclasses are
registered in Hydra's ConfigStore as ``base_<section>`` (and the root as
``base_config``; each agent's ``algo`` section as ``base_algo_<name>``); each YAML
file under ``conf/<group>/`` extends its schema through its own ``defaults:`` list
(``- base_<section>`` then ``- _self_``). A misspelled key (``actors.nmu=16``)
therefore fails at composition, and :func:`conf.validate.validate` rejects bad
values (``actors.num=0``, a negative learning rate, an unknown device) with a
``ValueError`` naming the field, before anything starts.

Convert a composed config with ``OmegaConf.to_object`` (typed dataclasses) before
handing a section to a Ray actor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from conf.infra import BudgetConfig, LoggingConfig, RayConfig, ReplayConfig, RobotConfig
from conf.sections import (
    ActorsConfig,
    AlgoConfig,
    DQNConfig,
    EnvConfig,
    LearnerConfig,
    ModelConfig,
    SACConfig,
    SelfPlayConfig,
)

MODES = ("async", "sync")


@dataclass
class Config:
    """Root of an fsrl run."""

    # async: actors collect continuously beside the learner; sync: alternate collect/train.
    mode: str = "async"
    # Seed of everything (actors, learner, sampler, evaluation use offsets of it).
    seed: int = 0
    env: EnvConfig = field(default_factory=EnvConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    # The agent's own section (AlgoConfig or a subclass: DQNConfig, SACConfig, yours).
    algo: Any = field(default_factory=DQNConfig)
    actors: ActorsConfig = field(default_factory=ActorsConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    robot: RobotConfig = field(default_factory=RobotConfig)
    selfplay: SelfPlayConfig = field(default_factory=SelfPlayConfig)


SECTIONS: dict[str, type] = {
    "env": EnvConfig,
    "model": ModelConfig,
    "algo": AlgoConfig,
    "actors": ActorsConfig,
    "learner": LearnerConfig,
    "replay": ReplayConfig,
    "ray": RayConfig,
    "budget": BudgetConfig,
    "logging": LoggingConfig,
    "robot": RobotConfig,
    "selfplay": SelfPlayConfig,
}

#: The built-in agents' ``algo`` sections (``conf/algo/<name>.yaml`` extends ``base_algo_<name>``).
ALGO_SECTIONS: dict[str, type] = {"dqn": DQNConfig, "sac": SACConfig}


def root_node(algo: type = AlgoConfig) -> Any:
    """The root schema as an OmegaConf node whose ``algo`` is typed ``algo``.

    ``Config()`` holds a :class:`DQNConfig` (the default run's agent), but an ``algo``
    node of that type only accepts DQN's subclasses: composing ``algo=sac`` merged
    :class:`SACConfig` into it and failed. Typed :class:`AlgoConfig`, the node takes
    any agent's section and becomes that section's type."""
    node = OmegaConf.structured(Config)
    node.algo = OmegaConf.structured(algo)
    return node


def register_configs() -> None:
    """Store the schema in Hydra's ConfigStore: ``base_config`` and ``<group>/base_<group>``."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=root_node())
    for group, node in SECTIONS.items():
        cs.store(group=group, name=f"base_{group}", node=node)
    for name, node in ALGO_SECTIONS.items():
        cs.store(group="algo", name=f"base_algo_{name}", node=node)


def register_algo(spec: str, node: type) -> None:
    """Make ``algo=<spec>`` a choice (a user's ``package.module:Name`` with its own section)."""
    fields = {"name": spec}
    ConfigStore.instance().store(group="algo", name=spec, node=node(**fields))


__all__ = [
    "ALGO_SECTIONS",
    "MODES",
    "SECTIONS",
    "ActorsConfig",
    "AlgoConfig",
    "BudgetConfig",
    "Config",
    "DQNConfig",
    "EnvConfig",
    "LearnerConfig",
    "LoggingConfig",
    "ModelConfig",
    "RayConfig",
    "ReplayConfig",
    "RobotConfig",
    "SACConfig",
    "SelfPlayConfig",
    "register_algo",
    "register_configs",
    "root_node",
]
