"""The only path to the motors: clamped speeds, stops from any thread, the deadman watchdog."""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, field

from robot_edge import protocol as P
from robot_edge.backend import Backend

logger = logging.getLogger(__name__)


@dataclass
class EdgeCounters:
    """What the edge counts; STATUS reports these."""

    commands_executed: int = 0
    errors: int = 0
    watchdog_stops: int = 0
    internal_errors: int = 0
    clamped: int = 0
    last_stop_reason: int = 0
    watchdog_latencies_ms: collections.deque = field(
        default_factory=lambda: collections.deque(maxlen=1024)
    )


class MotorGuard:
    """Wraps a backend so that every speed is clamped and every stop is recorded.

    Promises: :meth:`stop` is safe from any thread and never raises (a failing
    ``backend.stop()`` is logged and tried again at the next stop); :meth:`drive`
    clamps both wheels to ``±max_dps`` and refuses non-finite values (MALFORMED);
    while the watchdog runs, the motors stop within about ``watchdog_ms`` (+ one poll
    period) after the last :meth:`touch`.
    """

    def __init__(
        self, backend: Backend, max_dps: float, watchdog_ms: int, stop_on_bump: bool
    ) -> None:
        self.backend = backend
        self.max_dps = float(max_dps)
        self.watchdog_ms = int(watchdog_ms)
        self.stop_on_bump = bool(stop_on_bump)
        self.counters = EdgeCounters()
        self.lock = threading.RLock()
        self._last_cmd = time.monotonic()

    def stop(self, reason: int) -> None:
        """Stop the motors now and remember why."""
        with self.lock:
            try:
                self.backend.stop()
            except Exception:  # noqa: BLE001 - keep trying on the next stop
                logger.exception("backend.stop() failed (reason %s)", reason)
            self.counters.last_stop_reason = int(reason)

    def running(self) -> bool:
        return self.backend.motors_running()

    def touch(self) -> None:
        """A valid motion command arrived: restart the watchdog's count."""
        self._last_cmd = time.monotonic()

    def clamp(self, value: float) -> float:
        clamped = min(max(value, -self.max_dps), self.max_dps)
        if clamped != value:
            self.counters.clamped += 1
        return clamped

    def drive(self, left_dps: float, right_dps: float, duration_ms: float) -> P.SensorReading:
        """Run the wheels at clamped speeds for ``duration_ms``; stop on a bump if configured."""
        left = self.clamp(P.finite("left_dps", left_dps))
        right = self.clamp(P.finite("right_dps", right_dps))
        with self.lock:  # the command restarts the count before the wheels turn: a watchdog
            self.touch()  # check between the two cannot stop the step it was sent for
            self.backend.set_wheel_dps(left, right)
        self.backend.advance(duration_ms)
        reading = self.backend.read()
        if reading.bumped and self.stop_on_bump:
            self.stop(P.StopReason.BUMP)
        return reading

    def watchdog_loop(self, stop_event: threading.Event) -> None:
        """Stop the motors whenever no command came for ``watchdog_ms``; until ``stop_event``."""
        limit_s = self.watchdog_ms / 1000.0
        period_s = min(max(limit_s / 30.0, 0.002), 0.01)
        while not stop_event.wait(period_s):
            with self.lock:
                idle_s = time.monotonic() - self._last_cmd
                if idle_s > limit_s and self.backend.motors_running():
                    self.stop(P.StopReason.WATCHDOG)
                    self.counters.watchdog_stops += 1
                    latency_ms = (time.monotonic() - self._last_cmd) * 1000.0
                    self.counters.watchdog_latencies_ms.append(latency_ms)
                    logger.warning("watchdog: no command for %.0f ms, motors stopped", latency_ms)
