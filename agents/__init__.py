"""Agents: the contract every algorithm meets (:mod:`agents.core`) and the built-ins.

Layer: above ``envs``, ``robot_edge`` and ``replay``; below ``actors`` and ``learner``
(both use agents; agents import neither).
"""

from agents.core import ActorPolicy, ActorSlot, Agent, AgentError, AgentLearner
from agents.registry import resolve_agent

__all__ = ["ActorPolicy", "ActorSlot", "Agent", "AgentError", "AgentLearner", "resolve_agent"]
