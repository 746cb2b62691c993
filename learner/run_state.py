"""What a run tracks while it trains: counters, recent returns, the timeline, budgets."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunState:
    """What the driver tracks between metric dumps (one per run)."""

    start_s: float = field(default_factory=time.monotonic)
    start_unix_s: float = field(default_factory=time.time)
    # seconds from start_s at which each start-up/shutdown phase ended (the run's timeline)
    timeline_s: dict[str, float] = field(default_factory=dict)
    env_steps: int = 0
    env_steps_base: int = 0  # from a resumed checkpoint
    episodes: int = 0
    last_episode_id: str = "0-0"
    recent_returns: list[float] = field(default_factory=list)
    per_version: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    stop_reason: str = ""
    last_eval_mean: float = float("nan")
    evals: list[dict[str, float]] = field(default_factory=list)
    actors_dead: int = 0
    run_errors: int = 0
    restarts: int = 0

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.start_s

    def mark(self, phase: str) -> None:
        """Record the end of ``phase`` on the timeline (the first time only)."""
        self.timeline_s.setdefault(phase, round(self.elapsed_s, 3))

    def add_episode(self, version: int, ret: float) -> None:
        self.episodes += 1
        self.recent_returns.append(ret)
        self.per_version[version].append(ret)


def budget_fraction(budget: Any, st: RunState, updates: int) -> tuple[float, str]:
    """How far the run is towards its nearest budget (0..1) and a label saying which."""
    parts = []
    if budget.env_steps:
        parts.append(
            (st.env_steps / budget.env_steps, f"{st.env_steps:,}/{budget.env_steps:,} env steps")
        )
    if budget.learner_updates:
        parts.append(
            (updates / budget.learner_updates, f"{updates:,}/{budget.learner_updates:,} updates")
        )
    if budget.wall_time_s:
        parts.append(
            (st.elapsed_s / budget.wall_time_s, f"{st.elapsed_s:.0f}/{budget.wall_time_s:.0f} s")
        )
    return max(parts, key=lambda p: p[0]) if parts else (0.0, "")


def budget_reached(budget: Any, st: RunState, updates: int) -> str:
    """Why the run should stop now ("" while no budget is reached)."""
    if budget.env_steps and st.env_steps >= budget.env_steps:
        return f"env step budget reached ({st.env_steps:,} >= {budget.env_steps:,})"
    if budget.learner_updates and updates >= budget.learner_updates:
        return f"learner update budget reached ({updates:,})"
    if budget.wall_time_s and st.elapsed_s >= budget.wall_time_s:
        return f"wall time budget reached ({st.elapsed_s:.0f} s)"
    return ""


__all__ = ["RunState", "budget_fraction", "budget_reached"]
