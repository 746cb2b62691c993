"""The edge service's settings and their ``key=value`` command line."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, fields
from typing import Any

from robot_edge.task import MAX_HISTORY


class EdgeConfigError(ValueError):
    """An edge setting that cannot work (the message names the setting)."""


@dataclass
class EdgeConfig:
    """Settings of the edge service (every field is a ``key=value`` CLI argument)."""

    # ZeroMQ endpoint to bind; port 0 or * picks a free port (see EdgeServer.endpoint).
    bind: str = "tcp://127.0.0.1:5555"
    # sim | gopigo3
    backend: str = "sim"
    # Motors stop when no valid motion command arrived within this many milliseconds.
    watchdog_ms: int = 300
    # Commands older than this (after the clock offset measured at HELLO) are refused,
    # and so are commands stamped more than this far ahead of that offset.
    max_command_age_ms: int = 250
    # Step length when a STEP/ACT asks for 0 ms; longer requests are cut to max_step_ms.
    default_step_ms: float = 100.0
    max_step_ms: float = 250.0
    # Wheel speed limit in degrees per second (the GoPiGo3's motors top out near 1000).
    max_dps: float = 1000.0
    # CURVE key home (self.key_secret + peers/ allow-list). Without it the service speaks
    # plain text, which it accepts only on a loopback bind and, for backend=gopigo3, only
    # with insecure=true.
    keys_dir: str | None = None
    # Plain text for the real backend on loopback (tests on the Pi itself).
    insecure: bool = False
    # Task whose observation/reward the on-board policy uses (robot_edge.task).
    task: str = "forward"
    # Readings the task's observation remembers (3 values each): the host env's
    # task_params history must match, or the on-board loop refuses its networks.
    history: int = 1
    # Simulator: arena layout seed and number of box obstacles.
    arena_seed: int = 0
    n_obstacles: int = 4
    # Stop the motors when a bump is detected.
    stop_on_bump: bool = True
    # Clients (sessions) remembered at once; the oldest is forgotten first.
    max_sessions: int = 8
    # Log level of the service.
    log_level: str = "INFO"

    def check(self) -> None:
        """Raise EdgeConfigError naming the first setting that cannot work."""
        if self.watchdog_ms <= 0 or self.max_command_age_ms <= 0:
            raise EdgeConfigError(
                f"watchdog_ms={self.watchdog_ms} and max_command_age_ms="
                f"{self.max_command_age_ms} must be positive"
            )
        if not 1 <= self.history <= MAX_HISTORY:
            raise EdgeConfigError(f"history={self.history} must be 1..{MAX_HISTORY} readings")
        if self.max_sessions < 1:
            raise EdgeConfigError(f"max_sessions={self.max_sessions} must be at least 1")


def _bool(text: str) -> bool:
    low = str(text).strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def parse_args(argv: list[str] | None = None) -> EdgeConfig:
    """Parse ``key=value`` (or ``--key value``) arguments into an EdgeConfig."""
    defaults = EdgeConfig()
    parser = argparse.ArgumentParser(
        prog="python -m robot_edge.server",
        description="fsrl robot edge service. Arguments as key=value or --key=value.",
    )
    for f in fields(EdgeConfig):
        value = getattr(defaults, f.name)
        if isinstance(value, bool):
            kind: Any = _bool
        elif isinstance(value, int):
            kind = int
        elif isinstance(value, float):
            kind = float
        else:
            kind = str
        parser.add_argument(f"--{f.name}", type=kind, default=value, help=f"(default: {value})")
    raw = list(sys.argv[1:] if argv is None else argv)
    normalized = ["--" + tok if not tok.startswith("-") and "=" in tok else tok for tok in raw]
    ns = parser.parse_args(normalized)
    return EdgeConfig(**vars(ns))
