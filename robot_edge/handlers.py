"""One request frame in, one reply frame out: the edge's message rules.

Every malformed, unknown, oversize, out-of-order, stale or refused message gets an
error reply that names the problem and stops the motors; nothing a client sends makes
:meth:`MessageHandler.handle` raise.
"""

from __future__ import annotations

import logging
import time

from robot_edge import protocol as P
from robot_edge.config import EdgeConfig
from robot_edge.motors import MotorGuard
from robot_edge.onboard import OnBoardPolicy
from robot_edge.sessions import SessionTable
from robot_edge.task import ForwardTask

logger = logging.getLogger(__name__)

_MOTION = (P.MsgType.STEP, P.MsgType.ACT, P.MsgType.RESET)


class MessageHandler:
    """Decodes a request, checks its session, runs it, and encodes the reply.

    Promises: :meth:`handle` never raises (unexpected errors are counted in
    ``internal_errors`` and answered with INTERNAL); every error reply stops the
    motors; a valid STEP/ACT/RESET restarts the watchdog's count.
    """

    def __init__(self, config: EdgeConfig, motors: MotorGuard, task: ForwardTask) -> None:
        self.config = config
        self.motors = motors
        self.task = task
        self.sessions = SessionTable(config.max_command_age_ms, config.max_sessions)
        self.onboard = OnBoardPolicy(motors, task)
        self._t0 = time.monotonic()

    def handle(self, frames: list[bytes], user: str = "") -> bytes:
        """One request → one reply. Never raises."""
        msg_type, session, seq = P.MsgType.ERROR, 0, 0
        try:
            if len(frames) != 1:
                raise P.ProtocolError(
                    P.Status.MALFORMED, f"expected 1 frame per message, got {len(frames)}"
                )
            frame = frames[0]
            if len(frame) > P.HEADER_SIZE + P.MAX_POLICY_BODY:
                raise P.ProtocolError(P.Status.OVERSIZE, f"message of {len(frame)} bytes")
            header, body = P.decode_header(frame)
            session, seq = header.session, header.seq
            try:
                msg_type = P.MsgType(header.msg_type)
            except ValueError:
                raise P.ProtocolError(
                    P.Status.UNKNOWN_TYPE, f"unknown message type {header.msg_type}"
                ) from None
            if msg_type == P.MsgType.ERROR:
                raise P.ProtocolError(P.Status.UNKNOWN_TYPE, "ERROR is a reply-only type")
            if header.body_len > P.body_limit(msg_type):
                raise P.ProtocolError(
                    P.Status.OVERSIZE,
                    f"{msg_type.name} body of {header.body_len} bytes exceeds "
                    f"{P.body_limit(msg_type)}",
                )
            if header.status != P.Status.OK:
                raise P.ProtocolError(P.Status.MALFORMED, f"request with status {header.status}")
            with self.motors.lock:
                self.sessions.check(header, msg_type, user)
                reply_body = self._dispatch(msg_type, body)
            return P.encode(msg_type | P.REPLY_BIT, reply_body, session=session, seq=seq)
        except P.ProtocolError as exc:
            return self._error(msg_type, session, seq, exc.status, str(exc))
        except Exception as exc:  # noqa: BLE001 - the loop must survive anything
            self.motors.counters.internal_errors += 1
            logger.exception("internal error handling a message")
            return self._error(msg_type, session, seq, P.Status.INTERNAL, f"internal error: {exc}")

    def _error(self, msg_type: int, session: int, seq: int, status: int, text: str) -> bytes:
        self.motors.counters.errors += 1
        self.motors.stop(P.StopReason.BAD_MESSAGE)
        logger.debug("error reply %s: %s", P.Status(status).name, text)
        return P.encode(
            (msg_type | P.REPLY_BIT) & 0xFF,
            text.encode()[:1024],
            session=session & 0xFFFFFFFF,
            seq=seq,
            status=status,
        )

    def _dispatch(self, msg_type: P.MsgType, body: memoryview) -> bytes:
        handler = getattr(self, f"_on_{msg_type.name.lower()}")
        result: bytes = handler(body)
        if msg_type in _MOTION:
            self.motors.counters.commands_executed += 1
            self.motors.touch()
        return result

    @staticmethod
    def _expect_empty(body: memoryview, what: str) -> None:
        if len(body):
            raise P.ProtocolError(
                P.Status.MALFORMED, f"{what} takes no body, got {len(body)} bytes"
            )

    def _duration(self, duration_ms: float) -> float:
        d = P.finite("duration_ms", duration_ms)
        if d < 0:
            raise P.ProtocolError(P.Status.MALFORMED, f"duration_ms={d} is negative")
        return min(d or self.config.default_step_ms, self.config.max_step_ms)

    # ---- one method per message type ------------------------------------------------------
    def _on_hello(self, body: memoryview) -> bytes:
        self._expect_empty(body, "HELLO")
        self.motors.stop(P.StopReason.SESSION)
        geometry = self.motors.backend.geometry
        return P.RobotInfo(
            backend=self.motors.backend.name,
            wheel_diameter_mm=geometry.wheel_diameter_mm,
            wheel_base_mm=geometry.wheel_base_mm,
            max_dps=self.motors.max_dps,
            distance_max_mm=geometry.distance_max_mm,
            default_step_ms=self.config.default_step_ms,
            max_step_ms=self.config.max_step_ms,
            watchdog_ms=self.config.watchdog_ms,
            max_command_age_ms=self.config.max_command_age_ms,
            policy_version=self.onboard.version,
        ).pack()

    def _on_reset(self, body: memoryview) -> bytes:
        (seed,) = P.unpack_exact(P.RESET_REQ, body, "RESET")
        self.onboard.host_reset()
        self.motors.backend.reset(None if seed < 0 else int(seed))
        return self.motors.backend.read().pack()

    def _on_step(self, body: memoryview) -> bytes:
        left, right, duration = P.unpack_exact(P.STEP_REQ, body, "STEP")
        return self.motors.drive(left, right, self._duration(duration)).pack()

    def _on_sense(self, body: memoryview) -> bytes:
        self._expect_empty(body, "SENSE")
        return self.motors.backend.read().pack()

    def _on_stop(self, body: memoryview) -> bytes:
        self._expect_empty(body, "STOP")
        self.motors.stop(P.StopReason.COMMAND)
        return b""

    def _on_status(self, body: memoryview) -> bytes:
        self._expect_empty(body, "STATUS")
        counters = self.motors.counters
        lat = counters.watchdog_latencies_ms
        return P.EdgeStatus(
            motors_running=self.motors.running(),
            last_stop_reason=counters.last_stop_reason,
            commands_executed=counters.commands_executed,
            errors=counters.errors,
            watchdog_stops=counters.watchdog_stops,
            policy_version=self.onboard.version,
            uptime_ms=int((time.monotonic() - self._t0) * 1000),
            battery_v=self.motors.backend.battery_v(),
            sessions=len(self.sessions),
            last_watchdog_latency_ms=float(lat[-1]) if lat else 0.0,
            internal_errors=counters.internal_errors,
        ).pack()

    def _on_set_policy(self, body: memoryview) -> bytes:
        if len(body) < P.SET_POLICY_HEAD.size:
            raise P.ProtocolError(P.Status.MALFORMED, f"SET_POLICY body of {len(body)} bytes")
        version, digest = P.SET_POLICY_HEAD.unpack_from(body, 0)
        running = self.onboard.install(version, digest, bytes(body[P.SET_POLICY_HEAD.size :]))
        return P.SET_POLICY_REPLY.pack(running, 1)

    def _on_act(self, body: memoryview) -> bytes:
        duration, max_steps, new_episode = P.unpack_exact(P.ACT_REQ, body, "ACT")
        return self.onboard.act(self._duration(duration), max_steps, bool(new_episode))

    def _on_metrics(self, body: memoryview) -> bytes:
        self._expect_empty(body, "METRICS")
        return P.pack_episodes(self.onboard.drain_episodes())
