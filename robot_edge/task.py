"""Tasks: how sensor readings become observations and rewards, shared by host and Pi.

The host's Gymnasium env and the Pi's on-board policy loop use the same task
object, so an episode means the same thing on both sides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot_edge.protocol import SensorReading

ACTIONS = ("forward", "left", "right", "stop")
MAX_HISTORY = 64  # readings an observation can remember


@dataclass
class ForwardTask:
    """Drive forward as far as possible without bumping.

    Observation (float32, 3 x ``history``): distance sensor / its range, left and
    right wheel speed / ``max_dps`` (the speeds now commanded), for the last
    ``history`` readings, oldest first; an episode's first observation repeats its
    first reading (:meth:`observe` keeps the window; host and robot call it alike,
    so the robot computes what the host trained on). With ``history`` >= 2 the
    change of the distance reading shows the angle to a wall, which one reading
    cannot. Actions: 0 forward, 1 turn
    left in place, 2 turn right in place, 3 stop. Reward per step:
    ``progress_reward_per_m`` x the forward distance the wheels travelled (from
    the encoders) ``- step_penalty``; a bump costs ``bump_penalty`` and ends the
    episode (``terminated``) when ``terminate_on_bump``. Safety shaping: while the
    new distance reading is below ``near_threshold`` of the sensor's range, a step
    also costs ``near_penalty`` x how far below, as a fraction of the threshold (0
    at the threshold, the whole ``near_penalty`` at a reading of 0); the defaults
    (0, 0) leave the reward as it was.
    """

    forward_dps: float = 360.0
    turn_dps: float = 180.0
    max_dps: float = 1000.0
    distance_max_mm: float = 2300.0
    wheel_diameter_mm: float = 66.5
    progress_reward_per_m: float = 10.0
    bump_penalty: float = 5.0
    step_penalty: float = 0.0
    terminate_on_bump: bool = True
    history: int = 1
    near_threshold: float = 0.0
    near_penalty: float = 0.0

    name = "forward"
    reading_dim = 3
    n_actions = len(ACTIONS)

    def __post_init__(self) -> None:
        if isinstance(self.history, bool) or int(self.history) != self.history:
            raise ValueError(f"history={self.history!r} must be a whole number of readings")
        self.history = int(self.history)
        if not 1 <= self.history <= MAX_HISTORY:
            raise ValueError(f"history={self.history} must be 1..{MAX_HISTORY} readings")
        self.near_threshold = _number("near_threshold", self.near_threshold)
        self.near_penalty = _number("near_penalty", self.near_penalty)
        if not 0.0 <= self.near_threshold < 1.0:
            raise ValueError(
                f"near_threshold={self.near_threshold} must be a fraction of the sensor's "
                "range in [0, 1)"
            )
        if self.near_penalty < 0.0:
            raise ValueError(f"near_penalty={self.near_penalty} must be >= 0 (a cost per step)")
        if self.near_penalty > 0.0 and self.near_threshold == 0.0:
            raise ValueError(
                f"near_penalty={self.near_penalty} needs near_threshold > 0 (the reading "
                "below which a step costs it)"
            )

    @property
    def obs_dim(self) -> int:
        """Observation length: :attr:`reading_dim` values per remembered reading."""
        return self.reading_dim * self.history

    def observation_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) of :meth:`observe`'s values, for a Box space."""
        low = np.tile(np.array([0.0, -1.0, -1.0], dtype=np.float32), self.history)
        return low, np.ones(self.obs_dim, dtype=np.float32)

    def wheels(self, action: int) -> tuple[float, float]:
        """Left and right wheel DPS for a discrete action."""
        a = int(action)
        if a == 0:
            return self.forward_dps, self.forward_dps
        if a == 1:
            return -self.turn_dps, self.turn_dps
        if a == 2:
            return self.turn_dps, -self.turn_dps
        if a == 3:
            return 0.0, 0.0
        raise ValueError(f"action {action!r} is not one of 0..{len(ACTIONS) - 1} {ACTIONS}")

    def observation(self, reading: SensorReading) -> np.ndarray:
        return np.array(
            [
                min(reading.distance_mm / self.distance_max_mm, 1.0),
                reading.left_dps / self.max_dps,
                reading.right_dps / self.max_dps,
            ],
            dtype=np.float32,
        )

    def observe(self, reading: SensorReading, previous: np.ndarray | None) -> np.ndarray:
        """The observation after ``reading``; ``previous`` is the last one this episode
        returned (None on its first reading, which then fills the whole window)."""
        now = self.observation(reading)
        if self.history == 1:
            return now
        if previous is None:
            return np.tile(now, self.history)
        if previous.shape != (self.obs_dim,):
            raise ValueError(
                f"previous observation has shape {previous.shape}, the task's is ({self.obs_dim},)"
            )
        return np.concatenate([previous[self.reading_dim :], now]).astype(np.float32, copy=False)

    def forward_m(self, prev: SensorReading, reading: SensorReading) -> float:
        d_left = reading.left_encoder_deg - prev.left_encoder_deg
        d_right = reading.right_encoder_deg - prev.right_encoder_deg
        return 0.5 * (d_left + d_right) / 360.0 * math.pi * self.wheel_diameter_mm / 1000.0

    def nearness(self, reading: SensorReading) -> float:
        """How far the distance reading is below ``near_threshold``, as a fraction of it:
        0 at or above the threshold, 1 at a reading of 0 (0 when the threshold is 0)."""
        if self.near_threshold <= 0.0:
            return 0.0
        d = min(max(reading.distance_mm / self.distance_max_mm, 0.0), 1.0)
        return max(0.0, self.near_threshold - d) / self.near_threshold

    def reward(self, prev: SensorReading, reading: SensorReading) -> tuple[float, bool, float]:
        """(reward, terminated, forward metres) for the step from ``prev`` to ``reading``."""
        progress_m = self.forward_m(prev, reading)
        reward = self.progress_reward_per_m * progress_m - self.step_penalty
        if self.near_penalty > 0.0:
            reward -= self.near_penalty * self.nearness(reading)
        if reading.bumped:
            reward -= self.bump_penalty
        return float(reward), bool(reading.bumped and self.terminate_on_bump), progress_m


def _number(name: str, value: Any) -> float:
    """``value`` as a finite float, or a ValueError naming the parameter."""
    if isinstance(value, bool):
        raise ValueError(f"{name}={value!r} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} must be a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{name}={value!r} must be finite")
    return number


TASKS: dict[str, type[ForwardTask]] = {"forward": ForwardTask}


def make_task(name: str, **params: Any) -> ForwardTask:
    """The task ``name`` with its reward/action parameters (unknown names raise ValueError)."""
    if name not in TASKS:
        raise ValueError(f"unknown robot task {name!r}: choose one of {sorted(TASKS)}")
    cls = TASKS[name]
    unknown = set(params) - set(cls.__dataclass_fields__)
    if unknown:
        raise ValueError(f"task {name!r} has no parameter(s) {sorted(unknown)}")
    return cls(**params)
