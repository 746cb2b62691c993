"""The edge service: a ZeroMQ REP server next to the motors, with a deadman watchdog.

    python -m robot_edge.server backend=sim          # loopback, plain text, simulated robot
    python -m robot_edge.server backend=gopigo3 bind=tcp://0.0.0.0:5555 keys_dir=~/.fsrl/edge-keys

Safety rules, all enforced here and not on the host:

* every malformed, unknown, oversize, out-of-order or stale message gets an error
  reply and stops the motors; nothing a client sends can crash the loop;
* the watchdog thread stops the motors when no valid motion command arrived for
  ``watchdog_ms``; a peer disconnect stops them at once;
* wheel speeds are clamped to ``max_dps`` before they reach the backend;
* SIGTERM/SIGINT stop the motors before the process exits;
* CURVE with an allow-list of paired client keys; without keys the server refuses
  any non-loopback bind, and the real backend also needs ``insecure=true`` (fail closed).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlparse

import numpy as np
import zmq
import zmq.auth.thread
from zmq.utils.monitor import recv_monitor_message

from robot_edge import keys as keyfiles
from robot_edge import protocol as P
from robot_edge.backend import Backend, RobotGeometry, make_backend
from robot_edge.policy import NumpyPolicy, PolicyError, load_policy
from robot_edge.task import make_task
from robot_edge.weights import WeightFormatError, decode_safetensors

logger = logging.getLogger(__name__)

_MOTION = (P.MsgType.STEP, P.MsgType.ACT, P.MsgType.RESET)
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


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
    # Commands older than this (after the clock offset measured at HELLO) are refused.
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
    # Simulator: arena layout seed and number of box obstacles.
    arena_seed: int = 0
    n_obstacles: int = 4
    # Stop the motors when a bump is detected.
    stop_on_bump: bool = True
    # Clients (sessions) remembered at once; the oldest is forgotten first.
    max_sessions: int = 8
    # Log level of the service.
    log_level: str = "INFO"


_OFFSET_WINDOW = 64


@dataclass
class _Session:
    """One client's sequence counter and clock offset.

    ``offsets_ns`` holds ``server_now - client_timestamp`` of the session's last accepted
    messages; its minimum is the clock offset plus the fastest delivery seen, so a
    message's age is how much later than that it arrived. The window lets the estimate
    follow slow clock drift; a slow HELLO only makes the first estimate too high, and
    the next faster message corrects it. Lowering the estimate can only refuse more.
    """

    last_seq: int
    offsets_ns: collections.deque = field(
        default_factory=lambda: collections.deque(maxlen=_OFFSET_WINDOW)
    )


@dataclass
class _Episode:
    version: int
    ret: float = 0.0
    length: int = 0
    distance_m: float = 0.0


@dataclass
class _Counters:
    commands_executed: int = 0
    errors: int = 0
    watchdog_stops: int = 0
    internal_errors: int = 0
    clamped: int = 0
    last_stop_reason: int = 0
    watchdog_latencies_ms: collections.deque = field(
        default_factory=lambda: collections.deque(maxlen=1024)
    )


def _bool(text: str) -> bool:
    low = str(text).strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


class EdgeServer:
    """The robot's ZeroMQ service: one REP socket, one watchdog thread, one backend.

    Promises: :meth:`handle` never raises (unexpected errors are counted in
    ``internal_errors``, answered with INTERNAL and stop the motors); the motors
    are stopped on every error reply, on watchdog expiry, on peer disconnect and on
    :meth:`close`; a refused policy push leaves the running version in use.
    """

    def __init__(
        self,
        config: EdgeConfig,
        backend: Backend | None = None,
        context: zmq.Context | None = None,
    ) -> None:
        self.config = config
        self._check_security()
        if config.watchdog_ms <= 0 or config.max_command_age_ms <= 0:
            raise EdgeConfigError(
                f"watchdog_ms={config.watchdog_ms} and max_command_age_ms="
                f"{config.max_command_age_ms} must be positive"
            )
        self.backend = backend or make_backend(
            config.backend,
            {"arena_seed": config.arena_seed, "n_obstacles": config.n_obstacles}
            if config.backend == "sim"
            else {},
        )
        self.geometry: RobotGeometry = self.backend.geometry
        self.max_dps = float(min(config.max_dps, self.geometry.max_dps))
        self.task = make_task(
            config.task,
            max_dps=self.max_dps,
            distance_max_mm=self.geometry.distance_max_mm,
            wheel_diameter_mm=self.geometry.wheel_diameter_mm,
        )
        self.counters = _Counters()
        self.policy: NumpyPolicy | None = None
        self.policy_version = 0
        self._lock = threading.RLock()
        self._sessions: collections.OrderedDict = collections.OrderedDict()
        self._episodes: collections.deque = collections.deque(maxlen=4096)
        self._episode: _Episode | None = None
        self._act_prev: P.SensorReading | None = None
        self._last_cmd = time.monotonic()
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._own_context = context is None
        self.context = context or zmq.Context()
        self._auth: zmq.auth.thread.ThreadAuthenticator | None = None
        self.socket = self._bind()
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._monitor = self.socket.get_monitor_socket(
            zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
        )

    # ---- setup ----------------------------------------------------------------------------
    def _check_security(self) -> None:
        """Decide CURVE or plain text before anything starts (fail closed)."""
        cfg = self.config
        host = urlparse(cfg.bind).hostname or ""
        self._curve_keys: tuple[bytes, bytes] | None = None
        if cfg.keys_dir:
            self._curve_keys = keyfiles.load_keypair(cfg.keys_dir)
            allowed = keyfiles.trusted(cfg.keys_dir)
            if not allowed:
                raise EdgeConfigError(
                    f"keys_dir={cfg.keys_dir}: no paired client keys in "
                    f"{keyfiles.peers_dir(cfg.keys_dir)}; refusing to start (pair first: "
                    "python -m robot_edge.pair)"
                )
            logger.info("CURVE on; %d paired client key(s): %s", len(allowed), sorted(allowed))
            return
        if host not in _LOOPBACK:
            raise EdgeConfigError(
                f"bind={cfg.bind} is not loopback: CURVE is required there (keys_dir=<key home>, "
                "pair with python -m robot_edge.pair); plain text is accepted on loopback only"
            )
        if not (cfg.insecure or cfg.backend == "sim"):
            raise EdgeConfigError(
                f"backend={cfg.backend} without keys_dir: CURVE is required to drive real motors "
                "(pair with python -m robot_edge.pair), or pass insecure=true on loopback"
            )
        logger.warning("CURVE off (plain text on loopback %s, backend=%s)", cfg.bind, cfg.backend)

    def _bind(self) -> zmq.Socket:
        cfg = self.config
        sock = self.context.socket(zmq.REP)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, P.MAX_MESSAGE_SIZE + 64)
        sock.setsockopt(zmq.RCVHWM, 16)
        sock.setsockopt(zmq.SNDHWM, 16)
        if self._curve_keys is not None and cfg.keys_dir:
            public, secret = self._curve_keys
            self._auth = zmq.auth.thread.ThreadAuthenticator(self.context)
            self._auth.start()
            self._auth.configure_curve(
                domain="fsrl", location=str(keyfiles.peers_dir(cfg.keys_dir))
            )
            sock.curve_secretkey = secret
            sock.curve_publickey = public
            sock.curve_server = True
            sock.zap_domain = b"fsrl"
        bind = cfg.bind
        if bind.endswith(":0"):
            bind = bind[:-2] + ":*"
        try:
            sock.bind(bind)
        except zmq.ZMQError as exc:
            sock.close()
            raise EdgeConfigError(f"cannot bind {cfg.bind}: {exc}") from exc
        return sock

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> EdgeServer:
        """Run the serve loop and the watchdog in background threads."""
        self._spawn_watchdog()
        t = threading.Thread(target=self.serve_forever, name="edge-serve", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _spawn_watchdog(self) -> None:
        t = threading.Thread(target=self._watchdog_loop, name="edge-watchdog", daemon=True)
        t.start()
        self._threads.append(t)

    def request_stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Stop the motors, the threads and the sockets (idempotent)."""
        self._stop.set()
        self.stop_motors(P.StopReason.SIGNAL)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=2.0)
        self._threads = []
        for s in (self._monitor, self.socket):
            if not s.closed:
                if s is self.socket:
                    with contextlib.suppress(zmq.ZMQError):
                        s.disable_monitor()
                s.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._own_context:
            self.context.term()
        self.backend.close()

    def __enter__(self) -> EdgeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- motors -----------------------------------------------------------------------------
    def stop_motors(self, reason: int) -> None:
        with self._lock:
            try:
                self.backend.stop()
            except Exception:  # noqa: BLE001 - keep trying on the next stop
                logger.exception("backend.stop() failed (reason %s)", reason)
            self.counters.last_stop_reason = int(reason)

    def motors_running(self) -> bool:
        return self.backend.motors_running()

    def _clamp(self, value: float) -> float:
        clamped = min(max(value, -self.max_dps), self.max_dps)
        if clamped != value:
            self.counters.clamped += 1
        return clamped

    def _watchdog_loop(self) -> None:
        limit_s = self.config.watchdog_ms / 1000.0
        period_s = min(max(limit_s / 30.0, 0.002), 0.01)
        while not self._stop.wait(period_s):
            with self._lock:
                idle_s = time.monotonic() - self._last_cmd
                if idle_s > limit_s and self.backend.motors_running():
                    self.stop_motors(P.StopReason.WATCHDOG)
                    self.counters.watchdog_stops += 1
                    latency_ms = (time.monotonic() - self._last_cmd) * 1000.0
                    self.counters.watchdog_latencies_ms.append(latency_ms)
                    logger.warning("watchdog: no command for %.0f ms, motors stopped", latency_ms)

    # ---- serving ---------------------------------------------------------------------------
    def serve_forever(self) -> None:
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)
        curve = self._auth is not None
        while not self._stop.is_set():
            try:
                events = dict(poller.poll(50))
            except zmq.ZMQError:
                if self._stop.is_set():
                    break
                raise
            if self._monitor in events:
                self._on_monitor_event()
            if self.socket in events:
                frames = self.socket.recv_multipart(copy=False)
                user = ""
                if curve:
                    try:
                        user = str(frames[0].get("User-Id") or "")
                    except zmq.ZMQError:
                        user = ""
                reply = self.handle([f.bytes for f in frames], user)
                try:
                    self.socket.send(reply)
                except zmq.ZMQError:
                    logger.exception("could not send a reply")

    def _on_monitor_event(self) -> None:
        try:
            event = recv_monitor_message(self._monitor, zmq.NOBLOCK)
        except zmq.ZMQError:
            return
        if event["event"] == zmq.EVENT_DISCONNECTED:
            if self.motors_running():
                logger.warning("peer %s disconnected: motors stopped", event.get("endpoint"))
            self.stop_motors(P.StopReason.DISCONNECT)
        elif event["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            logger.warning("refused an unpaired client (CURVE authentication failed)")

    # ---- message handling ---------------------------------------------------------------
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
            with self._lock:
                self._check_session(header, msg_type, user)
                reply_body = self._dispatch(msg_type, body)
            return P.encode(msg_type | P.REPLY_BIT, reply_body, session=session, seq=seq)
        except P.ProtocolError as exc:
            return self._error(msg_type, session, seq, exc.status, str(exc))
        except Exception as exc:  # noqa: BLE001 - the loop must survive anything
            self.counters.internal_errors += 1
            logger.exception("internal error handling a message")
            return self._error(msg_type, session, seq, P.Status.INTERNAL, f"internal error: {exc}")

    def _error(self, msg_type: int, session: int, seq: int, status: int, text: str) -> bytes:
        self.counters.errors += 1
        self.stop_motors(P.StopReason.BAD_MESSAGE)
        logger.debug("error reply %s: %s", P.Status(status).name, text)
        return P.encode(
            (msg_type | P.REPLY_BIT) & 0xFF,
            text.encode()[:1024],
            session=session & 0xFFFFFFFF,
            seq=seq,
            status=status,
        )

    def _check_session(self, header: P.Header, msg_type: P.MsgType, user: str) -> None:
        key = (user, header.session)
        now = time.time_ns()
        if msg_type == P.MsgType.HELLO:
            if header.session == 0:
                raise P.ProtocolError(P.Status.MALFORMED, "HELLO needs a nonzero session id")
            self._sessions.pop(key, None)
            session = _Session(header.seq)
            session.offsets_ns.append(now - header.timestamp_ns)
            self._sessions[key] = session
            while len(self._sessions) > self.config.max_sessions:
                self._sessions.popitem(last=False)
            return
        sess = self._sessions.get(key)
        if sess is None:
            raise P.ProtocolError(
                P.Status.NO_SESSION, f"session {header.session} unknown: send HELLO first"
            )
        if header.seq <= sess.last_seq:
            raise P.ProtocolError(
                P.Status.OUT_OF_ORDER,
                f"seq {header.seq} after {sess.last_seq} in session {header.session}",
            )
        sess.last_seq = header.seq
        raw_ns = now - header.timestamp_ns
        age_ms = (raw_ns - min(raw_ns, min(sess.offsets_ns))) / 1e6
        if age_ms > self.config.max_command_age_ms:
            raise P.ProtocolError(
                P.Status.STALE,
                f"{msg_type.name} seq {header.seq} is {age_ms:.0f} ms old "
                f"(limit {self.config.max_command_age_ms} ms)",
            )
        sess.offsets_ns.append(raw_ns)

    def _dispatch(self, msg_type: P.MsgType, body: memoryview) -> bytes:
        handler = getattr(self, f"_on_{msg_type.name.lower()}")
        result: bytes = handler(body)
        if msg_type in _MOTION:
            self.counters.commands_executed += 1
            self._last_cmd = time.monotonic()
        return result

    def _expect_empty(self, body: memoryview, what: str) -> None:
        if len(body):
            raise P.ProtocolError(
                P.Status.MALFORMED, f"{what} takes no body, got {len(body)} bytes"
            )

    def _on_hello(self, body: memoryview) -> bytes:
        self._expect_empty(body, "HELLO")
        self.stop_motors(P.StopReason.SESSION)
        return P.RobotInfo(
            backend=self.backend.name,
            wheel_diameter_mm=self.geometry.wheel_diameter_mm,
            wheel_base_mm=self.geometry.wheel_base_mm,
            max_dps=self.max_dps,
            distance_max_mm=self.geometry.distance_max_mm,
            default_step_ms=self.config.default_step_ms,
            max_step_ms=self.config.max_step_ms,
            watchdog_ms=self.config.watchdog_ms,
            max_command_age_ms=self.config.max_command_age_ms,
            policy_version=self.policy_version,
        ).pack()

    def _on_reset(self, body: memoryview) -> bytes:
        (seed,) = P._unpack_exact(P.RESET_REQ, body, "RESET")
        self._end_episode(P.EpisodeEnd.HOST_RESET)
        self._act_prev = None
        self.backend.reset(None if seed < 0 else int(seed))
        return self.backend.read().pack()

    def _duration(self, duration_ms: float) -> float:
        d = P._finite("duration_ms", duration_ms)
        if d < 0:
            raise P.ProtocolError(P.Status.MALFORMED, f"duration_ms={d} is negative")
        return min(d or self.config.default_step_ms, self.config.max_step_ms)

    def _drive(self, left_dps: float, right_dps: float, duration_ms: float) -> P.SensorReading:
        left = self._clamp(P._finite("left_dps", left_dps))
        right = self._clamp(P._finite("right_dps", right_dps))
        self.backend.set_wheel_dps(left, right)
        self.backend.advance(duration_ms)
        reading = self.backend.read()
        if reading.bumped and self.config.stop_on_bump:
            self.stop_motors(P.StopReason.BUMP)
        return reading

    def _on_step(self, body: memoryview) -> bytes:
        left, right, duration = P._unpack_exact(P.STEP_REQ, body, "STEP")
        duration = self._duration(duration)
        return self._drive(left, right, duration).pack()

    def _on_sense(self, body: memoryview) -> bytes:
        self._expect_empty(body, "SENSE")
        return self.backend.read().pack()

    def _on_stop(self, body: memoryview) -> bytes:
        self._expect_empty(body, "STOP")
        self.stop_motors(P.StopReason.COMMAND)
        return b""

    def _on_status(self, body: memoryview) -> bytes:
        self._expect_empty(body, "STATUS")
        lat = self.counters.watchdog_latencies_ms
        return P.EdgeStatus(
            motors_running=self.backend.motors_running(),
            last_stop_reason=self.counters.last_stop_reason,
            commands_executed=self.counters.commands_executed,
            errors=self.counters.errors,
            watchdog_stops=self.counters.watchdog_stops,
            policy_version=self.policy_version,
            uptime_ms=int((time.monotonic() - self._t0) * 1000),
            battery_v=self.backend.battery_v(),
            sessions=len(self._sessions),
            last_watchdog_latency_ms=float(lat[-1]) if lat else 0.0,
            internal_errors=self.counters.internal_errors,
        ).pack()

    def _on_set_policy(self, body: memoryview) -> bytes:
        if len(body) < P.SET_POLICY_HEAD.size:
            raise P.ProtocolError(P.Status.MALFORMED, f"SET_POLICY body of {len(body)} bytes")
        version, digest = P.SET_POLICY_HEAD.unpack_from(body, 0)
        blob = bytes(body[P.SET_POLICY_HEAD.size :])
        keep = f"(keeping version {self.policy_version})"
        if hashlib.sha256(blob).digest() != digest:
            raise P.ProtocolError(P.Status.REFUSED, f"version {version}: sha256 mismatch {keep}")
        if version < self.policy_version:
            raise P.ProtocolError(
                P.Status.REFUSED, f"version {version} is older than {self.policy_version} {keep}"
            )
        try:
            tensors, metadata = decode_safetensors(blob)
            policy = load_policy(tensors, metadata, self.task.obs_dim, self.task.n_actions)
        except (WeightFormatError, PolicyError) as exc:
            raise P.ProtocolError(P.Status.REFUSED, f"version {version}: {exc} {keep}") from None
        if version != self.policy_version:
            self._end_episode(P.EpisodeEnd.POLICY_CHANGE)
            self._act_prev = None
        self.policy, self.policy_version = policy, int(version)
        logger.info("policy version %d installed (%s)", version, metadata.get("arch"))
        return P.SET_POLICY_REPLY.pack(self.policy_version, 1)

    def _end_episode(self, how: int) -> None:
        ep = self._episode
        if ep is not None and ep.length > 0:
            self._episodes.append(
                {
                    "policy_version": ep.version,
                    "episode_return": ep.ret,
                    "episode_length": ep.length,
                    "distance_m": ep.distance_m,
                    "ended_by": int(how),
                    "robot_time_ns": time.time_ns(),
                }
            )
        self._episode = None

    def _on_act(self, body: memoryview) -> bytes:
        duration, max_steps, new_episode = P._unpack_exact(P.ACT_REQ, body, "ACT")
        duration = self._duration(duration)
        if self.policy is None:
            raise P.ProtocolError(P.Status.REFUSED, "no policy installed: push one with SET_POLICY")
        if new_episode or self._act_prev is None or self._episode is None:
            self._end_episode(P.EpisodeEnd.HOST_RESET)
            self.backend.reset(None)
            self._act_prev = self.backend.read()
            self._episode = _Episode(self.policy_version)
        obs = self.task.observation(self._act_prev)
        q = self.policy.q_values(obs)
        action = int(np.argmax(q)) if np.all(np.isfinite(q)) else 3
        left, right = self.task.wheels(action)
        reading = self._drive(left, right, duration)
        reward, terminated, progress_m = self.task.reward(self._act_prev, reading)
        ep = self._episode
        ep.ret += reward
        ep.length += 1
        ep.distance_m += progress_m
        truncated = bool(max_steps) and ep.length >= max_steps
        done = terminated or truncated
        version = ep.version
        if done:
            self.stop_motors(P.StopReason.COMMAND)
            self._end_episode(P.EpisodeEnd.BUMP if terminated else P.EpisodeEnd.TIME_LIMIT)
            self._act_prev = None
        else:
            self._act_prev = reading
        return reading.pack() + P.ACT_REPLY_TAIL.pack(action, int(done), version, reward)

    def _on_metrics(self, body: memoryview) -> bytes:
        self._expect_empty(body, "METRICS")
        records = list(self._episodes)
        self._episodes.clear()
        return P.pack_episodes(records)


# ---- command line -----------------------------------------------------------------------
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
    normalized = []
    for tok in raw:
        if not tok.startswith("-") and "=" in tok:
            normalized.append("--" + tok)
        else:
            normalized.append(tok)
    ns = parser.parse_args(normalized)
    return EdgeConfig(**vars(ns))


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, cfg.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        server = EdgeServer(cfg)
    except (EdgeConfigError, keyfiles.KeyFileError) as exc:
        logger.error("%s", exc)
        return 2

    received: list[int] = []

    def _on_signal(signum: int, _frame: object) -> None:
        server.stop_motors(P.StopReason.SIGNAL)
        received.append(signum)
        server.request_stop()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server._spawn_watchdog()
    print(f"READY {server.endpoint}", flush=True)
    logger.info("robot_edge serving %s backend=%s", server.endpoint, cfg.backend)
    try:
        server.serve_forever()
    finally:
        server.close()
        how = signal.Signals(received[0]).name if received else "shutdown"
        running = server.backend.motors_running()
        logger.warning(
            "%s: motors %s; robot_edge exiting", how, "RUNNING" if running else "stopped"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
