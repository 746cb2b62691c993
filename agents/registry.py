"""Find an agent by name: a built-in (``dqn``, ``sac``) or ``package.module:Name``.

Promises: :func:`resolve_agent` returns an :class:`~agents.core.Agent` subclass or
raises :class:`~agents.core.AgentError` naming what it could not find; user modules
are imported from the Python path, as env ids with a ``module:`` prefix are.
"""

from __future__ import annotations

import importlib
import re

from agents.core import Agent, AgentError

#: Built-in agents, by ``algo.name``: the module path and class name (imported lazily,
#: so an actor running DQN never imports the SAC code and its torch modules).
BUILTIN_AGENTS: dict[str, str] = {
    "dqn": "agents.dqn.agent:DQNAgent",
    "sac": "agents.sac.agent:SACAgent",
}

_SPEC_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def load_object(spec: str, what: str) -> object:
    """Import ``package.module:Name`` and return ``Name``; ValueError naming ``spec``."""
    if not _SPEC_RE.match(spec):
        raise AgentError(f"{what}={spec!r} is not a built-in name nor 'package.module:Name'")
    module_name, attr = spec.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AgentError(f"{what}={spec!r}: cannot import {module_name!r} ({exc})") from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise AgentError(f"{what}={spec!r}: module {module_name!r} has no {attr!r}") from exc


def resolve_agent(name: str) -> type[Agent]:
    """The :class:`Agent` subclass that ``algo.name`` names."""
    spec = BUILTIN_AGENTS.get(name, name)
    if ":" not in spec:
        raise AgentError(
            f"algo.name={name!r} is unknown: built-ins are {sorted(BUILTIN_AGENTS)}, "
            "or give your own as 'package.module:ClassName'"
        )
    obj = load_object(spec, "algo.name")
    if not (isinstance(obj, type) and issubclass(obj, Agent)):
        raise AgentError(f"algo.name={name!r} is {obj!r}, not a subclass of agents.core.Agent")
    return obj


__all__ = ["BUILTIN_AGENTS", "load_object", "resolve_agent"]
