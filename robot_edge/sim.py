"""A seeded 2-D kinematic simulator of a GoPiGo3 in a walled arena with box obstacles.

Differential drive with the GoPiGo3's wheel geometry, encoders in whole wheel
degrees, a distance sensor ray-cast over the sensor's ~25 degree cone, and bump
detection (the body circle touching a wall or an obstacle). Simulated time
advances only in :meth:`SimBackend.advance`, so the simulator runs faster than
real time; the watchdog still works on wall-clock time.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from robot_edge.backend import Backend, RobotGeometry
from robot_edge.protocol import SensorReading

_SUBSTEP_MS = 10.0
_CONE_HALF_RAD = math.radians(12.5)
_N_RAYS = 5


class Arena:
    """A rectangle of walls (``width_m`` x ``height_m``) with axis-aligned box obstacles."""

    def __init__(self, width_m: float, height_m: float, boxes: np.ndarray) -> None:
        self.width_m = width_m
        self.height_m = height_m
        self.boxes = boxes.reshape(-1, 4).astype(np.float64)  # xmin, ymin, xmax, ymax

    @classmethod
    def random(
        cls, seed: int, width_m: float = 2.5, height_m: float = 2.5, n_obstacles: int = 4
    ) -> Arena:
        rng = np.random.default_rng(seed)
        boxes: list[list[float]] = []
        for _ in range(n_obstacles):
            w, h = rng.uniform(0.15, 0.4, size=2)
            x = rng.uniform(0.3, width_m - 0.3 - w)
            y = rng.uniform(0.3, height_m - 0.3 - h)
            boxes.append([x, y, x + w, y + h])
        return cls(width_m, height_m, np.asarray(boxes, dtype=np.float64))

    def collides(self, x: float, y: float, radius: float) -> bool:
        if x < radius or y < radius or x > self.width_m - radius or y > self.height_m - radius:
            return True
        if not len(self.boxes):
            return False
        b = self.boxes
        cx = np.clip(x, b[:, 0], b[:, 2])
        cy = np.clip(y, b[:, 1], b[:, 3])
        return bool(np.any((cx - x) ** 2 + (cy - y) ** 2 < radius * radius))

    def raycast(self, x: float, y: float, angles: np.ndarray, max_m: float) -> np.ndarray:
        """Distance along each ray to the first wall or box (``max_m`` if none nearer)."""
        dx = np.cos(angles)
        dy = np.sin(angles)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv_dx = np.where(np.abs(dx) > 1e-12, 1.0 / dx, np.inf)
            inv_dy = np.where(np.abs(dy) > 1e-12, 1.0 / dy, np.inf)
            # walls: the ray leaves the rectangle where it crosses x=0/W or y=0/H
            tx = np.where(dx > 0, (self.width_m - x) * inv_dx, (0.0 - x) * inv_dx)
            ty = np.where(dy > 0, (self.height_m - y) * inv_dy, (0.0 - y) * inv_dy)
            tx = np.where(np.isfinite(tx), tx, np.inf)
            ty = np.where(np.isfinite(ty), ty, np.inf)
            dist = np.minimum(tx, ty)
            if len(self.boxes):
                b = self.boxes[None, :, :]
                t1 = (b[..., 0] - x) * inv_dx[:, None]
                t2 = (b[..., 2] - x) * inv_dx[:, None]
                t3 = (b[..., 1] - y) * inv_dy[:, None]
                t4 = (b[..., 3] - y) * inv_dy[:, None]
                t1, t2, t3, t4 = (np.nan_to_num(t, nan=-np.inf) for t in (t1, t2, t3, t4))
                tmin = np.maximum(np.minimum(t1, t2), np.minimum(t3, t4))
                tmax = np.minimum(np.maximum(t1, t2), np.maximum(t3, t4))
                hit = (tmax >= np.maximum(tmin, 0.0)) & (tmax > 0)
                t_hit = np.where(tmin > 0, tmin, 0.0)
                t_hit = np.where(hit, t_hit, np.inf)
                dist = np.minimum(dist, t_hit.min(axis=1))
        return np.minimum(np.maximum(dist, 0.0), max_m)


class SimBackend(Backend):
    """The simulated GoPiGo3. Deterministic for a given ``arena_seed`` and reset seed.

    Promises: wheel speeds integrate into pose and encoder degrees; a move that
    would make the body overlap a wall or box is not taken and latches ``bumped``
    (the wheels stall, as on the real robot); ``distance_mm`` is the nearest hit
    within the sensor cone plus seeded Gaussian noise of ``distance_noise_mm``.
    """

    name = "sim"

    def __init__(
        self,
        arena_seed: int = 0,
        width_m: float = 2.5,
        height_m: float = 2.5,
        n_obstacles: int = 4,
        distance_noise_mm: float = 3.0,
        geometry: RobotGeometry | None = None,
    ) -> None:
        super().__init__(geometry or RobotGeometry())
        self.arena = Arena.random(
            int(arena_seed), float(width_m), float(height_m), int(n_obstacles)
        )
        self.distance_noise_mm = float(distance_noise_mm)
        self._lock = threading.RLock()
        self._rng = np.random.default_rng(int(arena_seed) + 1)
        self._radius_m = self.geometry.body_radius_mm / 1000.0
        self._left_dps = 0.0
        self._right_dps = 0.0
        self._enc = [0.0, 0.0]
        self._time_ns = 0
        self._bumped = False
        self._servo_deg = 0.0
        self._elapsed_ms = 0.0
        self._steps = 0
        self.x, self.y, self.theta = self._free_pose()

    # -- pose ---------------------------------------------------------------------------
    def _free_pose(self) -> tuple[float, float, float]:
        for _ in range(1000):
            x = float(self._rng.uniform(0, self.arena.width_m))
            y = float(self._rng.uniform(0, self.arena.height_m))
            if not self.arena.collides(x, y, self._radius_m * 1.6):
                return x, y, float(self._rng.uniform(-math.pi, math.pi))
        raise RuntimeError("the arena has no free space for the robot")

    def pose(self) -> tuple[float, float, float]:
        with self._lock:
            return self.x, self.y, self.theta

    # -- Backend ------------------------------------------------------------------------
    def set_wheel_dps(self, left_dps: float, right_dps: float) -> None:
        with self._lock:
            self._left_dps = float(left_dps)
            self._right_dps = float(right_dps)

    def stop(self) -> None:
        with self._lock:
            self._left_dps = 0.0
            self._right_dps = 0.0

    def motors_running(self) -> bool:
        with self._lock:
            return self._left_dps != 0.0 or self._right_dps != 0.0

    def advance(self, duration_ms: float) -> float:
        with self._lock:
            mm_per_deg = math.pi * self.geometry.wheel_diameter_mm / 360.0
            base_m = self.geometry.wheel_base_mm / 1000.0
            remaining = max(0.0, float(duration_ms))
            while remaining > 1e-9:
                dt_ms = min(_SUBSTEP_MS, remaining)
                remaining -= dt_ms
                dt = dt_ms / 1000.0
                dl = self._left_dps * dt
                dr = self._right_dps * dt
                vl = dl * mm_per_deg / 1000.0
                vr = dr * mm_per_deg / 1000.0
                ds = 0.5 * (vl + vr)
                dth = (vr - vl) / base_m
                mid = self.theta + 0.5 * dth
                nx = self.x + ds * math.cos(mid)
                ny = self.y + ds * math.sin(mid)
                if ds != 0.0 and self.arena.collides(nx, ny, self._radius_m):
                    self._bumped = True  # blocked: pose and encoders stay (the wheels stall)
                else:
                    self.x, self.y = nx, ny
                    self.theta = (self.theta + dth + math.pi) % (2 * math.pi) - math.pi
                    self._enc[0] += dl
                    self._enc[1] += dr
                self._time_ns += int(dt_ms * 1e6)
            self._elapsed_ms = float(duration_ms)
            self._steps += 1
            return self._elapsed_ms

    def distance_mm(self) -> float:
        with self._lock:
            heading = self.theta + math.radians(self._servo_deg)
            angles = heading + np.linspace(-_CONE_HALF_RAD, _CONE_HALF_RAD, _N_RAYS)
            fx = self.x + self._radius_m * 0.8 * math.cos(self.theta)
            fy = self.y + self._radius_m * 0.8 * math.sin(self.theta)
            max_m = self.geometry.distance_max_mm / 1000.0
            d_mm = float(self.arena.raycast(fx, fy, angles, max_m).min()) * 1000.0
            if self.distance_noise_mm > 0:
                d_mm += float(self._rng.normal(0.0, self.distance_noise_mm))
            return float(min(max(d_mm, 0.0), self.geometry.distance_max_mm))

    def read(self) -> SensorReading:
        with self._lock:
            reading = SensorReading(
                robot_time_ns=self._time_ns,
                left_encoder_deg=int(round(self._enc[0])),
                right_encoder_deg=int(round(self._enc[1])),
                left_dps=self._left_dps,
                right_dps=self._right_dps,
                distance_mm=self.distance_mm(),
                servo_deg=self._servo_deg,
                battery_v=self.battery_v(),
                elapsed_ms=self._elapsed_ms,
                bumped=self._bumped,
                motors_running=self.motors_running(),
                step_index=self._steps,
            )
            self._bumped = False
            return reading

    def reset(self, seed: int | None) -> None:
        with self._lock:
            if seed is not None:
                self._rng = np.random.default_rng(int(seed))
            self.stop()
            self._enc = [0.0, 0.0]
            self._bumped = False
            self._elapsed_ms = 0.0
            self._time_ns = 0  # simulated time restarts with each episode
            self._steps = 0
            self.x, self.y, self.theta = self._free_pose()

    def set_servo(self, degrees: float) -> None:
        with self._lock:
            self._servo_deg = float(min(max(degrees, -90.0), 90.0))

    def battery_v(self) -> float:
        return 9.6
