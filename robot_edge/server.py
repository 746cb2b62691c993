"""The edge service: a ZeroMQ REP server next to the motors, with a deadman watchdog.

    python -m robot_edge.server backend=sim          # loopback, plain text, simulated robot
    python -m robot_edge.server backend=gopigo3 bind=tcp://0.0.0.0:5555 keys_dir=~/.fsrl/edge-keys

Safety rules, all enforced on the edge and not on the host:

* every malformed, unknown, oversize, out-of-order or stale message gets an error
  reply and stops the motors; nothing a client sends can crash the loop
  (:mod:`robot_edge.handlers`, :mod:`robot_edge.sessions`);
* the watchdog thread stops the motors when no valid motion command arrived for
  ``watchdog_ms``; a peer disconnect stops them at once (:mod:`robot_edge.motors`);
* wheel speeds are clamped to ``max_dps`` before they reach the backend;
* SIGTERM/SIGINT stop the motors before the process exits;
* CURVE with an allow-list of paired client keys; without keys the server refuses
  any non-loopback bind, and the real backend also needs ``insecure=true`` (fail closed,
  :mod:`robot_edge.transport`).

This module wires those parts together and runs the loop; settings are in
:mod:`robot_edge.config`.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading

import zmq
from zmq.utils.monitor import recv_monitor_message

from robot_edge import keys as keyfiles
from robot_edge import protocol as P
from robot_edge.backend import Backend, RobotGeometry
from robot_edge.backends import make_backend
from robot_edge.config import EdgeConfig, EdgeConfigError, parse_args
from robot_edge.handlers import MessageHandler
from robot_edge.motors import EdgeCounters, MotorGuard
from robot_edge.policy import GaussianPolicy, NumpyPolicy
from robot_edge.task import make_task
from robot_edge.transport import bind_socket, curve_keys

logger = logging.getLogger(__name__)

__all__ = ["EdgeConfig", "EdgeConfigError", "EdgeServer", "main", "parse_args"]


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
        config.check()
        keys = curve_keys(config)
        self.backend = backend or make_backend(
            config.backend,
            {"arena_seed": config.arena_seed, "n_obstacles": config.n_obstacles}
            if config.backend == "sim"
            else {},
        )
        self.geometry: RobotGeometry = self.backend.geometry
        max_dps = float(min(config.max_dps, self.geometry.max_dps))
        self.motors = MotorGuard(self.backend, max_dps, config.watchdog_ms, config.stop_on_bump)
        self.task = make_task(
            config.task,
            max_dps=max_dps,
            distance_max_mm=self.geometry.distance_max_mm,
            wheel_diameter_mm=self.geometry.wheel_diameter_mm,
            history=config.history,
        )
        self.handler = MessageHandler(config, self.motors, self.task)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._own_context = context is None
        self.context = context or zmq.Context()
        self.socket, self._auth = bind_socket(self.context, config, keys)
        self.endpoint = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self._monitor = self.socket.get_monitor_socket(
            zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
        )

    # ---- state the tests and the bench read ------------------------------------------------
    @property
    def max_dps(self) -> float:
        return self.motors.max_dps

    @property
    def counters(self) -> EdgeCounters:
        return self.motors.counters

    @property
    def policy(self) -> NumpyPolicy | GaussianPolicy | None:
        return self.handler.onboard.policy

    @property
    def policy_version(self) -> int:
        return self.handler.onboard.version

    @property
    def _lock(self) -> threading.RLock:
        return self.motors.lock

    def stop_motors(self, reason: int) -> None:
        self.motors.stop(reason)

    def motors_running(self) -> bool:
        return self.motors.running()

    def handle(self, frames: list[bytes], user: str = "") -> bytes:
        """One request → one reply. Never raises."""
        return self.handler.handle(frames, user)

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> EdgeServer:
        """Run the serve loop and the watchdog in background threads."""
        self.start_watchdog()
        t = threading.Thread(target=self.serve_forever, name="edge-serve", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def start_watchdog(self) -> None:
        """Run the watchdog thread (``start`` does; ``main`` serves in its own thread)."""
        t = threading.Thread(
            target=self.motors.watchdog_loop, args=(self._stop,), name="edge-watchdog", daemon=True
        )
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


# ---- command line -----------------------------------------------------------------------
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
    server.start_watchdog()
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
