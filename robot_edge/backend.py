"""The motor/sensor backend interface (``robot_edge.backends`` picks one by name).

A backend is the only thing that touches motors. The server clamps speeds before
calling it, and the watchdog calls :meth:`Backend.stop` from its own thread, so
every backend must be safe to call from two threads.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from robot_edge.protocol import SensorReading


class BackendError(RuntimeError):
    """A backend could not be created or failed while driving the robot."""


@dataclass(frozen=True)
class RobotGeometry:
    """Wheel geometry and limits of a GoPiGo3 (defaults are the GoPiGo3's own constants)."""

    wheel_diameter_mm: float = 66.5
    wheel_base_mm: float = 117.0
    max_dps: float = 1000.0
    distance_max_mm: float = 2300.0
    body_radius_mm: float = 100.0


class Backend(abc.ABC):
    """Drive, turn, wheel speeds, distance sensor, servo, encoders, battery — one robot.

    Promises: ``stop()`` is idempotent and safe from any thread; ``set_wheel_dps``
    receives speeds the server already clamped to ``geometry.max_dps``;
    ``read()`` latches ``bumped`` until it is read once.
    """

    name = "abstract"

    def __init__(self, geometry: RobotGeometry) -> None:
        self.geometry = geometry

    @abc.abstractmethod
    def set_wheel_dps(self, left_dps: float, right_dps: float) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @abc.abstractmethod
    def motors_running(self) -> bool: ...

    @abc.abstractmethod
    def advance(self, duration_ms: float) -> float:
        """Let the current command act for ``duration_ms``; return the elapsed ms."""

    @abc.abstractmethod
    def read(self) -> SensorReading: ...

    @abc.abstractmethod
    def reset(self, seed: int | None) -> None:
        """Stop, zero the encoders and (sim) place the robot anew."""

    @abc.abstractmethod
    def set_servo(self, degrees: float) -> None: ...

    @abc.abstractmethod
    def battery_v(self) -> float: ...

    def drive_cm(self, distance_cm: float, dps: float = 300.0) -> None:
        """Drive straight ``distance_cm`` (negative: backwards) and stop."""
        circumference_cm = 3.141592653589793 * self.geometry.wheel_diameter_mm / 10.0
        wheel_deg = abs(distance_cm) / circumference_cm * 360.0
        speed = min(abs(dps), self.geometry.max_dps) * (1 if distance_cm >= 0 else -1)
        self.set_wheel_dps(speed, speed)
        self.advance(wheel_deg / abs(speed) * 1000.0 if speed else 0.0)
        self.stop()

    def turn_degrees(self, degrees: float, dps: float = 200.0) -> None:
        """Turn in place by ``degrees`` (positive: clockwise, as easygopigo3 does) and stop."""
        arc_mm = abs(degrees) / 360.0 * 3.141592653589793 * self.geometry.wheel_base_mm
        wheel_deg = arc_mm / (3.141592653589793 * self.geometry.wheel_diameter_mm) * 360.0
        speed = min(abs(dps), self.geometry.max_dps)
        sign = 1 if degrees >= 0 else -1
        self.set_wheel_dps(sign * speed, -sign * speed)
        self.advance(wheel_deg / speed * 1000.0 if speed else 0.0)
        self.stop()

    def close(self) -> None:
        self.stop()
