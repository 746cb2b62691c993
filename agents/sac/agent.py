"""The SAC builder that ``algo.name=sac`` resolves to (importing it never imports torch)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import gymnasium as gym

from agents.core import ActorSlot, Agent, AgentError, AgentLearner
from agents.sac.config import SACConfig
from agents.sac.policy import SACActorPolicy
from agents.sac.spec import SACSpaces


def _as_config(algo: Any) -> SACConfig:
    if isinstance(algo, SACConfig):
        return algo
    if isinstance(algo, Mapping):
        known = {f.name for f in fields(SACConfig)}
        unknown = sorted(set(algo) - known)
        if unknown:
            raise AgentError(f"algo (sac) has no field(s) {unknown}: known are {sorted(known)}")
        return SACConfig(**dict(algo))
    raise AgentError(f"algo for sac must be a SACConfig or a mapping, got {type(algo).__name__}")


class SACAgent(Agent):
    """Soft Actor-Critic for continuous ``Box`` actions on ``Box`` observations.

    Promises: rejects any other space at construction (AgentError naming it); the
    standard replay columns with a float action; actors act in numpy only (the torch
    half is imported when :meth:`learner` is first called).
    """

    name = "sac"
    config_class = SACConfig

    def __init__(
        self,
        algo: Any,
        model: Any,
        observation_space: gym.Space,
        action_space: gym.Space,
    ) -> None:
        super().__init__(_as_config(algo), model, observation_space, action_space)
        self.config: SACConfig = self.algo
        self.spaces = SACSpaces.from_spaces(observation_space, action_space)

    def check_spaces(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        SACSpaces.from_spaces(observation_space, action_space)

    def actor_policy(self, slot: ActorSlot) -> SACActorPolicy:
        return SACActorPolicy(self.config, self.spaces, slot)

    def learner(self, device: Any, seed: int) -> AgentLearner:
        # The torch half, imported on the learner only (actors never need torch).
        module = importlib.import_module("agents.sac.learner")
        learner: AgentLearner = module.SACLearner(self.config, self.spaces, device, seed)
        return learner


__all__ = ["SACAgent"]
