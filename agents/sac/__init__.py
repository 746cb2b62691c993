"""Soft Actor-Critic (continuous Box actions) on the agent contract.

Pieces: :mod:`agents.sac.config` (the typed ``algo`` section), :mod:`agents.sac.spec`
(space checks and the actor's export format, numpy only), :mod:`agents.sac.policy` (the
acting half: numpy only, no torch), :mod:`agents.sac.networks` and
:mod:`agents.sac.learner` (torch; imported only by the learning half),
:mod:`agents.sac.agent` (the builder ``algo.name=sac`` resolves to).
"""

from agents.sac.agent import SACAgent
from conf.schema import SACConfig

__all__ = ["SACAgent", "SACConfig"]
