"""The real GoPiGo3 through Dexter Industries' ``easygopigo3`` / ``gopigo3`` Python API.

Imported only when ``backend=gopigo3`` is selected. The GoPiGo3 has no bump
switch, so a bump is reported when the distance sensor reads closer than
``bump_distance_mm`` or a wheel commanded to turn did not move (stall).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from robot_edge.backend import Backend, BackendError, RobotGeometry
from robot_edge.protocol import SensorReading


def _import_easygopigo3() -> Any:
    try:
        import easygopigo3  # type: ignore[import-not-found]
    except ImportError as exc:  # pragma: no cover - depends on the Pi's packages
        raise BackendError(
            "backend=gopigo3 needs the GoPiGo3 Python API (module 'easygopigo3'), which is not "
            "installed: install it on the Pi (see docs/robot.md) or run backend=sim"
        ) from exc
    return easygopigo3


class GoPiGo3Backend(Backend):
    """Drives a physical GoPiGo3: wheel DPS, encoders, distance sensor, servo, battery.

    Promises: ``stop()`` sets both motors to 0 DPS and never raises (a failing SPI
    write is logged by the caller, the next stop retries); speeds reaching this
    class are already clamped by the server.
    """

    name = "gopigo3"

    def __init__(
        self,
        distance_port: str = "I2C",
        servo_port: str = "SERVO1",
        bump_distance_mm: float = 60.0,
        stall_min_deg: int = 1,
        geometry: RobotGeometry | None = None,
    ) -> None:
        egpg = _import_easygopigo3()
        try:
            self._gpg = egpg.EasyGoPiGo3()
        except Exception as exc:  # pragma: no cover - hardware
            raise BackendError(f"could not open the GoPiGo3 board: {exc}") from exc
        geo = geometry or RobotGeometry(
            wheel_diameter_mm=float(getattr(self._gpg, "WHEEL_DIAMETER", 66.5)),
            wheel_base_mm=float(getattr(self._gpg, "WHEEL_BASE_WIDTH", 117.0)),
        )
        super().__init__(geo)
        self._lock = threading.RLock()
        self._distance = self._gpg.init_distance_sensor(distance_port) if distance_port else None
        self._servo = self._gpg.init_servo(servo_port) if servo_port else None
        self._bump_distance_mm = float(bump_distance_mm)
        self._stall_min_deg = int(stall_min_deg)
        self._left_dps = 0.0
        self._right_dps = 0.0
        self._servo_deg = 0.0
        self._elapsed_ms = 0.0
        self._steps = 0
        self._enc_at_command = self._encoders()
        self._t0 = time.monotonic_ns()

    def _encoders(self) -> tuple:
        g = self._gpg
        return (int(g.get_motor_encoder(g.MOTOR_LEFT)), int(g.get_motor_encoder(g.MOTOR_RIGHT)))

    def set_wheel_dps(self, left_dps: float, right_dps: float) -> None:
        with self._lock:
            g = self._gpg
            g.set_motor_dps(g.MOTOR_LEFT, float(left_dps))
            g.set_motor_dps(g.MOTOR_RIGHT, float(right_dps))
            self._left_dps, self._right_dps = float(left_dps), float(right_dps)
            self._enc_at_command = self._encoders()

    def stop(self) -> None:
        with self._lock:
            self._left_dps = self._right_dps = 0.0
            g = self._gpg
            g.set_motor_dps(g.MOTOR_LEFT + g.MOTOR_RIGHT, 0)
            g.stop()

    def motors_running(self) -> bool:
        with self._lock:
            return self._left_dps != 0.0 or self._right_dps != 0.0

    def advance(self, duration_ms: float) -> float:
        t0 = time.monotonic()
        time.sleep(max(0.0, duration_ms) / 1000.0)
        self._elapsed_ms = (time.monotonic() - t0) * 1000.0
        self._steps += 1
        return self._elapsed_ms

    def read(self) -> SensorReading:
        with self._lock:
            left, right = self._encoders()
            dist = float(self._distance.read_mm()) if self._distance is not None else 0.0
            dist = min(dist, self.geometry.distance_max_mm)
            moved = (abs(left - self._enc_at_command[0]), abs(right - self._enc_at_command[1]))
            stalled = self._elapsed_ms >= 100.0 and (
                (self._left_dps != 0.0 and moved[0] < self._stall_min_deg)
                or (self._right_dps != 0.0 and moved[1] < self._stall_min_deg)
            )
            bumped = (self._distance is not None and dist < self._bump_distance_mm) or stalled
            return SensorReading(
                robot_time_ns=time.monotonic_ns() - self._t0,
                left_encoder_deg=left,
                right_encoder_deg=right,
                left_dps=self._left_dps,
                right_dps=self._right_dps,
                distance_mm=dist,
                servo_deg=self._servo_deg,
                battery_v=self.battery_v(),
                elapsed_ms=self._elapsed_ms,
                bumped=bool(bumped),
                motors_running=self.motors_running(),
                step_index=self._steps,
            )

    def reset(self, seed: int | None) -> None:
        with self._lock:
            self.stop()
            self._gpg.reset_encoders()
            self._enc_at_command = self._encoders()
            self._elapsed_ms = 0.0
            self._steps = 0

    def set_servo(self, degrees: float) -> None:
        with self._lock:
            if self._servo is None:
                raise BackendError("no servo configured (servo_port is empty)")
            self._servo_deg = float(min(max(degrees, -90.0), 90.0))
            self._servo.rotate_servo(90.0 + self._servo_deg)

    def battery_v(self) -> float:
        return float(self._gpg.volt())

    def drive_cm(self, distance_cm: float, dps: float = 300.0) -> None:
        with self._lock:
            self._gpg.set_speed(min(abs(dps), self.geometry.max_dps))
            self._gpg.drive_cm(distance_cm, True)

    def turn_degrees(self, degrees: float, dps: float = 200.0) -> None:
        with self._lock:
            self._gpg.set_speed(min(abs(dps), self.geometry.max_dps))
            self._gpg.turn_degrees(degrees, True)
