"""The SAC builder that ``algo.name=sac`` resolves to (importing it never imports torch)."""

from __future__ import annotations

import importlib
import json
from typing import Any

import gymnasium as gym

import conf
from agents.core import ActorSlot, Agent, AgentError, AgentLearner, Metadata
from agents.sac.policy import SACActorPolicy
from agents.sac.spec import SACSpaces
from conf.schema import SACConfig
from conf.sections import ModelConfig


def _as_config(algo: Any) -> SACConfig:
    """``algo`` as a checked :class:`SACConfig` (AgentError naming the bad field)."""
    try:
        cfg = conf.as_section(SACConfig, algo)
    except ValueError as exc:
        raise AgentError(f"algo (sac): {exc}") from exc
    bad = {
        "tau": not 0.0 < cfg.tau <= 1.0,
        "policy_lr": not cfg.policy_lr > 0,
        "q_lr": not cfg.q_lr > 0,
        "alpha_lr": not cfg.alpha_lr > 0,
        "alpha_init": not cfg.alpha_init > 0,
        "policy_frequency": not cfg.policy_frequency >= 1,
        "target_network_frequency": not cfg.target_network_frequency >= 1,
        "hidden_sizes": not (len(cfg.hidden_sizes) >= 1 and all(h >= 1 for h in cfg.hidden_sizes)),
        "log_std_max": not cfg.log_std_min < cfg.log_std_max,
        "random_warmup_steps": not cfg.random_warmup_steps >= 0,
        "td_priority_offset": not cfg.td_priority_offset > 0,
    }
    named = [f"algo.{k}={getattr(cfg, k)!r}" for k, is_bad in bad.items() if is_bad]
    if named:
        raise AgentError(f"algo (sac): invalid {', '.join(named)}")
    return cfg


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

    @classmethod
    def for_export(
        cls, metadata: Metadata, observation_space: gym.Space, action_space: gym.Space
    ) -> SACAgent:
        """The default ``algo`` section with the actor's sizes and log-std range the export
        states (``hidden_sizes``, ``log_std_min``, ``log_std_max``)."""
        fields: dict[str, Any] = {}
        try:
            for key in ("hidden_sizes", "log_std_min", "log_std_max"):
                if key in metadata:
                    fields[key] = json.loads(metadata[key])
        except ValueError as exc:
            raise AgentError(f"SAC export metadata {key}={metadata[key]!r}: {exc}") from exc
        return cls(SACConfig(**fields), ModelConfig(), observation_space, action_space)

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
