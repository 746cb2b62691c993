"""Backends by name: ``sim`` (the simulator) or ``gopigo3`` (the real robot's driver).

The GoPiGo3's own driver (``easygopigo3``) is imported only when ``gopigo3`` is built,
so the simulator runs on any machine.
"""

from __future__ import annotations

from typing import Any

from robot_edge.backend import Backend, BackendError
from robot_edge.gopigo3_backend import GoPiGo3Backend
from robot_edge.sim import SimBackend

BACKENDS: dict[str, type[Backend]] = {"sim": SimBackend, "gopigo3": GoPiGo3Backend}


def make_backend(name: str, options: dict[str, Any] | None = None) -> Backend:
    """Create the backend ``name`` with ``options``; BackendError names an unknown one."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}: choose one of {sorted(BACKENDS)}")
    return BACKENDS[name](**dict(options or {}))
